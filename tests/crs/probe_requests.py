#!/usr/bin/python3
"""Sends every CRS test request (built exactly as run_crs.py builds it) to a server and prints what
came back, without markers or logs: which requests does a proxy's own HTTP parser refuse before its WAF
could see them?

    probe_requests.py --host 127.0.0.1 --port P [--tests DIR] [--only 920100,920270-4] [--all]

Behind the proxy there should be tests/crs/origin.py, which answers 200 to everything: any other
answer (or an error) comes from the proxy. Prints one line per test whose answer is not 200
(`--all`: every test): `TITLE  STATUS-or-error  expected: OUTPUT`, then a count.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run_crs  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", required=True, type=int)
    ap.add_argument("--tests", default=os.environ.get("CRS_TESTS_DIR", run_crs.DEFAULT_TESTS))
    ap.add_argument("--only")
    ap.add_argument("--timeout", type=float, default=3.0)
    ap.add_argument("--all", action="store_true", help="print every test, not only the non-200 ones")
    args = ap.parse_args(argv)
    if not os.path.isdir(args.tests):
        print(f"probe: tests folder missing: {args.tests}")
        return 0
    tests = run_crs.select_tests(run_crs.load_tests(args.tests), args.only)
    odd = 0
    for t in tests:
        if t.skip:
            continue
        for st in t.stages:
            try:
                req = run_crs.build_request(st.input)
            except run_crs.BuildError as e:
                print(f"{t.title}  build error: {e}")
                continue
            method = str(st.input.get("method", "GET")).strip().upper()
            r = run_crs.send_raw(args.host, args.port, req, args.timeout, head_request=(method == "HEAD"))
            what = str(r.status) if r.status is not None else f"error ({r.error})"
            if r.status != 200:
                odd += 1
            if args.all or r.status != 200:
                exp = {k: v for k, v in st.output.items()}
                print(f"{t.title}  {what}  expected: {exp}")
    print(f"probe: {odd} requests not answered 200")
    return 0


if __name__ == "__main__":
    sys.exit(main())
