"""Graceful shutdown: SIGTERM drains in-flight requests, refuses new connections, exits 0."""

import signal
import socket
import threading
import time

from helpers import pool


def test_sigterm_completes_in_flight_request_and_refuses_new_connections(procs):
    o = procs.origin("o")
    gw = procs.gateway(pools={"main": pool(o)}, client_timeouts={"drain": "5s"})
    result = {}

    def in_flight():
        try:
            r = gw.get("/delay/1500", timeout=10)
            result["status"] = r.status
            result["body"] = r.body
        except Exception as e:  # noqa: BLE001
            result["error"] = repr(e)

    t = threading.Thread(target=in_flight)
    t.start()
    deadline = time.monotonic() + 3
    while o.count("/delay/1500") == 0:
        assert time.monotonic() < deadline, "the request never reached the origin"
        time.sleep(0.02)
    sent = time.monotonic()
    gw.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    # New connections are refused while the in-flight request drains.
    try:
        socket.create_connection(("127.0.0.1", gw.port), timeout=1).close()
        refused = False
    except ConnectionRefusedError:
        refused = True
    assert gw.running(), "bulwark exited before the in-flight request finished"
    t.join(timeout=10)
    assert result.get("status") == 200, result
    rc = gw.proc.wait(timeout=6)
    gw.expected_exit = True
    elapsed = time.monotonic() - sent
    assert rc == 0, gw.stderr_text()
    assert elapsed < 5.5, f"exit took {elapsed:.1f}s with drain 5s"
    assert refused, "a new connection was accepted after SIGTERM"


def test_sigterm_with_idle_keep_alive_connections_exits_promptly(procs):
    o = procs.origin("o")
    gw = procs.gateway(pools={"main": pool(o)}, client_timeouts={"drain": "5s"})
    conns = [gw.raw() for _ in range(4)]
    for c in conns:
        c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert c.read_response().status == 200
    t = time.monotonic()
    gw.send_signal(signal.SIGTERM)
    rc = gw.proc.wait(timeout=8)
    gw.expected_exit = True
    assert rc == 0
    assert time.monotonic() - t < 2, "idle connections held the drain"
    for c in conns:
        assert c.closed_by_peer(timeout=1)
        c.close()


def test_drain_deadline_cuts_requests_that_take_too_long(procs):
    o = procs.origin("o")
    gw = procs.gateway(pools={"main": pool(o)}, client_timeouts={"drain": "1s"})
    result = {}

    def slow():
        try:
            result["status"] = gw.get("/delay/6000", timeout=10).status
        except Exception as e:  # noqa: BLE001
            result["error"] = repr(e)

    t = threading.Thread(target=slow)
    t.start()
    deadline = time.monotonic() + 3
    while o.count("/delay/6000") == 0:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    start = time.monotonic()
    gw.send_signal(signal.SIGTERM)
    rc = gw.proc.wait(timeout=8)
    gw.expected_exit = True
    t.join(timeout=10)
    assert rc == 0
    assert time.monotonic() - start < 3, "drain deadline not enforced"
    assert "status" not in result or result["status"] != 200, result


def test_sigint_also_stops_gracefully(procs):
    o = procs.origin("o")
    gw = procs.gateway(pools={"main": pool(o)})
    gw.send_signal(signal.SIGINT)
    assert gw.proc.wait(timeout=8) == 0
    gw.expected_exit = True


def test_admin_healthz_reports_draining_during_shutdown(procs):
    o = procs.origin("o")
    gw = procs.gateway(pools={"main": pool(o)}, client_timeouts={"drain": "5s"})
    assert gw.admin("GET", "/healthz").status == 200
    t = threading.Thread(target=lambda: gw.get("/delay/2500", timeout=10))
    t.start()
    deadline = time.monotonic() + 3
    while o.count("/delay/2500") == 0:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    gw.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    # While the in-flight request drains, a load balancer polling /healthz must learn that this instance
    # is going away: 503 "draining" (AdminServer has that answer) or at least a refused connection, not
    # a connection that hangs until the process exits.
    from helpers import http_request
    try:
        r = http_request(gw.admin_port, "GET", "/healthz", timeout=1.5)
        status = r.status
    except ConnectionRefusedError:
        status = "refused"
    except OSError as e:
        status = repr(e)
    t.join(timeout=10)
    gw.proc.wait(timeout=8)
    gw.expected_exit = True
    assert status in (503, "refused"), f"GET /healthz during the drain: {status}"
