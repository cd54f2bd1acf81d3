"""Runs the differential comparison between two servers (reference A = NSD, candidate B).

    # developing the harness without Bulwark: NSD against Knot
    cd tests/integration && /usr/bin/python3 -m dns_diff.run --candidate knot [-n 4000] [--seed 5]

differential(...) is what test_dns_diff.py calls; it returns a Result with the counts, the verdicts and a
report text (every unexplained difference: query, reference answer, candidate answer).
"""

import collections
import concurrent.futures
import time
from dataclasses import dataclass, field

from . import compare, exchange


@dataclass
class Result:
    total: int = 0
    identical: int = 0
    allowed: collections.Counter = field(default_factory=collections.Counter)  # rule name -> count
    allowed_total: int = 0
    unexplained: list = field(default_factory=list)  # (query, verdict, wire_a, wire_b)
    by_field: collections.Counter = field(default_factory=collections.Counter)  # unexplained, by field
    allowed_examples: dict = field(default_factory=dict)  # rule name -> [(query, first diff)] (3 at most)
    seconds: float = 0.0
    no_reply_both: int = 0

    def summary(self, label="dns diff"):
        kinds = ", ".join(f"{k}={v}" for k, v in sorted(self.allowed.items())) or "none"
        return (f"{label}: {self.total} queries, {self.identical} identical, {self.allowed_total} allowed "
                f"differences ({kinds}), {len(self.unexplained)} unexplained")

    def report(self, name_a, name_b, limit=None):
        lines = [self.summary(), f"unexplained by field: {dict(self.by_field.most_common())}", ""]
        if self.allowed_examples:
            lines.append("allowed differences, first examples:")
            for rule, ex in sorted(self.allowed_examples.items()):
                for q, d in ex:
                    lines.append(f"  {rule}: #{q.index} [{q.category}] {q.desc[:150]}")
                    lines.append(f"      {compare.short(d, 300)}")
            lines.append("")
        groups = collections.OrderedDict()  # (category, differing fields) -> [query indexes]
        for q, v, _, _ in self.unexplained:
            groups.setdefault((q.category, " ".join(sorted(v.remaining))), []).append(q.index)
        if groups:
            lines.append("unexplained by query category and differing fields (count, first queries):")
            for (cat, fields), idx in sorted(groups.items(), key=lambda kv: -len(kv[1])):
                lines.append(f"  {len(idx):5d}  {cat:14s} {fields}   e.g. #{', #'.join(map(str, idx[:3]))}")
            lines.append("")
        for n, (q, v, wa, wb) in enumerate(self.unexplained):
            if limit is not None and n >= limit:
                lines.append(f"... {len(self.unexplained) - limit} more")
                break
            lines.append(f"=== #{q.index} [{q.category}] {q.desc}")
            lines.append(f"differs: {compare.short(v.remaining, 2000)}")
            if v.rules:
                lines.append(f"(after allowed rules: {', '.join(v.rules)})")
            lines.append(f"--- {name_a}:")
            lines.append(compare.render(wa))
            lines.append(f"--- {name_b}:")
            lines.append(compare.render(wb))
            lines.append("")
        return "\n".join(lines)


def differential(queries, port_a, port_b, allowed, timeout=1.0):
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        fa = pool.submit(exchange.run, port_a, queries, timeout)
        fb = pool.submit(exchange.run, port_b, queries, timeout)
        ra, rb = fa.result(), fb.result()
    # A reply missing on one side, or on both for a well-formed query, gets a second, unhurried look.
    again = [q for q in queries if
             ((ra[q.index] is None) != (rb[q.index] is None) or
              (ra[q.index] is None and rb[q.index] is None and not q.malformed))]
    if again:
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            fa = pool.submit(exchange.retry, port_a, [q for q in again if ra[q.index] is None])
            fb = pool.submit(exchange.retry, port_b, [q for q in again if rb[q.index] is None])
            ra.update({k: v for k, v in fa.result().items() if v is not None})
            rb.update({k: v for k, v in fb.result().items() if v is not None})
    res = Result(total=len(queries))
    for q in queries:
        wa, wb = ra[q.index], rb[q.index]
        if wa is None and wb is None:
            res.no_reply_both += 1
        v = compare.judge(q, compare.normalize(wa), compare.normalize(wb), allowed)
        if v.status == "identical":
            res.identical += 1
        elif v.status == "allowed":
            res.allowed_total += 1
            for r in v.rules:
                res.allowed[r] += 1
                ex = res.allowed_examples.setdefault(r, [])
                if len(ex) < 3:
                    ex.append((q, v.first))
        else:
            res.unexplained.append((q, v, wa, wb))
            for k in v.remaining:
                res.by_field[k] += 1
    res.seconds = time.monotonic() - t0
    return res


def _main():
    import argparse
    import sys
    import tempfile
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # helpers.py
    from . import querygen, servers

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--candidate", choices=["knot", "nsd"], default="knot")
    ap.add_argument("-n", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--report", default="/tmp/dns-diff-knot-report.txt")
    args = ap.parse_args()
    d = Path(tempfile.mkdtemp(prefix="dns-diff-"))
    a = servers.NsdServer(d / "nsd").start()
    b = (servers.KnotServer(d / "knot") if args.candidate == "knot" else servers.NsdServer(d / "nsd2")).start()
    try:
        t = time.monotonic()
        qs = querygen.generate(args.n, args.seed)
        print(f"generated {len(qs)} queries in {time.monotonic() - t:.1f}s")
        res = differential(qs, a.port, b.port, [])
        print(f"exchanged and compared in {res.seconds:.1f}s; no reply from either: {res.no_reply_both}")
        Path(args.report).write_text(res.report("nsd", args.candidate))
        print(res.summary())
        print(f"unexplained by field: {dict(res.by_field.most_common())}")
        print(f"report: {args.report}")
    finally:
        a.stop()
        b.stop()


if __name__ == "__main__":
    _main()
