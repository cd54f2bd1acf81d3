"""Issue #5: Bulwark's DNS answers against NSD 4.6's, on the same zone files (the differential test), and the
ISC EDNS compliance cases against both servers.

    /usr/bin/python3 -m pytest -q -s tests/integration/test_dns_diff.py
    DNS_DIFF_QUERIES=20000 DNS_DIFF_SEED=7 ... (more queries / another mix; default 4000, seed 5)

NSD (`nsd -d`, tmp config, no RRL) and Bulwark (a config with only the `dns:` section) serve the zones in
dns_diff/zones/ on loopback. dns_diff/querygen.py generates the queries (seeded), dns_diff/exchange.py sends
each to both (UDP and TCP, raw bytes), dns_diff/compare.py compares the replies section by section. Every
difference Bulwark may have from NSD is a row of ALLOWED below (name, predicate, justification); the test
prints how often each row was used and fails on any other difference, printing the first 20 with the
query. Every run writes every unexplained difference (query, NSD's answer, Bulwark's answer) to
/tmp/dns-diff-report.txt. docs/dns-differential.md describes the zones, the mix and the method.
"""

import os
import struct
from pathlib import Path

import pytest

dns = pytest.importorskip("dns", reason="dnspython is missing (Debian: python3-dnspython; make test installs it)")

import dns.flags  # noqa: E402
import dns.message  # noqa: E402
import dns.name  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdatatype  # noqa: E402

import helpers  # noqa: E402
from dns_diff import compare, exchange, querygen, run, servers  # noqa: E402
from dns_diff.compare import Allowed  # noqa: E402

pytestmark = pytest.mark.skipif(
    not servers.NsdServer.available(),
    reason="NSD is missing (/usr/sbin/nsd, /usr/sbin/nsd-checkconf): install the Debian package nsd "
    "(scripts/install-deps.sh lists it; `make test` installs it)",
)

QUERIES = int(os.environ.get("DNS_DIFF_QUERIES", "4000"))
SEED = int(os.environ.get("DNS_DIFF_SEED", "5"))
REPORT = Path(os.environ.get("DNS_DIFF_REPORT", "/tmp/dns-diff-report.txt"))


# ------------------------------------------------------------------------------------------------ allowed

# The normalisations behind the rows of ALLOWED: each gets (query, NSD's normalised reply, Bulwark's) as
# deep copies and returns the pair made equal in what its row covers, or None when the row does not apply.


def _strip_ede(q, a, b):
    """Both replies without EDE options (and OPT otherwise compared as is)."""
    if not (a and b and a.get("opt") and b.get("opt")):
        return None
    for m in (a, b):
        m["opt"]["options"] = [o for o in m["opt"]["options"] if o[0] != 15]
    return a, b


def _dedup_nsd(q, a, b):
    """NSD's reply with duplicate records removed from each RRset (and its counts lowered to match)."""
    if not a or "header" not in a or "answer" not in a:
        return None
    counts = list(a["header"]["counts"])
    changed = False
    for i, sec in enumerate(compare.SECTIONS, start=1):
        for key, recs in a[sec]["rrsets"].items():
            uniq = tuple(sorted(set(recs)))
            if len(uniq) != len(recs):
                counts[i] -= len(recs) - len(uniq)
                a[sec]["rrsets"][key] = uniq
                changed = True
    if not changed:
        return None
    a["header"]["counts"] = tuple(counts)
    return a, b


def _ra_z_echo(q, a, b):
    """NSD echoes the query's RA and Z bits in some replies (BADVERS, NOTIFY); Bulwark sends them as 0."""
    if not (a and b and "header" in a and "header" in b) or len(q.wire) < 4:
        return None
    qflags = int.from_bytes(q.wire[2:4], "big")
    changed = False
    for bit, mask in (("RA", 0x0080), ("Z", 0x0040)):
        if qflags & mask and a["header"][bit] and not b["header"][bit]:
            a["header"][bit] = False
            changed = True
    return (a, b) if changed else None


def _formerr_rd(q, a, b):
    """FORMERR from both; the query had RD; NSD's reply has RD clear, Bulwark's has it set."""
    if not (a and b and "header" in a and "header" in b) or len(q.wire) < 4:
        return None
    if not (q.wire[2] & 0x01 and a["rcode"] == 1 and b["rcode"] == 1):
        return None
    if a["header"]["RD"] or not b["header"]["RD"]:
        return None
    a["header"]["RD"] = True
    return a, b


def _tcp_malformed_no_reply(q, a, b):
    """Over TCP, a malformed query: NSD sends nothing, Bulwark a bare FORMERR (header only, all counts 0)."""
    if q.transport != "tcp" or not q.malformed or a is not None or not b or "header" not in b:
        return None
    if b.get("rcode") != 1 or b["header"]["counts"] != (0, 0, 0, 0):
        return None
    return b, b


def _xfr_refused(q, a, b):
    """AXFR/IXFR from a client without transfer rights: NSD NOTAUTH, Bulwark REFUSED (only the rcode)."""
    if q.meta.get("qtype") not in (251, 252) or not (a and b and "rcode" in a and "rcode" in b):
        return None
    if a["rcode"] != 9 or b["rcode"] != 5:
        return None
    a["rcode"] = 5
    return a, b


# The one table of differences Bulwark may have from NSD 4.6. Each row: a name, the predicate (when it
# applies, and what it makes equal), and why the difference is correct or harmless, with the RFC. A row is
# never added to make the test pass: only for a difference the RFCs justify or define as harmless.
ALLOWED = [
    Allowed(
        "ede-option",
        "OPT of either reply, without its Extended DNS Error options (code 15), equal",
        "RFC 8914 3: an EDE option MAY be added to any response and is purely informational (4: it must not "
        "change how the RCODE is processed). NSD 4.6 adds EDE 20 (Not Authoritative) to REFUSED, 21 (Not "
        "Supported) to some NOTIMP/REFUSED, 0 with a text to YXDOMAIN; Bulwark sends no EDE.",
        _strip_ede),
    Allowed(
        "nsd-duplicate-record",
        "NSD's reply with duplicate records (same owner, type, class, TTL and rdata) removed equals Bulwark's",
        "RFC 2181 5: an RRset has no duplicate records and servers should suppress duplicates. NSD 4.6 "
        "writes the synthesised CNAME twice for a wildcard CNAME pointing to itself (loop.cwl); Bulwark once.",
        _dedup_nsd),
    Allowed(
        "nsd-echoes-ra-z",
        "the query had RA and/or Z set, NSD's reply has it, Bulwark's has not; nothing else differs",
        "RFC 1035 4.1.1: Z 'must be zero in all queries and responses'; RA says whether the server offers "
        "recursion, which an authoritative-only server does not. NSD 4.6 copies the query's flag word into "
        "some replies (BADVERS, NOTIFY).",
        _ra_z_echo),
    Allowed(
        "nsd-formerr-clears-rd",
        "both reply FORMERR, the query had RD, NSD's reply has RD clear and Bulwark's set; nothing else differs",
        "RFC 1035 4.1.1: RD 'is copied into the response'. NSD 4.6 clears it in the FORMERR for QDCOUNT 2 "
        "(while it copies it in the FORMERR for QDCOUNT 0).",
        _formerr_rd),
    Allowed(
        "nsd-tcp-no-formerr",
        "TCP, a malformed query (no question, a count promising missing records, a compression loop, ...): "
        "NSD sends no reply, Bulwark a bare FORMERR (header only, all counts 0)",
        "RFC 1035 4.1.1: FORMERR is the reply to a query the server cannot interpret. NSD 4.6 sends it for "
        "the same bytes over UDP (those pairs compare identical), but over TCP sends nothing, leaving the "
        "client to its timeout.",
        _tcp_malformed_no_reply),
    Allowed(
        "xfr-refused-not-notauth",
        "AXFR/IXFR query (neither server allows transfers here): NSD's rcode NOTAUTH, Bulwark's REFUSED; only "
        "the rcode is changed",
        "RFC 1035 4.1.1 defines REFUSED with refusing a zone transfer as its example ('may not wish to "
        "perform a particular operation (e.g., zone transfer)'); NOTAUTH is defined for UPDATE (RFC 2136 2.2) "
        "and TSIG (RFC 8945). Either ends the transfer attempt of a secondary.",
        _xfr_refused),
]


# ------------------------------------------------------------------------------------------------ servers


@pytest.fixture(scope="module")
def nsd(tmp_path_factory):
    s = servers.NsdServer(tmp_path_factory.mktemp("nsd"))
    try:
        s.start()
        yield s
    finally:
        problem = s.crashed()
        s.stop()
        if problem:
            pytest.fail(problem, pytrace=False)


@pytest.fixture(scope="module")
def bulwark(module_procs):
    port = helpers.free_port()
    text = servers.bulwark_config(port, extra={"edns_udp_size": servers.EDNS_UDP_SIZE})
    g = module_procs.gateway(text, admin_port=0, wait_ports=[port])
    g.dns_port = port
    servers.wait_ready(g.proc, port, "bulwark", g.stderr_path)
    return g


# ------------------------------------------------------------------------------------------------ the diff


def test_dns_differential(nsd, bulwark):
    queries = querygen.generate(QUERIES, SEED)
    res = run.differential(queries, nsd.port, bulwark.dns_port, ALLOWED)
    REPORT.write_text(res.report("nsd", "bulwark"))
    print()
    print(res.summary())
    print(f"({res.seconds:.1f}s; no reply from either server: {res.no_reply_both}; report: {REPORT})")
    for rule in ALLOWED:
        print(f"  allowed {rule.name}: {res.allowed.get(rule.name, 0)}")
    assert bulwark.running(), "bulwark died during the differential run:\n" + bulwark.stderr_text()[-3000:]
    if res.unexplained:
        pytest.fail(f"{len(res.unexplained)} unexplained differences between NSD and Bulwark "
                    f"(by field: {dict(res.by_field.most_common())}); the first 20 "
                    f"(all in {REPORT}):\n\n" + "\n".join(res.report("nsd", "bulwark", limit=20).split("\n")[3:]),
                    pytrace=False)


def test_dns_differential_again_from_the_answer_cache(nsd, bulwark):
    """The same queries a second time: Bulwark now answers the UDP ones from its workers' answer caches
    (docs/dns-server.md), and must still answer exactly as NSD does."""
    queries = querygen.generate(QUERIES, SEED)
    res = run.differential(queries, nsd.port, bulwark.dns_port, ALLOWED)
    print()
    print(res.summary("dns diff (second pass, answer cache warm)"))
    assert bulwark.running()
    if res.unexplained:
        pytest.fail(f"{len(res.unexplained)} unexplained differences on the second pass: "
                    + "\n".join(res.report("nsd", "bulwark", limit=10).split("\n")[3:]), pytrace=False)


def test_generator_is_deterministic():
    """The same seed gives the same queries, byte for byte (a failure can be replayed)."""
    a, b = querygen.generate(300, SEED), querygen.generate(300, SEED)
    assert [(q.wire, q.transport, q.group) for q in a] == [(q.wire, q.transport, q.group) for q in b]
    assert [q.wire for q in querygen.generate(300, SEED + 1)] != [q.wire for q in a]


def test_allowed_table_is_documented():
    """Every allowed difference has a name, a predicate and a justification naming its reason."""
    names = [r.name for r in ALLOWED]
    assert len(names) == len(set(names))
    for r in ALLOWED:
        assert r.name and r.predicate and r.justification and callable(r.apply), r


# ------------------------------------------------------------------------------------------------ EDNS
# The ISC EDNS compliance suite's cases (https://gitlab.isc.org/isc-projects/DNS-Compliance-Testing),
# asked of both servers: the same expectations hold for NSD and for Bulwark.

SERVERS = ["nsd", "bulwark"]


@pytest.fixture(params=SERVERS)
def server_port(request):
    if request.param == "nsd":
        return request.getfixturevalue("nsd").port
    return request.getfixturevalue("bulwark").dns_port


def _opt(version=0, payload=4096, flags=0, options=()):
    rdata = b"".join(struct.pack("!HH", c, len(d)) + d for c, d in options)
    return b"\x00" + struct.pack("!HHIH", 41, payload, (version << 16) | flags, len(rdata)) + rdata


def _query(qname="example.com.", qtype="SOA", opt=None, rd=False, qid=0x1234):
    wire = struct.pack("!HHHHHH", qid, 0x0100 if rd else 0, 1, 0, 0, 1 if opt is not None else 0)
    wire += dns.name.from_text(qname).to_wire() + struct.pack("!HH", dns.rdatatype.from_text(qtype), 1)
    return wire + (opt or b"")


def _ask(port, wire, tcp=False):
    if tcp:
        reply = exchange.tcp_exchange(port, [wire], 5.0)[0]
    else:
        reply = exchange.udp_exchange(port, wire, 2.0)
    assert reply is not None, "no reply"
    return reply, dns.message.from_wire(reply)


def test_edns_plain(server_port):
    """dns: no OPT in the query -> NOERROR, AA, the SOA, and no OPT in the reply."""
    _, m = _ask(server_port, _query())
    assert m.rcode() == dns.rcode.NOERROR and m.flags & dns.flags.AA
    assert len(m.answer) == 1 and m.answer[0].rdtype == dns.rdatatype.SOA
    assert m.opt is None


def test_edns0(server_port):
    """edns: EDNS 0 -> NOERROR, the SOA, OPT version 0 with our UDP size (1232)."""
    _, m = _ask(server_port, _query(opt=_opt()))
    assert m.rcode() == dns.rcode.NOERROR and len(m.answer) == 1
    assert m.edns == 0 and m.payload == servers.EDNS_UDP_SIZE


def test_edns1_badvers(server_port):
    """edns1: EDNS version 1 -> BADVERS (extended rcode 16), OPT version 0, no answer (RFC 6891 6.1.3)."""
    _, m = _ask(server_port, _query(opt=_opt(version=1)))
    assert m.rcode() == dns.rcode.BADVERS
    assert m.edns == 0
    assert not m.answer


def test_edns_unknown_flag_ignored(server_port):
    """ednsflags: an undefined EDNS flag -> answered normally; the flag is not echoed (RFC 6891 6.1.4)."""
    _, m = _ask(server_port, _query(opt=_opt(flags=0x0080)))
    assert m.rcode() == dns.rcode.NOERROR and len(m.answer) == 1
    assert m.edns == 0 and m.ednsflags & 0xFFFF == 0


def test_edns_unknown_option_ignored(server_port):
    """ednsopt: an unknown option (100) -> answered normally; the option is not echoed (RFC 6891 6.1.2)."""
    _, m = _ask(server_port, _query(opt=_opt(options=[(100, b"")])))
    assert m.rcode() == dns.rcode.NOERROR and len(m.answer) == 1
    assert m.edns == 0 and not [o for o in m.options if o.otype == 100]


def test_edns1_unknown_option(server_port):
    """edns1opt: version 1 with an unknown option -> BADVERS, OPT version 0, the option not echoed."""
    _, m = _ask(server_port, _query(opt=_opt(version=1, options=[(100, b"")])))
    assert m.rcode() == dns.rcode.BADVERS and m.edns == 0
    assert not [o for o in m.options if o.otype == 100]


def test_edns_do_bit(server_port):
    """do: DO=1 -> NOERROR, the SOA, DO copied into the reply (RFC 3225 3)."""
    _, m = _ask(server_port, _query(opt=_opt(flags=0x8000)))
    assert m.rcode() == dns.rcode.NOERROR and len(m.answer) == 1
    assert m.ednsflags & dns.flags.DO


def test_edns_optlist(server_port):
    """optlist: NSID, ECS, COOKIE, EXPIRE together -> answered normally, none of the unrequested data
    causes an error (neither server is configured for NSID, ECS or cookies)."""
    ecs = struct.pack("!HBB", 1, 24, 0) + bytes([192, 0, 2])
    opts = [(3, b""), (8, ecs), (10, bytes(range(8))), (9, b"")]
    _, m = _ask(server_port, _query(opt=_opt(options=opts)))
    assert m.rcode() == dns.rcode.NOERROR and len(m.answer) == 1 and m.edns == 0
    assert not [o for o in m.options if o.otype in (3, 8, 9)]


def test_edns_tcp(server_port):
    """edns512tcp / ednstcp: EDNS 0 with a 512-byte size over TCP -> the full answer (TCP ignores the size)."""
    wire, m = _ask(server_port, _query("big300.example.com.", "A", opt=_opt(payload=512)), tcp=True)
    assert not m.flags & dns.flags.TC
    assert len(m.answer) == 1 and len(m.answer[0]) == 300
    assert len(wire) > 4096


def test_tc_at_512_without_edns(server_port):
    """No EDNS: an answer over 512 bytes (60 A records) -> TC=1 in at most 512 bytes."""
    wire, m = _ask(server_port, _query("big60.example.com.", "A"))
    assert m.flags & dns.flags.TC and len(wire) <= 512
    assert m.question[0].name == dns.name.from_text("big60.example.com.")


def test_edns512_truncated_keeps_opt(server_port):
    """edns512: EDNS size 512 and an answer over 512 bytes -> TC=1 within 512 bytes, with the question and an
    OPT record (RFC 6891 7: the minimal truncated response is the header, the question and an OPT)."""
    wire, m = _ask(server_port, _query("big60.example.com.", "A", opt=_opt(payload=512, flags=0x8000)))
    assert m.flags & dns.flags.TC and len(wire) <= 512
    assert len(m.question) == 1 and m.edns == 0 and m.ednsflags & dns.flags.DO


def test_edns_payload_below_512_is_512(server_port):
    """EDNS size < 512 is treated as 512 (RFC 6891 6.2.5): an answer between 100 and 512 bytes fits."""
    full, _ = _ask(server_port, _query("_sip._tcp.example.com.", "SRV", opt=_opt(payload=4096)))
    assert 100 < len(full) <= 512, len(full)
    for size in (0, 100, 511):
        wire, m = _ask(server_port, _query("_sip._tcp.example.com.", "SRV", opt=_opt(payload=size)))
        assert not m.flags & dns.flags.TC, size
        assert len(m.answer) == 1 and len(m.answer[0]) == 2, size


def test_tc_at_edns_size(server_port):
    """EDNS 1232 with 60 A records (about 1 kB) -> all of them; with 300 (about 5 kB) -> TC=1 within 1232
    bytes; EDNS 4096 with 300 -> still TC (the server's limit is 1232); TCP -> all 300."""
    wire, m = _ask(server_port, _query("big60.example.com.", "A", opt=_opt(payload=1232)))
    assert not m.flags & dns.flags.TC and len(m.answer[0]) == 60 and len(wire) <= 1232
    for size in (1232, 4096):
        wire, m = _ask(server_port, _query("big300.example.com.", "A", opt=_opt(payload=size)))
        assert m.flags & dns.flags.TC and len(wire) <= servers.EDNS_UDP_SIZE, size
    wire, m = _ask(server_port, _query("big300.example.com.", "A", opt=_opt(payload=1232)), tcp=True)
    assert not m.flags & dns.flags.TC and len(m.answer[0]) == 300


def _with_flags(wire, set_bits=0, opcode=None):
    flags = int.from_bytes(wire[2:4], "big") | set_bits
    if opcode is not None:
        flags = (flags & ~0x7800) | (opcode << 11)
    return wire[:2] + flags.to_bytes(2, "big") + wire[4:]


def test_dns_zflag_cleared(server_port):
    """zflag: Z=1 in the query -> answered, Z=0 in the reply (RFC 1035 4.1.1)."""
    wire, m = _ask(server_port, _with_flags(_query(), 0x0040))
    assert m.rcode() == dns.rcode.NOERROR and len(m.answer) == 1
    assert not int.from_bytes(wire[2:4], "big") & 0x0040


def test_dns_cd_answered(server_port):
    """cd: CD=1 in the query -> answered normally. (Whether CD comes back is compared by the differential
    test: NSD 4.6 clears it in answers from its unsigned zones and copies it into BADVERS.)"""
    _, m = _ask(server_port, _with_flags(_query(opt=_opt(flags=0x8000)), 0x0010))
    assert m.rcode() == dns.rcode.NOERROR and len(m.answer) == 1


def test_dns_unknown_opcode_notimp(server_port):
    """opcode: an unassigned opcode (15) -> NOTIMP."""
    reply = exchange.udp_exchange(server_port, _with_flags(_query(), opcode=15), 2.0)
    assert reply is not None and reply[3] & 0x0F == dns.rcode.NOTIMP and (reply[2] >> 3) & 0xF == 15


def test_dns_unknown_type_nodata(server_port):
    """type666: an unknown type at an existing name -> NOERROR, AA, no answer, the SOA in authority."""
    _, m = _ask(server_port, _query("www.example.com.", "TYPE666"))
    assert m.rcode() == dns.rcode.NOERROR and m.flags & dns.flags.AA and not m.answer
    assert [r.rdtype for r in m.authority] == [dns.rdatatype.SOA]


def test_tcp_several_queries_per_connection(server_port):
    """Three pipelined queries on one TCP connection -> three replies, matched by ID."""
    wires = [_query("www.example.com.", "A", qid=100 + i) for i in range(3)]
    replies = exchange.tcp_exchange(server_port, wires, 5.0)
    assert all(r is not None for r in replies)
    assert [struct.unpack("!H", r[:2])[0] for r in replies] == [100, 101, 102]
