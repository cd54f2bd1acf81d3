#!/usr/bin/perl
# Writes a tiny MaxMind DB (GeoIP2-Country layout) for the shield's geo tests.
#
#   perl tests/shield/data/make_geo_mmdb.pl OUT.mmdb [NETWORK=CC | NETWORK=registered:CC] ...
#
# NETWORK=CC sets country.iso_code (and registered_country.iso_code to the same code);
# NETWORK=registered:CC sets only registered_country.iso_code, as MaxMind does for anycast or satellite
# ranges without a located country. IPv4 networks also answer for their IPv4-mapped IPv6 form. Later
# arguments override earlier ones where networks overlap. Without networks it writes the set that
# tests/shield/data/geo-test.mmdb holds (regenerate it with: perl make_geo_mmdb.pl geo-test.mmdb).
#
# Needs MaxMind::DB::Writer::Tree (Debian: libmaxmind-db-writer-perl, installed by scripts/install-deps.sh).
use strict;
use warnings;
use MaxMind::DB::Writer::Tree;

my @defaults = (
    '127.0.0.0/8=ZZ',
    '127.0.0.2/32=FR',
    '127.0.0.3/32=US',
    '127.0.0.4/32=registered:JP',
    '10.0.0.0/8=GB',
    '::1/128=DE',
    '2001:db8::/32=NL',
    '2001:db8:1::/48=BE',
);

my $out = shift @ARGV or die "usage: $0 OUT.mmdb [NETWORK=CC | NETWORK=registered:CC]...\n";
my @networks = @ARGV ? @ARGV : @defaults;

my $tree = MaxMind::DB::Writer::Tree->new(
    ip_version            => 6,
    record_size           => 24,
    database_type         => 'Bulwark-Test-Country',
    languages             => ['en'],
    description           => { en => 'Bulwark shield test database' },
    alias_ipv6_to_ipv4    => 1,    # ::ffff:a.b.c.d and 2002::/16 find the IPv4 data
    remove_reserved_networks => 0,    # the tests use loopback and documentation ranges
    map_key_type_callback => sub {
        my $key = shift;
        return $key eq 'iso_code' ? 'utf8_string' : 'map';
    },
);

for my $arg (@networks) {
    my ($network, $registered, $code) = $arg =~ m{^([0-9A-Fa-f:./]+)=(registered:)?([A-Z]{2})$}
        or die "$0: bad argument '$arg' (want NETWORK=CC or NETWORK=registered:CC)\n";
    $network .= ($network =~ /:/ ? '/128' : '/32') unless $network =~ m{/};
    my %record = (registered_country => { iso_code => $code });
    $record{country} = { iso_code => $code } unless $registered;
    $tree->insert_network($network, \%record);
}

open my $fh, '>:raw', $out or die "$0: cannot write $out: $!\n";
$tree->write_tree($fh);
close $fh or die "$0: cannot write $out: $!\n";
