"""Section-by-section comparison of two DNS responses, and the mechanism for named allowed differences.

normalize(wire) turns a response into plain data:
  header   id, QR, opcode, AA, TC, RD, RA, Z, AD, CD and the four counts (straight from the wire)
  rcode    full rcode (header + OPT extended bits)
  question [(name as received, case kept), class, type]
  answer / authority / additional: RRsets keyed by (owner lower-cased, class, type); each RRset is the
           sorted multiset of (owner as sent, TTL, rdata text) (order inside an RRset does not matter,
           duplicates and TTLs do). The answer section also keeps the order of its RRsets (a CNAME chain
           is read in order); authority and additional are compared as sets of RRsets.
  opt      None or {payload, version, flags (the 16 bits), options [(code, hex)] in order}
diff(a, b) lists the fields that differ. An allowed difference (class Allowed) is a named rule with a
predicate (when it applies), a normalisation (what it makes equal) and a justification; a pair whose
differences all disappear after applying the rules that apply is an allowed difference, else unexplained.
"""

import copy
import struct
from dataclasses import dataclass
from typing import Callable, Optional

import dns.exception
import dns.message
import dns.rdataclass
import dns.rdatatype

SECTIONS = ("answer", "authority", "additional")
HEADER_BITS = (("QR", 0x8000), ("AA", 0x0400), ("TC", 0x0200), ("RD", 0x0100), ("RA", 0x0080), ("Z", 0x0040),
               ("AD", 0x0020), ("CD", 0x0010))


def normalize(wire):
    if wire is None:
        return None
    if len(wire) < 12:
        return {"unparseable": f"{len(wire)} bytes", "hex": wire.hex()}
    qid, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", wire[:12])
    header = {"id": qid, "opcode": (flags >> 11) & 0xF, "counts": (qd, an, ns, ar)}
    for bit, mask in HEADER_BITS:
        header[bit] = bool(flags & mask)
    try:  # the opcode is kept from the raw header; dnspython refuses unassigned ones, so parse with 0
        m = dns.message.from_wire(_opcode0(wire), one_rr_per_rrset=True)
    except (dns.exception.DNSException, ValueError, IndexError, struct.error) as e:
        return {"header": header, "rcode": flags & 0xF, "unparseable": f"{type(e).__name__}: {e}",
                "hex": wire.hex()}
    out = {"header": header, "rcode": int(m.rcode())}
    sections = m.sections
    out["question"] = [(r.name.to_text(), int(r.rdclass), int(r.rdtype)) for r in sections[0]]
    for i, sec in enumerate(SECTIONS, start=1):
        order = []
        rrsets = {}
        for rrset in sections[i]:
            key = (rrset.name.to_text().lower(), int(rrset.rdclass), int(rrset.rdtype))
            if key not in rrsets:
                order.append(key)
                rrsets[key] = []
            for rd in rrset:
                rrsets[key].append((rrset.name.to_text(), rrset.ttl, rd.to_text()))
        out[sec] = {"order": order, "rrsets": {k: tuple(sorted(v)) for k, v in rrsets.items()}}
    if m.opt is not None:
        out["opt"] = {
            "payload": m.payload,
            "version": m.edns,
            "flags": m.ednsflags & 0xFFFF,
            "options": [(o.otype, o.to_wire().hex()) for o in m.options],
        }
    else:
        out["opt"] = None
    return out


def _opcode0(wire):
    return wire[:2] + bytes([wire[2] & 0x87]) + wire[3:]


def diff(a, b):
    """{field: (a value, b value)} for every field that differs."""
    if a is None or b is None:
        return {} if a is None and b is None else {"presence": ("no reply" if a is None else "reply",
                                                                "no reply" if b is None else "reply")}
    d = {}
    if "unparseable" in a or "unparseable" in b:
        if a.get("hex") != b.get("hex") or a.get("unparseable") != b.get("unparseable"):
            d["unparseable"] = (a.get("unparseable", "ok"), b.get("unparseable", "ok"))
        return d
    for k in a["header"]:
        if a["header"][k] != b["header"][k]:
            d["header." + k] = (a["header"][k], b["header"][k])
    if a["rcode"] != b["rcode"]:
        d["rcode"] = (a["rcode"], b["rcode"])
    if a["question"] != b["question"]:
        d["question"] = (a["question"], b["question"])
    for sec in SECTIONS:
        ra, rb = a[sec]["rrsets"], b[sec]["rrsets"]
        if ra != rb:
            d[sec] = (_missing(ra, rb), _missing(rb, ra))
        elif sec == "answer" and a[sec]["order"] != b[sec]["order"]:
            d["answer.order"] = (a[sec]["order"], b[sec]["order"])
    oa, ob = a["opt"], b["opt"]
    if (oa is None) != (ob is None):
        d["opt"] = (oa, ob)
    elif oa is not None:
        for k in oa:
            if oa[k] != ob[k]:
                d["opt." + k] = (oa[k], ob[k])
    return d


def _missing(x, y):
    """RRsets (as readable strings) in x that are not equal in y."""
    out = []
    for key, recs in x.items():
        if y.get(key) != recs:
            out.extend(f"{o} {t} {dns.rdataclass.to_text(key[1])} {dns.rdatatype.to_text(key[2])} {r}"
                       for o, t, r in recs)
    return out


@dataclass
class Allowed:
    """A named, justified allowed difference. apply(query, a, b) returns normalised copies (a', b') when the
    predicate holds, else None. It must only touch what the justification covers."""

    name: str
    predicate: str
    justification: str
    apply: Callable


@dataclass
class Verdict:
    status: str  # "identical" | "allowed" | "unexplained"
    rules: list
    remaining: dict
    first: dict


def judge(query, a, b, allowed) -> Verdict:
    d0 = diff(a, b)
    if not d0:
        return Verdict("identical", [], {}, {})
    d = d0
    used = []
    for rule in allowed:
        res = rule.apply(query, copy.deepcopy(a), copy.deepcopy(b))
        if res is None:
            continue
        na, nb = res
        nd = diff(na, nb)
        if nd != d:
            used.append(rule.name)
            a, b, d = na, nb, nd
        if not d:
            return Verdict("allowed", used, {}, d0)
    return Verdict("unexplained", used, d, d0)


def render(wire):
    """Readable form of a response for failure messages and the report."""
    if wire is None:
        return "(no reply)"
    try:
        opcode = (wire[2] >> 3) & 0xF if len(wire) > 2 else 0
        text = dns.message.from_wire(_opcode0(wire)).to_text()
        return text.replace("opcode QUERY", f"opcode {opcode}", 1) if opcode else text
    except Exception as e:  # noqa: BLE001 - readable form only
        return f"(unparseable: {type(e).__name__}: {e}) {wire.hex()}"


def short(d, limit=300):
    parts = []
    for k, (x, y) in d.items():
        parts.append(f"{k}: {x!r} | {y!r}")
    s = "; ".join(parts)
    return s if len(s) <= limit else s[:limit] + "..."
