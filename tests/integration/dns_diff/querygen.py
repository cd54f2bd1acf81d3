"""Seeded, deterministic query generator for the DNS differential test.

generate(n, seed) -> [Query]. Each Query carries its wire bytes (built here, so malformed packets are
possible), the transport ("udp" or "tcp"), a TCP connection group (several queries on one connection) and a
readable description for failure messages. The same seed gives the same queries, byte for byte.

The mix (roughly): names from the zones (owners, empty non-terminals, wildcard owners), absent names below
and beside them, names below wildcards, delegations and DNAMEs, names outside every zone; existing and
absent types, ANY and meta types; IN mostly, some CH/ANY/HS/NONE; random 0x20 case; no EDNS / EDNS with
various sizes / DO / version 1 / unknown options and flags; RD/CD/AD/Z bits; other opcodes; ~3 % malformed
packets; ~20 % over TCP (1-4 queries per connection).
"""

import random
import struct
from dataclasses import dataclass, field

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rdataclass
import dns.rdatatype
import dns.zone

from .servers import ZONES, ZONES_DIR


@dataclass
class Query:
    index: int
    wire: bytes
    transport: str  # "udp" | "tcp"
    group: int  # queries with the same (transport "tcp") group share one connection, in index order
    desc: str  # readable form
    category: str  # generator branch (for statistics and failure messages)
    qid: int = 0
    malformed: str = ""  # name of the malformation, "" for well-formed queries
    meta: dict = field(default_factory=dict)


# ------------------------------------------------------------------------------------------------ names


def _zone_data():
    """{owner name (absolute, as written): set(rdtypes)} for every zone, plus empty non-terminals."""
    owners = {}
    origins = []
    for zname, fname in ZONES:
        z = dns.zone.from_file(str(ZONES_DIR / fname), origin=zname, relativize=False, check_origin=False)
        origin = dns.name.from_text(zname)
        origins.append(origin)
        for name, node in z.nodes.items():
            types = {rds.rdtype for rds in node.rdatasets}
            owners.setdefault(name, set()).update(types)
            p = name.parent() if name != origin else None
            while p is not None and p != origin and p.is_subdomain(origin):
                owners.setdefault(p, set())  # empty non-terminal unless it has data of its own
                p = p.parent()
    return owners, origins


_OWNERS, _ORIGINS = _zone_data()
_OWNER_LIST = sorted(_OWNERS, key=lambda n: n.to_text())

_COMMON_TYPES = ["A", "AAAA", "MX", "TXT", "NS", "SOA", "CNAME", "SRV", "PTR", "CAA", "NAPTR", "SSHFP", "TLSA",
                 "SVCB", "HTTPS", "DS", "DNAME", "HINFO", "SPF", "LOC", "RP", "AFSDB", "KEY", "DNSKEY", "RRSIG",
                 "NSEC", "NSEC3", "NSEC3PARAM", "CDS", "CDNSKEY", "URI", "ZONEMD", "NULL", "WKS"]
_ODD_TYPES = [65400, 65399, 999, 0, 65535, 128, 249, 250, 253, 254, 41, 251, 252]  # unknown, TKEY, TSIG, MAILA/B, OPT, IXFR, AXFR

_SUFFIXES = {  # name -> how to build names below it
    "wild": ["x", "abc", "a.b", "exists", "host", "nohost.sub", "child.*", "x.child.*", "*"],
    "deep.ent-wild": ["x", "a.b", "*"],
    "ent-wild": ["x", "*"],
    "cw": ["x", "a.b"], "cw2": ["x"], "cwo": ["x"], "cwl": ["x", "loop"], "cwnx": ["x"],
    "sub": ["www", "ns1", "x.y", "deeper", "ns.deeper"], "oob": ["www", "a.b"], "sib": ["www"],
    "mixed": ["www", "ns"], "child": ["www", "nx", "ns1", "a.b", "up", "*"],
    "dn": ["www", "mail", "x.y", "nx", "www.a", "abc.wc"], "dnout": ["www", "a.b"], "dnin": ["www", "nx"],
    "dnloop": ["x", "y.z"], "c.ent": ["nx"], "ent2": ["nx"], "www": ["nx", "_443._tcp"],
    "manyglue": ["www", "a.ns", "x.y"], "manymx": ["mx1", "nx"],
}


def _rand_label(rng, n=None):
    n = n or rng.randint(1, 12)
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789-") for _ in range(n)).strip("-") or "x"


def _random_case(rng, name):
    """0x20-style case mixing on the wire labels (escapes stay intact: we change bytes, not text)."""
    labels = []
    for lab in name.labels:
        b = bytearray(lab)
        for i, c in enumerate(b):
            if 97 <= c <= 122 and rng.random() < 0.5:
                b[i] = c - 32
            elif 65 <= c <= 90 and rng.random() < 0.5:
                b[i] = c + 32
        labels.append(bytes(b))
    return dns.name.Name(labels)


def _pick_name(rng):
    """(dns.name.Name, category)."""
    r = rng.random()
    com = dns.name.from_text("example.com.")
    if r < 0.40:
        return rng.choice(_OWNER_LIST), "owner"
    if r < 0.55:  # below the special names
        base = rng.choice(sorted(_SUFFIXES))
        pre = rng.choice(_SUFFIXES[base])
        if rng.random() < 0.3:
            pre = _rand_label(rng) + "." + pre if pre != "*" else _rand_label(rng)
        return dns.name.from_text(f"{pre}.{base}.example.com."), "below-" + base.split(".")[0]
    if r < 0.70:  # absent: a random label below or beside an existing name
        owner = rng.choice(_OWNER_LIST)
        if rng.random() < 0.5:
            n = dns.name.Name((_rand_label(rng).encode(),) + owner.labels)
        else:
            zone = next(o for o in _ORIGINS if owner.is_subdomain(o))
            n = dns.name.Name((_rand_label(rng).encode(),) + zone.labels)
        return n, "absent"
    if r < 0.76:  # outside every zone (REFUSED), including parents of our zones
        return dns.name.from_text(rng.choice([
            "www.outside.test.", "com.", ".", "example.org.", "net.", "arpa.", "in-addr.arpa.",
            "192.in-addr.arpa.", "0.192.in-addr.arpa.", "3.0.192.in-addr.arpa.", "example.com.evil.",
            "xexample.com.", "version.bind.", "id.server.", "hostname.bind.", "localhost.",
        ])), "outside"
    if r < 0.82:  # reverse zone
        return dns.name.from_text(f"{rng.choice(['1', '25', '53', '80', '64/26', '65', '66', '70', '9.64/26', '65.64/26'])}"
                                  ".2.0.192.in-addr.arpa."), "reverse"
    if r < 0.86:  # DNAME rewrite that overflows 255 octets (YXDOMAIN) or just fits
        k = rng.choice([1, 2, 3])
        labels = [(_rand_label(rng, 20) * 3)[:rng.choice([20, 40, 63])] for _ in range(k)]
        return dns.name.from_text(".".join(labels) + ".longdn.example.com."), "longdn"
    if r < 0.90:  # long names (near 255 octets) in and below our zones
        labels = []
        n = dns.name.from_text("wild.example.com.")
        while True:
            lab = _rand_label(rng, rng.randint(20, 63)).encode()
            if len(n.to_wire()) + len(lab) + 1 + sum(len(x) + 1 for x in labels) > 255:
                break
            labels.append(lab)
        return dns.name.Name(tuple(labels) + n.labels), "longname"
    # CNAME/DNAME/escaped/case names, for a higher share of chain answers
    return dns.name.from_text(rng.choice([
        "c1", "c2", "to-net", "to-net-chain", "to-outside", "to-sub", "to-nx", "to-wild", "to-dn", "to-child",
        "to-mixed", "to-ent", "to-apex", "loop1", "self", "long1", "long5", "with\\032space", "dot\\.inlabel",
        "back\\\\slash", "quote\\\"q", "mixed.case", "upper", "MIXED.CASE", "x.cwl", "a.cw", "a.cwnx",
        "caf\\195\\169", "CAF\\195\\169", "caf\\195\\137", "\\200bin", "\\200BIN", "\\192bin", "x.\\255",
        "\\200\\201.\\255", "\\223",
    ]), com), "chain"


def _pick_type(rng, name):
    existing = sorted(_OWNERS.get(name, set()))  # dns.name.Name hashes and compares case-insensitively
    r = rng.random()
    if existing and r < 0.40:
        return int(rng.choice(existing))
    if r < 0.75:
        return int(dns.rdatatype.from_text(rng.choice(_COMMON_TYPES[:17])))
    if r < 0.83:
        return int(dns.rdatatype.ANY)
    if r < 0.92:
        return int(dns.rdatatype.from_text(rng.choice(_COMMON_TYPES[17:])))
    return rng.choice(_ODD_TYPES)


def _pick_class(rng):
    r = rng.random()
    if r < 0.94:
        return 1
    return rng.choice([3, 3, 3, 255, 255, 4, 254, 2, 1234])


# ------------------------------------------------------------------------------------------------ EDNS


def _edns(rng):
    """dict for _build: None (no OPT) or {version, payload, flags, options}."""
    r = rng.random()
    if r < 0.35:
        return None
    payload = rng.choice([512, 1232, 1232, 4096, 4096, 1400, 65535, 1024, 0, 100, 511, 513])
    if rng.random() < 0.2:  # anywhere around the truncation boundaries of the large answers
        payload = rng.randint(400, 1500)
    version = 0
    if rng.random() < 0.05:
        version = rng.choice([1, 1, 2, 255])
    flags = 0
    if rng.random() < 0.25:
        flags |= 0x8000  # DO
    if rng.random() < 0.05:
        flags |= rng.choice([0x4000, 0x0001, 0x0100, 0x7FFF])  # unknown EDNS flags
    options = []
    if rng.random() < 0.10:
        code = rng.choice([65001, 65535, 20, 3, 8, 12, 15, 13, 11])
        if code == 3:  # NSID request: empty
            data = b""
        elif code == 8:  # client subnet 192.0.2.0/24
            data = struct.pack("!HBB", 1, 24, 0) + bytes([192, 0, 2])
        elif code == 12:  # padding
            data = bytes(rng.randint(0, 16))
        elif code == 11:  # tcp-keepalive, empty in queries
            data = b""
        elif code == 15:  # EDE (meaningless in a query): info code and a text
            data = struct.pack("!H", rng.randrange(30)) + b"query"
        else:
            data = bytes(rng.randrange(256) for _ in range(rng.randint(0, 10)))
        options.append((code, data))
    if rng.random() < 0.03:
        options.append((10, bytes(rng.randrange(256) for _ in range(8))))  # COOKIE: client cookie only
    return {"version": version, "payload": payload, "flags": flags, "options": options}


# ------------------------------------------------------------------------------------------------ wire


def _opt_rr(e):
    rdata = b"".join(struct.pack("!HH", c, len(d)) + d for c, d in e["options"])
    ttl = (e.get("ext_rcode", 0) << 24) | (e["version"] << 16) | e["flags"]
    return b"\x00" + struct.pack("!HHIH", 41, e["payload"], ttl, len(rdata)) + rdata


def _build(qid, flags, name, qtype, qclass, edns, opcode=0):
    flags = (flags & ~0x7800) | (opcode << 11)
    arcount = 1 if edns is not None else 0
    wire = struct.pack("!HHHHHH", qid, flags, 1, 0, 0, arcount)
    wire += name.to_wire() + struct.pack("!HH", qtype, qclass)
    if edns is not None:
        wire += _opt_rr(edns)
    return wire


def _flags(rng):
    f = 0
    if rng.random() < 0.5:
        f |= 0x0100  # RD
    if rng.random() < 0.08:
        f |= 0x0010  # CD
    if rng.random() < 0.08:
        f |= 0x0020  # AD
    if rng.random() < 0.02:
        f |= 0x0040  # Z
    if rng.random() < 0.01:
        f |= 0x0080  # RA in a query
    return f


def _malformed(rng, qid, index):
    """(wire, kind): packets a server must answer with FORMERR or drop."""
    com = dns.name.from_text("www.example.com.")
    good = _build(qid, 0x0100, com, 1, 1, None)
    good_edns = _build(qid, 0x0100, com, 1, 1, {"version": 0, "payload": 1232, "flags": 0, "options": []})
    hdr = lambda qd, an, ns, ar, fl=0x0100: struct.pack("!HHHHHH", qid, fl, qd, an, ns, ar)  # noqa: E731
    q = com.to_wire() + struct.pack("!HH", 1, 1)
    kinds = {
        "empty": b"",
        "short-header": good[:rng.randint(1, 11)],
        "header-only": hdr(1, 0, 0, 0),
        "qr-set": hdr(1, 0, 0, 0, 0x8100) + q,
        "qdcount-0": hdr(0, 0, 0, 0),
        "qdcount-0-edns": hdr(0, 0, 0, 1) + _opt_rr({"version": 0, "payload": 1232, "flags": 0, "options": []}),
        "qdcount-2": hdr(2, 0, 0, 0) + q + q,
        "truncated-qname": good[:12 + rng.randint(1, len(com.to_wire()) - 1)],
        "truncated-qtype": good[:len(good) - rng.randint(1, 3)],
        "trailing-garbage": good + bytes(rng.randrange(256) for _ in range(rng.randint(1, 8))),
        "ancount-1-missing": hdr(1, 1, 0, 0) + q,
        "nscount-1-missing": hdr(1, 0, 1, 0) + q,
        "arcount-2-one-opt": hdr(1, 0, 0, 2) + q + _opt_rr({"version": 0, "payload": 1232, "flags": 0, "options": []}),
        "answer-rr-in-query": hdr(1, 1, 0, 0) + q + b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + b"\x01\x02\x03\x04",
        "two-opt": hdr(1, 0, 0, 2) + q + _opt_rr({"version": 0, "payload": 1232, "flags": 0, "options": []}) * 2,
        "opt-owner-not-root": hdr(1, 0, 0, 1) + q + b"\x01a" + _opt_rr({"version": 0, "payload": 1232, "flags": 0,
                                                                         "options": []})[1:],
        "opt-rdlen-overrun": good_edns[:-2] + struct.pack("!H", 20),
        "opt-option-overrun": hdr(1, 0, 0, 1) + q + b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 6)
        + struct.pack("!HH", 65001, 10) + b"ab",
        "opt-in-answer": hdr(1, 1, 0, 0) + q + _opt_rr({"version": 0, "payload": 1232, "flags": 0, "options": []}),
        "label-64": hdr(1, 0, 0, 0) + b"\x40" + b"a" * 64 + b"\x00" + struct.pack("!HH", 1, 1),
        "label-type-80": hdr(1, 0, 0, 0) + b"\x80" + b"a" * 5 + b"\x00" + struct.pack("!HH", 1, 1),
        "pointer-loop": hdr(1, 0, 0, 0) + b"\xc0\x0c" + struct.pack("!HH", 1, 1),
        "pointer-forward": hdr(1, 0, 0, 0) + b"\x03www\xc0\x20" + struct.pack("!HH", 1, 1) + b"\x00" * 8,
        "pointer-to-header": hdr(1, 0, 0, 0) + b"\x03www\xc0\x02" + struct.pack("!HH", 1, 1),
        "name-over-255": hdr(1, 0, 0, 0) + (b"\x3f" + b"a" * 63) * 4 + b"\x00" + struct.pack("!HH", 1, 1),
        "tc-in-query": hdr(1, 0, 0, 0, 0x0300) + q,
        "qtype-opt": hdr(1, 0, 0, 0) + com.to_wire() + struct.pack("!HH", 41, 1),
        "rcode-in-query": hdr(1, 0, 0, 0, 0x0103) + q,
        "opt-ext-rcode": hdr(1, 0, 0, 1) + q + _opt_rr({"version": 0, "payload": 1232, "flags": 0, "options": [],
                                                        "ext_rcode": 1}),
    }
    kind = rng.choice(sorted(kinds))
    return kinds[kind], kind


def _describe(wire, transport, malformed=""):
    if malformed:
        return f"{transport.upper()} malformed:{malformed} ({len(wire)} bytes) {wire.hex()}"
    qid, flags = struct.unpack("!HH", wire[:4])
    try:  # dnspython refuses unassigned opcodes: parse with opcode 0, print the real one
        m = dns.message.from_wire(wire[:2] + struct.pack("!H", flags & ~0x7800) + wire[4:])
    except Exception as e:  # noqa: BLE001 - readable form only
        return f"{transport.upper()} unparseable ({e}) {wire.hex()}"
    fl = dns.flags.to_text(flags) or "-"
    extra = "Z " if flags & 0x0040 else ""
    q = m.question[0] if m.question else None
    parts = [f"{transport.upper()} id={qid} opcode={(flags >> 11) & 0xF} "
             f"flags=[{fl}] {extra}"]
    if q is not None:
        parts.append(f"{q.name.to_text()} {dns.rdataclass.to_text(q.rdclass)} {dns.rdatatype.to_text(q.rdtype)}")
    if m.edns >= 0 or m.opt is not None:
        opts = ",".join(f"{o.otype}:{o.to_wire().hex() if hasattr(o, 'to_wire') else ''}" for o in m.options)
        parts.append(f" EDNS v{m.edns} udp={m.payload} flags=0x{m.ednsflags & 0xFFFF:04x} opts=[{opts}]")
    else:
        parts.append(" no-EDNS")
    return "".join(parts)


# The truncation sweep that opens every run: the large answers at UDP sizes around their boundaries.
SWEEP_NAMES = [("big60", "A"), ("big300", "A"), ("bigaaaa", "AAAA"), ("bigtxt", "TXT"), ("manymx", "MX"),
               ("www.manyglue", "A"), ("long1", "A"), ("example.com", "ANY"), ("_sip._tcp", "SRV")]
SWEEP_SIZES = [None, 0, 400, 512, 600, 700, 800, 900, 950, 1000, 1006, 1010, 1030, 1050, 1060, 1100, 1150, 1200,
               1232, 4096]


def _sweep(rng):
    out = []
    for name, qtype in SWEEP_NAMES:
        qname = dns.name.from_text(name, dns.name.from_text("example.com.")) if name != "example.com" \
            else dns.name.from_text("example.com.")
        for size in SWEEP_SIZES:
            edns = None if size is None else {"version": 0, "payload": size, "flags": 0, "options": []}
            qid = rng.randrange(65536)
            out.append((qid, _build(qid, 0, qname, int(dns.rdatatype.from_text(qtype)), 1, edns),
                        {"qtype": int(dns.rdatatype.from_text(qtype)), "qclass": 1, "edns": edns, "opcode": 0,
                         "qname": qname}))
    return out


def generate(n, seed=5):
    """n queries (deterministic for a given seed): the truncation sweep over UDP, then the random mix."""
    rng = random.Random(seed)
    out = []
    group = 0
    for qid, wire, meta in _sweep(rng)[:n]:
        group += 1
        out.append(Query(len(out), wire, "udp", group, _describe(wire, "udp"), "sweep", qid, "", meta))
    tcp_left = 0
    for i in range(len(out), n):
        qid = rng.randrange(65536)
        r = rng.random()
        if tcp_left > 0:
            transport = "tcp"
            tcp_left -= 1
        elif rng.random() < 0.10:  # starts a TCP connection of 1-4 queries (~20 % of queries over TCP)
            group += 1
            transport = "tcp"
            tcp_left = rng.choice([0, 0, 1, 2, 3])
        else:
            transport = "udp"
            group += 1
        meta = {}
        if r < 0.03:
            wire, kind = _malformed(rng, qid, i)
            if transport == "tcp":  # alone on its connection: a server may close after an error, and a
                group += 1         # close with unread pipelined queries resets the connection (a race)
                tcp_left = 0
            if transport == "tcp" and kind == "empty":
                kind = "header-only"
                wire = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
            out.append(Query(i, wire, transport, group, _describe(wire, transport, kind), "malformed", qid, kind))
            continue
        name, category = _pick_name(rng)
        qtype = _pick_type(rng, name)
        qclass = _pick_class(rng)
        if rng.random() < 0.5:
            name = _random_case(rng, name)
        edns = _edns(rng)
        opcode = 0
        if rng.random() < 0.025:
            opcode = rng.choice([1, 2, 3, 4, 5, 6, 7, 15])
            category = "opcode"
            if transport == "tcp":  # alone on its connection (see the malformed case above)
                group += 1
                tcp_left = 0
        if qtype in (251, 252) and transport == "udp" and rng.random() < 0.5:
            transport = "tcp"  # zone transfers mostly over TCP (refused: no transfer ACL)
        wire = _build(qid, _flags(rng), name, qtype, qclass, edns, opcode)
        meta.update(qtype=qtype, qclass=qclass, edns=edns, opcode=opcode, qname=name)
        out.append(Query(i, wire, transport, group, _describe(wire, transport), category, qid, "", meta))
    return out
