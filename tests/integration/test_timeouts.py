"""Origin-side timeouts (first byte, idle) and client-side timeouts (header, keep-alive)."""

import http.client
import time

import pytest

from helpers import pool


def test_first_byte_timeout_answers_504_with_a_clear_body(procs):
    o = procs.origin("slow")
    gw = procs.gateway(pools={"main": pool(o, retries=1, timeouts={"first_byte": "500ms"})})
    t = time.monotonic()
    r = gw.get("/delay/3000")
    elapsed = time.monotonic() - t
    assert r.status == 504, r
    assert b"timeout" in r.body.lower() or b"did not answer" in r.body.lower(), r.body
    # Not retried: the origin may have acted on the request. One timeout, not two.
    assert 0.4 <= elapsed < 2.5, elapsed
    assert o.count("/delay/3000") == 1
    assert gw.metric("bulwark_rejected_requests_total", reason="origin_timeout") >= 1


def test_route_timeout_overrides_the_pool(procs):
    o = procs.origin("slow")
    gw = procs.gateway(
        routes=[{"name": "patient", "match": {"host": "patient.test"}, "pool": "main",
                 "timeouts": {"first_byte": "3s"}},
                {"name": "hasty", "match": {"prefix": "/"}, "pool": "main"}],
        pools={"main": pool(o, timeouts={"first_byte": "300ms"})})
    assert gw.get("/delay/800", headers={"Host": "patient.test"}).status == 200
    assert gw.get("/delay/800").status == 504


def test_first_byte_timeout_of_route_without_override_uses_pool(procs):
    o = procs.origin("slow")
    gw = procs.gateway(
        routes=[{"name": "r", "match": {"prefix": "/"}, "pool": "main", "timeouts": {"connect": "1s"}}],
        pools={"main": pool(o, timeouts={"first_byte": "400ms"})})
    t = time.monotonic()
    r = gw.get("/delay/2000")
    assert r.status == 504, r
    assert time.monotonic() - t < 1.5


def test_idle_timeout_cuts_a_stalled_response_body(procs):
    o = procs.origin("staller")
    gw = procs.gateway(pools={"main": pool(o, timeouts={"first_byte": "2s", "idle": "500ms"})})
    conn = gw.connection(timeout=10)
    t = time.monotonic()
    conn.request("GET", "/stall/3000")
    resp = conn.getresponse()
    assert resp.status == 200  # the head went out before the stall
    with pytest.raises((http.client.IncompleteRead, ConnectionError)):
        resp.read()
    elapsed = time.monotonic() - t
    conn.close()
    assert elapsed < 2.5, f"the stalled response was not cut by the 500ms idle timeout ({elapsed:.2f}s)"
    entry = gw.wait_log(lambda e: e["path"] == "/stall/3000")
    assert entry["status"] in (200, 499, 504)


def test_stall_shorter_than_idle_timeout_completes(procs):
    o = procs.origin("staller")
    gw = procs.gateway(pools={"main": pool(o, timeouts={"idle": "2s"})})
    r = gw.get("/stall/300")
    assert r.status == 200 and len(r.body) == 2048


def test_client_header_timeout_answers_408_and_closes(procs):
    o = procs.origin("o")
    gw = procs.gateway(pools={"main": pool(o)}, client_timeouts={"header": "500ms"})
    with gw.raw(timeout=5) as c:
        c.send("GET / HTTP/1.1\r\nHost: x\r\n")  # never finished
        t = time.monotonic()
        r = c.read_response()
        assert r.status == 408, r
        assert c.closed_by_peer(timeout=3)
        assert time.monotonic() - t < 2.5
    assert o.stats()["requests"] == 0


def test_client_keep_alive_timeout_closes_idle_connection(procs):
    o = procs.origin("o")
    gw = procs.gateway(pools={"main": pool(o)}, client_timeouts={"keep_alive": "500ms"})
    with gw.raw(timeout=5) as c:
        c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert c.read_response().status == 200
        t = time.monotonic()
        assert c.closed_by_peer(timeout=4), "idle keep-alive connection was not closed"
        assert 0.3 < time.monotonic() - t < 2.5
