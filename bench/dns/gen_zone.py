#!/usr/bin/env python3
"""Writes the DNS benchmark's zone and query list (deterministic: the same files on every run).

    bench/dns/gen_zone.py OUTDIR [NAMES]

OUTDIR/bench.example.zone: zone `bench.example.` with NAMES (default 4000) owner names of mixed types:
A, AAAA, MX, TXT, CNAME (to names in the zone), SRV, CAA, a wildcard, empty non-terminals, and delegations
with glue.
OUTDIR/queries.txt: dnsperf's input ("name type" per line), 20,000 queries in a fixed mix:
70 % existing name and type (about 8 % of them CNAMEs followed in-zone), 10 % existing name with a type it
lacks (NODATA), 10 % absent names (NXDOMAIN), 5 % names under a delegation (referral with glue), 5 % names
the wildcard answers. Names are written in mixed case now and then, as resolvers with 0x20 do.
"""
import random
import sys

ORIGIN = "bench.example."


def main():
    out = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 4000
    rnd = random.Random(5300)
    lines = [
        "$ORIGIN " + ORIGIN,
        "$TTL 3600",
        "@ IN SOA ns1 hostmaster 2026112901 7200 3600 1209600 300",
        "@ IN NS ns1",
        "@ IN NS ns2",
        "ns1 IN A 192.0.2.1",
        "ns2 IN A 192.0.2.2",
        "@ IN A 192.0.2.10",
        "@ IN MX 10 mail",
        "mail IN A 192.0.2.25",
        '@ IN TXT "v=spf1 mx -all"',
        "*.wild IN A 192.0.2.99",
        '*.wild IN TXT "wildcard"',
    ]
    existing = []   # (name, type) pairs that have data
    nodata = []     # (name, type) pairs whose name exists without that type
    delegated = []  # delegation names
    kinds = ["a", "a", "a", "aaaa", "dual", "mx", "txt", "cname", "srv", "caa", "ent", "deleg"]
    hosts = []
    for i in range(count):
        kind = kinds[i % len(kinds)]
        name = "%s-%d" % (kind, i)
        if kind == "a":
            lines.append("%s IN A 10.%d.%d.%d" % (name, i >> 16 & 255, i >> 8 & 255, i & 255))
            existing.append((name, "A"))
            nodata.append((name, "AAAA"))
            hosts.append(name)
        elif kind == "aaaa":
            lines.append("%s IN AAAA 2001:db8::%x" % (name, i))
            existing.append((name, "AAAA"))
            nodata.append((name, "A"))
        elif kind == "dual":
            lines.append("%s IN A 10.%d.%d.%d" % (name, i >> 16 & 255, i >> 8 & 255, i & 255))
            lines.append("%s IN AAAA 2001:db8:1::%x" % (name, i))
            lines.append("%s IN A 10.%d.%d.%d" % (name, 128 | (i >> 16 & 127), i >> 8 & 255, i & 255))
            existing += [(name, "A"), (name, "AAAA")]
            nodata.append((name, "MX"))
        elif kind == "mx":
            lines.append("%s IN MX 10 mail" % name)
            lines.append("%s IN MX 20 %s" % (name, rnd.choice(hosts) if hosts else "mail"))
            existing.append((name, "MX"))
            nodata.append((name, "A"))
        elif kind == "txt":
            lines.append('%s IN TXT "token=%016x" "second string %d"' % (name, rnd.getrandbits(64), i))
            existing.append((name, "TXT"))
            nodata.append((name, "A"))
        elif kind == "cname":
            lines.append("%s IN CNAME %s" % (name, rnd.choice(hosts)))
            existing.append((name, "A"))
        elif kind == "srv":
            lines.append("_sip._udp.%s IN SRV 10 60 5060 %s" % (name, rnd.choice(hosts)))
            existing.append(("_sip._udp." + name, "SRV"))
            nodata.append((name, "A"))  # empty non-terminal
        elif kind == "caa":
            lines.append('%s IN CAA 0 issue "ca.example.net"' % name)
            lines.append("%s IN A 10.200.%d.%d" % (name, i >> 8 & 255, i & 255))
            existing += [(name, "CAA"), (name, "A")]
        elif kind == "ent":
            lines.append("leaf.%s IN A 10.201.%d.%d" % (name, i >> 8 & 255, i & 255))
            existing.append(("leaf." + name, "A"))
            nodata.append((name, "A"))
        elif kind == "deleg":
            lines.append("%s IN NS ns.%s" % (name, name))
            lines.append("ns.%s IN A 10.202.%d.%d" % (name, i >> 8 & 255, i & 255))
            delegated.append(name)
    with open(out + "/bench.example.zone", "w") as f:
        f.write("\n".join(lines) + "\n")

    def mixcase(name):
        if rnd.random() < 0.2:
            return "".join(c.upper() if rnd.random() < 0.5 else c for c in name)
        return name

    queries = []
    for _ in range(20000):
        r = rnd.random()
        if r < 0.70:
            name, qtype = rnd.choice(existing)
        elif r < 0.80:
            name, qtype = rnd.choice(nodata)
        elif r < 0.90:
            name, qtype = "nx-%08x" % rnd.getrandbits(32), rnd.choice(["A", "AAAA"])
        elif r < 0.95:
            name, qtype = "www." + rnd.choice(delegated), "A"
        else:
            name, qtype = "h%d.wild" % rnd.randrange(100000), rnd.choice(["A", "TXT"])
        queries.append("%s.%s %s" % (mixcase(name), ORIGIN.rstrip("."), qtype))
    with open(out + "/queries.txt", "w") as f:
        f.write("\n".join(queries) + "\n")


if __name__ == "__main__":
    main()
