"""Zone transfers and NOTIFY between Bulwark and real NSD / Knot, both directions, on loopback ports.

  (a) Bulwark primary -> NSD / Knot secondary: initial transfer, then the zone file changes, Bulwark is
      reloaded (SIGHUP), NOTIFYs the secondary, which pulls the change (IXFR) and serves it.
  (b) NSD / Knot primary -> Bulwark secondary: initial AXFR, then the primary's zone changes and is
      reloaded, the primary NOTIFYs Bulwark, which pulls the change and serves it.
  (c) AXFR refused for a client outside allow_transfer; AXFR/IXFR content checked with dnspython
      (including a condensed IXFR over two versions).
  Also: a third version with removals into NSD and Knot, the chain NSD -> Bulwark -> Knot, SOA
  refresh/retry/expire as a secondary of NSD (SERVFAIL before the first transfer and after expire), and
  Knot -> Bulwark plus AXFR out over IPv6.

The peers run as daemons configured in the test's tmp_path (no chroot, no privilege drop); each
test starts and stops its own processes. Skipped when nsd/knotd or dnspython are missing.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

import helpers

dns = pytest.importorskip("dns")
import dns.exception  # noqa: E402
import dns.message  # noqa: E402
import dns.name  # noqa: E402
import dns.opcode  # noqa: E402
import dns.query  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdatatype  # noqa: E402
import dns.rrset  # noqa: E402
import dns.zone  # noqa: E402

NSD = shutil.which("nsd") or "/usr/sbin/nsd"
KNOTD = shutil.which("knotd") or "/usr/sbin/knotd"
KNOTC = shutil.which("knotc") or "/usr/sbin/knotc"
NSD_CHECKCONF = shutil.which("nsd-checkconf") or "/usr/sbin/nsd-checkconf"
NSD_CONTROL = shutil.which("nsd-control") or "/usr/sbin/nsd-control"

ZONE = "example.com"
FILLER = 1500  # hosts: the AXFR spans several messages


def zone_text(serial, extra="", hosts=FILLER, timers="3600 600 86400 300"):
    lines = [
        f"$ORIGIN {ZONE}.",
        "$TTL 300",
        f"@ IN SOA ns1.{ZONE}. hostmaster.{ZONE}. {serial} {timers}",
        f"@ IN NS ns1.{ZONE}.",
        f"@ IN MX 10 mail.{ZONE}.",
        "ns1 IN A 127.0.0.1",
        "mail IN A 192.0.2.25",
        f"www IN CNAME mail.{ZONE}.",
        'txt IN TXT "hello world" "second string"',
        f"_sip._tcp IN SRV 10 20 5060 mail.{ZONE}.",
    ]
    for i in range(hosts):
        lines.append(f"host{i} IN A 10.{i // 65536}.{(i // 256) % 256}.{i % 256}")
    lines.append(extra)
    return "\n".join(lines) + "\n"


def free_dns_port():
    """A port free for both UDP and TCP on 127.0.0.1."""
    for _ in range(50):
        port = helpers.free_port()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            try:
                u.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port")


def query(port, name=ZONE, rdtype="SOA", timeout=1.0, source=None):
    q = dns.message.make_query(name, rdtype)
    return dns.query.udp(q, "127.0.0.1", port=port, timeout=timeout, source=source)


def soa_serial(port):
    """The SOA serial served at port, or None (no answer, error rcode)."""
    try:
        r = query(port)
    except (dns.exception.Timeout, OSError, dns.exception.DNSException):
        return None
    if r.rcode() != dns.rcode.NOERROR:
        return None
    for rrset in r.answer:
        if rrset.rdtype == dns.rdatatype.SOA:
            return rrset[0].serial
    return None


def a_record(port, name):
    try:
        r = query(port, name, "A")
    except (dns.exception.Timeout, OSError, dns.exception.DNSException):
        return None
    for rrset in r.answer:
        if rrset.rdtype == dns.rdatatype.A:
            return rrset[0].address
    return None


def wait_until(predicate, timeout, what, logs=()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    detail = ""
    for path in logs:
        p = Path(path)
        if p.exists():
            detail += f"\n--- {p.name} (tail) ---\n" + p.read_text(errors="replace")[-3000:]
    raise AssertionError(f"timed out waiting for {what}{detail}")


def write_zone(path, serial, extra="", **kw):
    # A new size and mtime for sure (servers compare both before reloading).
    path.write_text(zone_text(serial, extra, **kw))
    t = time.time() + serial % 1000
    os.utime(path, (t, t))


# ---------------------------------------------------------------------------------------------- processes


class Bulwark:
    def __init__(self, directory, zones):
        self.dir = Path(directory)
        self.port = free_dns_port()
        self.zones = zones
        self.ipv6 = False
        self.admin_port = None  # set before start() to get the admin API (metrics)
        self.proc = None
        self.log = self.dir / "bulwark.log"
        self.config = self.dir / "bulwark.yaml"

    def write_config(self):
        listen = f"127.0.0.1:{self.port}" + (f", \"[::1]:{self.port}\"" if self.ipv6 else "")
        lines = ["dns:", f"  listen: [{listen}]", "  zones:"]
        for z in self.zones:
            lines.append(f"    - name: {z['name']}")
            for key in ("file", "primary"):
                if key in z:
                    lines.append(f"      {key}: {z[key]}")
            for key in ("allow_transfer", "notify"):
                if key in z:
                    lines.append(f"      {key}: [{', '.join(z[key])}]")
        if self.admin_port:
            lines += ["admin:", f"  address: 127.0.0.1:{self.admin_port}"]
        self.config.write_text("\n".join(lines) + "\n")

    def metric(self, name, **labels):
        """The value of one sample of /metrics (0 when absent)."""
        import urllib.request
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}/metrics", timeout=5).read().decode()
        want = ",".join(f'{k}="{v}"' for k, v in labels.items())
        for line in text.splitlines():
            if line.startswith(f"{name}{{{want}}} ") or (not labels and line.startswith(f"{name} ")):
                return float(line.split()[-1])
        return 0.0

    def start(self):
        self.write_config()
        out = open(self.log, "ab")
        self.proc = helpers._spawn([helpers.BULWARK, "serve", "-c", self.config], stdout=out, stderr=out)
        out.close()

        def up():
            assert self.proc.poll() is None, "bulwark exited:\n" + self.log.read_text(errors="replace")[-3000:]
            try:
                query(self.port, timeout=0.3)
                return True
            except (dns.exception.Timeout, OSError):
                return False

        wait_until(up, 10, "bulwark to answer", [self.log])
        return self

    def reload(self):
        self.proc.send_signal(signal.SIGHUP)

    def log_text(self):
        return self.log.read_text(errors="replace")

    def stop(self):
        helpers._stop_proc(self.proc)


class Nsd:
    def __init__(self, directory):
        self.dir = Path(directory) / "nsd"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_dns_port()
        self.conf = self.dir / "nsd.conf"
        self.log = self.dir / "nsd.log"
        self.zonefile = self.dir / f"{ZONE}.zone"
        self.proc = None

    def configure(self, zone_lines):
        d = self.dir
        self.conf.write_text(
            f"""server:
  ip-address: 127.0.0.1
  port: {self.port}
  do-ip6: no
  server-count: 1
  username: ""
  chroot: ""
  zonesdir: "{d}"
  database: ""
  zonelistfile: "{d}/zone.list"
  xfrdfile: "{d}/xfrd.state"
  xfrdir: "{d}"
  pidfile: "{d}/nsd.pid"
  logfile: "{self.log}"
  verbosity: 2
  xfrd-reload-timeout: 0
remote-control:
  control-enable: yes
  control-interface: "{d}/nsd.ctl"
zone:
  name: {ZONE}
  zonefile: "{self.zonefile}"
"""
            + "".join(f"  {line}\n" for line in zone_lines)
        )

    def start(self):
        check = subprocess.run([NSD_CHECKCONF, self.conf], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr + check.stdout
        self.proc = helpers._spawn([NSD, "-d", "-c", self.conf], stdout=subprocess.DEVNULL,
                                   stderr=open(self.dir / "nsd.stderr", "ab"))

        def up():
            assert self.proc.poll() is None, "nsd exited:\n" + self.logs()
            try:
                query(self.port, timeout=0.3)
                return True
            except (dns.exception.Timeout, OSError):
                return False

        wait_until(up, 10, "nsd to answer", [self.log])
        return self

    def reload(self):
        r = subprocess.run([NSD_CONTROL, "-c", self.conf, "reload", ZONE], capture_output=True, text=True)
        if r.returncode != 0:
            self.proc.send_signal(signal.SIGHUP)

    def logs(self):
        text = ""
        for p in (self.log, self.dir / "nsd.stderr"):
            if p.exists():
                text += p.read_text(errors="replace")
        return text[-4000:]

    def stop(self):
        helpers._stop_proc(self.proc)


class Knot:
    def __init__(self, directory):
        self.dir = Path(directory) / "knot"
        (self.dir / "db").mkdir(parents=True, exist_ok=True)  # Knot does not create it (journal, timers)
        self.port = free_dns_port()
        self.conf = self.dir / "knot.conf"
        self.log = self.dir / "knot.log"
        self.sock = self.dir / "knot.sock"
        self.zonefile = self.dir / f"{ZONE}.zone"
        self.proc = None

    def configure(self, remote_port, zone_lines, remote_host="127.0.0.1"):
        d = self.dir
        self.conf.write_text(
            f"""server:
    rundir: "{d}"
    listen: [127.0.0.1@{self.port}, ::1@{self.port}]
    pidfile: "{d}/knot.pid"
control:
    listen: "{self.sock}"
log:
  - target: "{self.log}"
    any: debug
database:
    storage: "{d}/db"
remote:
  - id: bulwark
    address: {remote_host}@{remote_port}
acl:
  - id: local
    address: [127.0.0.1, ::1]
    action: [transfer, notify]
zone:
  - domain: {ZONE}
    storage: "{d}"
    file: "{self.zonefile}"
    acl: local
"""
            + "".join(f"    {line}\n" for line in zone_lines)
        )

    def start(self):
        check = subprocess.run([KNOTC, "-c", self.conf, "conf-check"], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr + check.stdout
        self.proc = helpers._spawn([KNOTD, "-c", self.conf], stdout=subprocess.DEVNULL,
                                   stderr=open(self.dir / "knot.stderr", "ab"))

        def up():
            assert self.proc.poll() is None, "knotd exited:\n" + self.logs()
            try:
                query(self.port, timeout=0.3)
                return True
            except (dns.exception.Timeout, OSError):
                return False

        wait_until(up, 10, "knotd to answer", [self.log])
        return self

    def reload(self):
        r = subprocess.run([KNOTC, "-s", self.sock, "zone-reload", ZONE], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr + r.stdout

    def logs(self):
        text = ""
        for p in (self.log, self.dir / "knot.stderr"):
            if p.exists():
                text += p.read_text(errors="replace")
        return text[-4000:]

    def stop(self):
        helpers._stop_proc(self.proc)


@pytest.fixture
def procs():
    started = []
    yield started
    for p in reversed(started):
        p.stop()


def need(binary):
    if not Path(binary).exists():
        pytest.skip(f"{binary} is not installed")


# ------------------------------------------------------------------------------ (a) Bulwark as the primary


def bulwark_primary(tmp_path, procs, notify_port):
    zonefile = tmp_path / f"{ZONE}.zone"
    write_zone(zonefile, 1)
    b = Bulwark(tmp_path, [{"name": ZONE, "file": zonefile, "allow_transfer": ["127.0.0.0/8"],
                            "notify": [f"127.0.0.1:{notify_port}"]}])
    procs.append(b)
    b.start()
    return b, zonefile


def nxdomain(port, name):
    try:
        return query(port, name, "A").rcode() == dns.rcode.NXDOMAIN
    except (dns.exception.Timeout, OSError):
        return False


def third_version(b, zonefile, peer_port, logs):
    """Serial 3 removes records (host0..host9) and changes one (www): the secondary follows."""
    text = zone_text(3, "new IN A 192.0.2.100\n").replace(f"www IN CNAME mail.{ZONE}.", "www IN A 192.0.2.80")
    text = "\n".join(line for line in text.splitlines() if not re.match(r"host\d IN ", line)) + "\n"
    zonefile.write_text(text)
    b.reload()
    wait_until(lambda: soa_serial(b.port) == 3, 10, "bulwark to serve serial 3", [b.log])
    wait_until(lambda: soa_serial(peer_port) == 3, 20, "the secondary to pull serial 3", logs)
    assert nxdomain(peer_port, f"host5.{ZONE}")
    assert a_record(peer_port, f"host15.{ZONE}") == "10.0.0.15"
    assert a_record(peer_port, f"www.{ZONE}") == "192.0.2.80"
    assert a_record(peer_port, f"new.{ZONE}") == "192.0.2.100"


def change_and_reload(b, zonefile):
    write_zone(zonefile, 2, "new IN A 192.0.2.99\n")
    b.reload()
    wait_until(lambda: soa_serial(b.port) == 2, 10, "bulwark to serve serial 2", [b.log])


def test_bulwark_primary_to_nsd_secondary(tmp_path, procs):
    need(NSD)
    nsd = Nsd(tmp_path)
    b, zonefile = bulwark_primary(tmp_path, procs, nsd.port)
    nsd.configure([f"request-xfr: 127.0.0.1@{b.port} NOKEY", "allow-notify: 127.0.0.1 NOKEY"])
    procs.append(nsd)
    nsd.start()
    wait_until(lambda: soa_serial(nsd.port) == 1, 20, "NSD to transfer serial 1", [nsd.log, b.log])
    assert a_record(nsd.port, f"host{FILLER - 1}.{ZONE}") == f"10.0.{(FILLER - 1) // 256}.{(FILLER - 1) % 256}"

    change_and_reload(b, zonefile)
    # Refresh is 3600 s: only the NOTIFY makes NSD look now.
    wait_until(lambda: soa_serial(nsd.port) == 2, 20, "NSD to pull serial 2 after NOTIFY", [nsd.log, b.log])
    assert a_record(nsd.port, f"new.{ZONE}") == "192.0.2.99"
    assert re.search(r"NOTIFY for example\.com\.? acknowledged", b.log_text()), b.log_text()[-2000:]
    # NSD 4.6 does not name the transfer type; an incremental update is a few hundred bytes where the
    # full zone is ~37 KB.
    log = nsd.logs()
    m = re.search(r"received update to serial 2 .* of (\d+) bytes", log)
    assert m and int(m.group(1)) < 2000, log
    third_version(b, zonefile, nsd.port, [nsd.log, b.log])
    m = re.search(r"received update to serial 3 .* of (\d+) bytes", nsd.logs())
    assert m and int(m.group(1)) < 2000, nsd.logs()


def test_bulwark_primary_to_knot_secondary(tmp_path, procs):
    need(KNOTD)
    knot = Knot(tmp_path)
    b, zonefile = bulwark_primary(tmp_path, procs, knot.port)
    knot.configure(b.port, ["master: bulwark", "zonefile-sync: -1"])
    procs.append(knot)
    knot.start()
    wait_until(lambda: soa_serial(knot.port) == 1, 20, "Knot to transfer serial 1", [knot.log, b.log])
    assert a_record(knot.port, f"mail.{ZONE}") == "192.0.2.25"

    change_and_reload(b, zonefile)
    wait_until(lambda: soa_serial(knot.port) == 2, 20, "Knot to pull serial 2 after NOTIFY", [knot.log, b.log])
    assert a_record(knot.port, f"new.{ZONE}") == "192.0.2.99"
    # Knot logs "receiving AXFR-style IXFR" when the reply is a full zone: ours must be incremental.
    log = knot.log.read_text(errors="replace")
    assert re.search(r"IXFR, incoming, remote 127\.0\.0\.1@\d+, finished", log), log[-3000:]
    assert "AXFR-style" not in log, log[-3000:]
    third_version(b, zonefile, knot.port, [knot.log, b.log])
    log = knot.log.read_text(errors="replace")
    assert len(re.findall(r"IXFR, incoming, remote 127\.0\.0\.1@\d+, finished", log)) == 2, log[-3000:]
    assert "AXFR-style" not in log, log[-3000:]


# ---------------------------------------------------------------------------- (b) Bulwark as the secondary


def test_nsd_primary_to_bulwark_secondary(tmp_path, procs):
    need(NSD)
    nsd = Nsd(tmp_path)
    write_zone(nsd.zonefile, 1)
    bport = free_dns_port()
    nsd.configure([f"notify: 127.0.0.1@{bport} NOKEY", "provide-xfr: 127.0.0.1 NOKEY"])
    procs.append(nsd)
    nsd.start()
    assert soa_serial(nsd.port) == 1

    b = Bulwark(tmp_path, [{"name": ZONE, "primary": f"127.0.0.1:{nsd.port}"}])
    b.port = bport
    procs.append(b)
    b.start()
    wait_until(lambda: soa_serial(b.port) == 1, 20, "bulwark to transfer serial 1", [b.log, nsd.log])
    assert a_record(b.port, f"host7.{ZONE}") == "10.0.0.7"

    write_zone(nsd.zonefile, 2, "new IN A 192.0.2.99\n")
    nsd.reload()
    wait_until(lambda: soa_serial(b.port) == 2, 20, "bulwark to pull serial 2 after NSD's NOTIFY", [b.log, nsd.log])
    assert a_record(b.port, f"new.{ZONE}") == "192.0.2.99"
    assert a_record(b.port, f"host7.{ZONE}") == "10.0.0.7"


def test_knot_primary_to_bulwark_secondary(tmp_path, procs):
    need(KNOTD)
    knot = Knot(tmp_path)
    write_zone(knot.zonefile, 1)
    bport = free_dns_port()
    knot.configure(bport, ["notify: bulwark", "zonefile-load: difference", "journal-content: changes",
                                 "zonefile-sync: -1"])
    procs.append(knot)
    knot.start()
    assert soa_serial(knot.port) == 1

    b = Bulwark(tmp_path, [{"name": ZONE, "primary": f"127.0.0.1:{knot.port}"}])
    b.port = bport
    procs.append(b)
    b.start()
    wait_until(lambda: soa_serial(b.port) == 1, 20, "bulwark to transfer serial 1", [b.log, knot.log])

    write_zone(knot.zonefile, 2, "new IN A 192.0.2.99\n")
    knot.reload()
    wait_until(lambda: soa_serial(b.port) == 2, 20, "bulwark to pull serial 2 after Knot's NOTIFY", [b.log, knot.log])
    assert a_record(b.port, f"new.{ZONE}") == "192.0.2.99"
    # Knot keeps the difference in its journal: the pull was incremental.
    assert re.search(r"IXFR from 127\.0\.0\.1:\d+, serial 2", b.log_text()), b.log_text()[-3000:]


def test_chain_nsd_to_bulwark_to_knot(tmp_path, procs):
    """Bulwark as a secondary that feeds a secondary of its own: NSD -> Bulwark -> Knot. A change at NSD
    reaches Knot through two NOTIFYs; Bulwark's journal (diffs between the versions it pulled) gives Knot
    an IXFR even though NSD sent Bulwark a full zone."""
    need(NSD)
    need(KNOTD)
    nsd = Nsd(tmp_path)
    knot = Knot(tmp_path)
    bport = free_dns_port()
    write_zone(nsd.zonefile, 1)
    nsd.configure([f"notify: 127.0.0.1@{bport} NOKEY", "provide-xfr: 127.0.0.1 NOKEY"])
    procs.append(nsd)
    nsd.start()
    b = Bulwark(tmp_path, [{"name": ZONE, "primary": f"127.0.0.1:{nsd.port}", "allow_transfer": ["127.0.0.1"],
                            "notify": [f"127.0.0.1:{knot.port}"]}])
    b.port = bport
    procs.append(b)
    b.start()
    wait_until(lambda: soa_serial(b.port) == 1, 20, "bulwark to transfer serial 1", [b.log, nsd.log])
    knot.configure(b.port, ["master: bulwark", "zonefile-sync: -1"])
    procs.append(knot)
    knot.start()
    wait_until(lambda: soa_serial(knot.port) == 1, 20, "Knot to transfer serial 1 from bulwark", [knot.log, b.log])

    write_zone(nsd.zonefile, 2, "new IN A 192.0.2.99\n")
    nsd.reload()
    wait_until(lambda: soa_serial(knot.port) == 2, 20, "Knot to get serial 2 through bulwark",
               [knot.log, b.log, nsd.log])
    assert a_record(knot.port, f"new.{ZONE}") == "192.0.2.99"
    log = knot.log.read_text(errors="replace")
    assert re.search(r"IXFR, incoming, remote 127\.0\.0\.1@\d+, finished", log), log[-3000:]


def test_ipv6_knot_primary_to_bulwark_and_axfr_out(tmp_path, procs):
    """Everything over ::1: Knot NOTIFYs Bulwark's IPv6 address, Bulwark pulls from Knot's IPv6 address
    (primary "[::1]:port"), and serves AXFR to an IPv6 client in allow_transfer."""
    need(KNOTD)
    knot = Knot(tmp_path)
    write_zone(knot.zonefile, 1)
    bport = free_dns_port()
    knot.configure(bport, ["notify: bulwark", "zonefile-load: difference", "journal-content: changes",
                           "zonefile-sync: -1"], remote_host="::1")
    procs.append(knot)
    knot.start()
    b = Bulwark(tmp_path, [{"name": ZONE, "primary": f'"[::1]:{knot.port}"', "allow_transfer": ["::1"]}])
    b.port = bport
    b.ipv6 = True
    procs.append(b)
    b.start()
    wait_until(lambda: soa_serial(b.port) == 1, 20, "bulwark to transfer serial 1 over IPv6", [b.log, knot.log])
    write_zone(knot.zonefile, 2, "new IN A 192.0.2.99\n")
    knot.reload()
    wait_until(lambda: soa_serial(b.port) == 2, 20, "bulwark to pull serial 2 after Knot's NOTIFY over IPv6",
               [b.log, knot.log])
    assert re.search(r"IXFR from \[::1\]:\d+, serial 2", b.log_text()), b.log_text()[-3000:]
    got = dns.zone.from_xfr(dns.query.xfr("::1", ZONE, port=b.port, timeout=10))
    assert got == dns.zone.from_text(zone_text(2, "new IN A 192.0.2.99\n"), origin=ZONE)
    # Not in allow_transfer over IPv4.
    r = dns.query.tcp(dns.message.make_query(ZONE, "AXFR"), "127.0.0.1", port=b.port, timeout=5)
    assert r.rcode() == dns.rcode.REFUSED


def rcode_of(port):
    try:
        return query(port, timeout=0.5).rcode()
    except (dns.exception.Timeout, OSError):
        return None


def test_secondary_honours_soa_refresh_and_expire(tmp_path, procs):
    """SOA refresh 1 s, retry 1 s, expire 4 s: Bulwark follows a change without any NOTIFY, answers
    SERVFAIL once the primary has been unreachable for the expire time, and serves again when it is back."""
    need(NSD)
    nsd = Nsd(tmp_path)
    timers = "1 1 4 300"
    write_zone(nsd.zonefile, 1, hosts=10, timers=timers)
    nsd.configure(["provide-xfr: 127.0.0.1 NOKEY"])  # no notify: only the refresh timer
    procs.append(nsd)
    # Bulwark first: no data yet -> SERVFAIL (as NSD and Knot answer for a zone not transferred yet).
    b = Bulwark(tmp_path, [{"name": ZONE, "primary": f"127.0.0.1:{nsd.port}"}])
    procs.append(b)
    b.start()
    wait_until(lambda: rcode_of(b.port) == dns.rcode.SERVFAIL, 5, "SERVFAIL before the first transfer", [b.log])
    nsd.start()
    # The retry without data is 5 s.
    wait_until(lambda: soa_serial(b.port) == 1, 20, "bulwark to transfer serial 1", [b.log, nsd.log])

    write_zone(nsd.zonefile, 2, "new IN A 192.0.2.99\n", hosts=10, timers=timers)
    nsd.reload()
    wait_until(lambda: soa_serial(b.port) == 2, 15, "bulwark to refresh to serial 2", [b.log, nsd.log])

    nsd.stop()
    start = time.monotonic()
    wait_until(lambda: rcode_of(b.port) == dns.rcode.SERVFAIL, 15, "SERVFAIL after expire", [b.log])
    assert time.monotonic() - start >= 1.5  # not before the expire time (4 s after the last contact)

    nsd.start()
    wait_until(lambda: soa_serial(b.port) == 2, 15, "bulwark to serve again", [b.log, nsd.log])


# ----------------------------------------------------------------------- (c) allow_transfer, content checks


def ixfr(port, from_serial, to_serial):
    """IXFR from 127.0.0.2 over TCP: every message of the reply, one record per RRset."""
    q = dns.message.make_query(ZONE, "IXFR")
    q.authority.append(dns.rrset.from_text(f"{ZONE}.", 300, "IN", "SOA",
                                           f"ns1.{ZONE}. hostmaster.{ZONE}. {from_serial} 3600 600 86400 300"))
    msgs = []
    with socket.create_connection(("127.0.0.1", port), timeout=10, source_address=("127.0.0.2", 0)) as s:
        dns.query.send_tcp(s, q)
        while True:
            m, _ = dns.query.receive_tcp(s, expiration=time.time() + 10, one_rr_per_rrset=True)
            msgs.append(m)
            records = sum(len(rr) for msg in msgs for rr in msg.answer)
            last = m.answer[-1] if m.answer else None
            if records > 1 and last is not None and last.rdtype == dns.rdatatype.SOA and last[0].serial == to_serial:
                return msgs


def test_axfr_refused_outside_allow_transfer_and_content_matches(tmp_path, procs):
    zonefile = tmp_path / f"{ZONE}.zone"
    write_zone(zonefile, 1)
    b = Bulwark(tmp_path, [{"name": ZONE, "file": zonefile, "allow_transfer": ["127.0.0.2/32"]}])
    b.admin_port = helpers.free_port()
    procs.append(b)
    b.start()

    # From 127.0.0.1: REFUSED.
    q = dns.message.make_query(ZONE, "AXFR")
    r = dns.query.tcp(q, "127.0.0.1", port=b.port, timeout=5, source="127.0.0.1")
    assert r.rcode() == dns.rcode.REFUSED
    assert not r.answer

    # From 127.0.0.2: the whole zone, equal to the file.
    got = dns.zone.from_xfr(dns.query.xfr("127.0.0.1", ZONE, port=b.port, timeout=10, source="127.0.0.2"))
    want = dns.zone.from_text(zone_text(1), origin=ZONE)
    assert got == want

    # IXFR from serial 1 after a change: the incremental reply, applied by dnspython, gives the new zone.
    write_zone(zonefile, 2, "new IN A 192.0.2.99\n")
    b.reload()
    wait_until(lambda: soa_serial(b.port) == 2, 10, "bulwark to serve serial 2", [b.log])
    msgs = ixfr(b.port, 1, 2)
    serials = [rr[0].serial for msg in msgs for rr in msg.answer if rr.rdtype == dns.rdatatype.SOA]
    assert serials == [2, 1, 2, 2], serials  # incremental: SOA(2) SOA(1) -... SOA(2) +new SOA(2)
    added = [rr for msg in msgs for rr in msg.answer if rr.name.to_text().startswith("new.")]
    assert added and added[0][0].address == "192.0.2.99"

    # Serial 3 drops "new" again and adds "newer": IXFR from 1 is one condensed difference, in which the
    # record added in 2 and removed in 3 does not appear at all.
    write_zone(zonefile, 3, "newer IN A 192.0.2.100\n")
    b.reload()
    wait_until(lambda: soa_serial(b.port) == 3, 10, "bulwark to serve serial 3", [b.log])
    msgs = ixfr(b.port, 1, 3)
    records = [rr for msg in msgs for rr in msg.answer]
    assert [rr[0].serial for rr in records if rr.rdtype == dns.rdatatype.SOA] == [3, 1, 3, 3]
    names = [rr.name.to_text() for rr in records if rr.rdtype != dns.rdatatype.SOA]
    assert names == [f"newer.{ZONE}."], names
    # And from 2: removed "new", added "newer".
    msgs = ixfr(b.port, 2, 3)
    names = [rr.name.to_text() for msg in msgs for rr in msg.answer if rr.rdtype != dns.rdatatype.SOA]
    assert names == [f"new.{ZONE}.", f"newer.{ZONE}."], names

    # Over UDP, a NOTIFY from a host that is not our primary is refused.
    n = dns.message.make_query(ZONE, "SOA")
    n.set_opcode(dns.opcode.NOTIFY)
    r = dns.query.udp(n, "127.0.0.1", port=b.port, timeout=3)
    assert r.rcode() in (dns.rcode.REFUSED, dns.rcode.NOTAUTH)

    # The transfer service's totals reach /metrics (exported once a second by the control thread).
    wait_until(lambda: b.metric("bulwark_dns_xfr_total", direction="out", result="refused") >= 1
               and b.metric("bulwark_dns_xfr_total", direction="out", result="sent") >= 4
               and b.metric("bulwark_dns_notify_total", event="refused") >= 1, 5,
               "transfer and NOTIFY counters in /metrics", [b.log])
