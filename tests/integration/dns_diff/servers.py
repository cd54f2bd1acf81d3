"""Reference name servers for the differential test: NSD 4.6 and (for developing the harness) Knot 3.2.

Each server runs in the foreground on 127.0.0.1:PORT (UDP and TCP) with its files in a private directory,
is started through helpers._spawn (dies with pytest, tracked for the atexit safety net) and is ready when
it answers a UDP SOA query for every zone.
"""

import shutil
import socket
import struct
import subprocess
import time
from pathlib import Path

import helpers

ZONES_DIR = Path(__file__).resolve().parent / "zones"

# (zone name, file name inside ZONES_DIR): every zone both servers load.
ZONES = [
    ("example.com", "example.com.zone"),
    ("example.net", "example.net.zone"),
    ("child.example.com", "child.example.com.zone"),
    ("2.0.192.in-addr.arpa", "2.0.192.in-addr.arpa.zone"),
]

NSD = Path("/usr/sbin/nsd")
NSD_CHECKCONF = Path("/usr/sbin/nsd-checkconf")
KNOTD = Path("/usr/sbin/knotd")
EDNS_UDP_SIZE = 1232  # NSD 4.6 default (ipv4-edns-size), set explicitly everywhere


def soa_query(zone, qid):
    """A plain (no EDNS) SOA query in wire form."""
    q = struct.pack("!HHHHHH", qid, 0, 1, 0, 0, 0)
    for label in zone.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\x00" + struct.pack("!HH", 6, 1)


def answers_udp(port, zone, timeout=0.3):
    """True if 127.0.0.1:port answers a UDP SOA query for zone with NOERROR and AA."""
    qid = 0x5151
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(soa_query(zone, qid), ("127.0.0.1", port))
        try:
            data = s.recv(65535)
        except (socket.timeout, ConnectionRefusedError):
            return False
    if len(data) < 12:
        return False
    rid, flags, _, ancount = struct.unpack("!HHHH", data[:8])
    return rid == qid and flags & 0x000F == 0 and flags & 0x0400 and ancount >= 1


def wait_ready(proc, port, name, stderr_path, timeout=20.0):
    deadline = time.monotonic() + timeout
    pending = [z for z, _ in ZONES]
    while pending:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode} during startup:\n"
                               + Path(stderr_path).read_text(errors="replace")[-3000:])
        if answers_udp(port, pending[0]):
            pending.pop(0)
            continue
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} does not answer SOA {pending[0]} on port {port} after {timeout}s:\n"
                               + Path(stderr_path).read_text(errors="replace")[-3000:])
        time.sleep(0.05)
    # TCP too
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} does not accept TCP on {port}")
            time.sleep(0.05)


class _Server:
    name = "?"

    def __init__(self, directory, port=None):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or helpers.free_port()
        self.proc = None
        self.stderr_path = self.dir / f"{self.name}.stderr"

    def stop(self):
        helpers._stop_proc(self.proc)

    def crashed(self):
        if self.proc is not None and self.proc.poll() is not None:
            return f"{self.name} exited with {self.proc.returncode}: " + self.stderr_path.read_text(
                errors="replace")[-2000:]
        return None


class NsdServer(_Server):
    """nsd -d on 127.0.0.1:port, no database, no RRL, CHAOS identity/version hidden."""

    name = "nsd"

    @staticmethod
    def available():
        return NSD.is_file() and NSD_CHECKCONF.is_file()

    def config_text(self):
        d = self.dir
        lines = [
            "server:",
            f"    port: {self.port}",
            "    ip-address: 127.0.0.1",
            "    server-count: 1",
            '    database: ""',
            f'    zonesdir: "{ZONES_DIR}"',
            f'    zonelistfile: "{d}/zone.list"',
            f'    pidfile: "{d}/nsd.pid"',
            f'    xfrdfile: "{d}/xfrd.state"',
            f'    xfrdir: "{d}"',
            f'    logfile: "{d}/nsd.log"',
            "    verbosity: 0",
            '    username: ""',
            "    do-ip6: no",
            f"    ipv4-edns-size: {EDNS_UDP_SIZE}",
            # No response rate limiting: the test sends thousands of queries from one address.
            "    rrl-ratelimit: 0",
            "    rrl-whitelist-ratelimit: 0",
            # CHAOS id.server / version.bind would otherwise be answered (Bulwark answers no CHAOS names).
            "    hide-version: yes",
            "    hide-identity: yes",
            "",
            "remote-control:",
            "    control-enable: no",
            "",
        ]
        for zone, fname in ZONES:
            lines += ["zone:", f"    name: {zone}", f'    zonefile: "{ZONES_DIR / fname}"', ""]
        return "\n".join(lines)

    def start(self):
        cfg = self.dir / "nsd.conf"
        cfg.write_text(self.config_text())
        r = subprocess.run([str(NSD_CHECKCONF), str(cfg)], capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError(f"nsd-checkconf rejects {cfg}:\n{r.stdout}{r.stderr}")
        err = open(self.stderr_path, "ab")
        self.proc = helpers._spawn([NSD, "-d", "-c", cfg], stdout=err, stderr=err, cwd=self.dir)
        err.close()
        wait_ready(self.proc, self.port, "nsd", self.stderr_path)
        return self


class KnotServer(_Server):
    """knotd in the foreground; used only to develop the harness (NSD vs Knot)."""

    name = "knot"

    @staticmethod
    def available():
        return KNOTD.is_file()

    def start(self):
        d = self.dir
        (d / "db").mkdir(exist_ok=True)
        lines = [
            "server:",
            f"    listen: 127.0.0.1@{self.port}",
            f'    rundir: "{d}"',
            f"    udp-max-payload: {EDNS_UDP_SIZE}",
            "log:",
            "  - target: stderr",
            "    any: error",
            "database:",
            f'    storage: "{d}/db"',
            "template:",
            "  - id: default",
            f'    storage: "{ZONES_DIR}"',
            "    zonefile-sync: -1",
            "    zonefile-load: whole",
            "    journal-content: none",
            "zone:",
        ]
        for zone, fname in ZONES:
            lines += [f"  - domain: {zone}", f'    file: "{ZONES_DIR / fname}"']
        cfg = d / "knot.conf"
        cfg.write_text("\n".join(lines) + "\n")
        err = open(self.stderr_path, "ab")
        self.proc = helpers._spawn([KNOTD, "-c", cfg], stdout=err, stderr=err, cwd=d)
        err.close()
        wait_ready(self.proc, self.port, "knot", self.stderr_path)
        return self


def bulwark_config(port, zones_dir=ZONES_DIR, extra=None):
    """The config with only the `dns:` section (issue #5's contract shape)."""
    lines = ["dns:", f"  listen: [127.0.0.1:{port}]", "  zones:"]
    for zone, fname in ZONES:
        lines += [f"    - name: {zone}", f"      file: {Path(zones_dir) / fname}"]
    for k, v in (extra or {}).items():
        lines.append(f"  {k}: {v}")
    return "\n".join(lines) + "\n"


def have(binary):
    return shutil.which(str(binary)) is not None or Path(binary).is_file()
