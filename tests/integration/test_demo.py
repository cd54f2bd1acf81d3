"""scripts/demo.sh (make demo): starts two origins and the gateway, fails over, stops everything."""

import os
import signal
import subprocess
import time

import pytest

from helpers import ROOT, http_request, port_busy, wait_for

DEMO_PORTS = (8080, 9901, 18081, 18082)


def test_demo_script_serves_fails_over_and_cleans_up(tmp_path):
    busy = [p for p in DEMO_PORTS if port_busy(p)]
    if busy:
        pytest.skip(f"the demo needs 127.0.0.1 ports {DEMO_PORTS}; in use: {busy}")
    import helpers
    env = dict(os.environ, BULWARK=str(helpers.BULWARK), PYTHON=helpers.PYTHON, TMPDIR=str(tmp_path))
    out = open(tmp_path / "demo.out", "wb")
    proc = subprocess.Popen(["bash", str(ROOT / "scripts" / "demo.sh")], stdout=out, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    helpers.ALL_PROCS.append(proc)
    try:
        text = lambda: (tmp_path / "demo.out").read_text(errors="replace")  # noqa: E731
        wait_for(lambda: "Bulwark demo is running" in text() or proc.poll() is not None, timeout=15,
                 message="the demo banner")
        assert proc.poll() is None, text()
        r = http_request(8080, "GET", "/anything")
        assert r.status == 200 and r.headers.get("X-Origin") == "cloud-A", r
        r = http_request(8080, "GET", "/hello")
        assert r.status == 200 and b"hello" in r.body
        assert http_request(9901, "GET", "/status").status == 200
        assert b"bulwark_requests_total" in http_request(9901, "GET", "/metrics").body
        # The banner tells how to make cloud A fail its health checks: do it.
        fail_file = [w for w in text().split() if w.endswith("cloud-a.unhealthy")][0]
        open(fail_file, "w").close()
        wait_for(lambda: http_request(8080, "GET", "/").headers.get("X-Origin") == "cloud-B", timeout=8,
                 message="failover to cloud B")
        os.unlink(fail_file)
        wait_for(lambda: http_request(8080, "GET", "/").headers.get("X-Origin") == "cloud-A", timeout=8,
                 message="failback to cloud A")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: the whole foreground group
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        out.close()
    # Everything the demo started is gone.
    wait_for(lambda: not any(port_busy(p) for p in DEMO_PORTS), timeout=5, message="demo ports released")
    assert "demo: stopped" in (tmp_path / "demo.out").read_text(errors="replace")
