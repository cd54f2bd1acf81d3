"""Headers the gateway adds (X-Forwarded-*, Via, X-Request-Id) and hop-by-hop headers it must drop."""

import re

import pytest

from helpers import pool


@pytest.fixture(scope="module")
def env(module_procs):
    o = module_procs.origin("o")
    gw = module_procs.gateway(pools={"main": pool(o)})
    return gw, o


def test_origin_sees_forwarding_headers(env):
    gw, o = env
    r = gw.get("/fwd", headers={"Host": "shop.test:8443"})
    assert r.status == 200
    h = r.json()["headers"]
    assert h["x-forwarded-for"] == "127.0.0.1"
    assert h["x-forwarded-proto"] == "http"
    assert h["x-forwarded-host"] == "shop.test:8443"
    assert h["host"] == "shop.test:8443"
    assert "bulwark" in h["via"]


def test_client_supplied_forwarding_headers_are_not_trusted(env):
    gw, o = env
    r = gw.get("/fwd-spoof", headers={"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Proto": "https",
                                      "X-Forwarded-Host": "evil.test"})
    h = r.json()["headers"]
    # The client address is the one the gateway saw (appending to a client's list is allowed, but the
    # last hop must be the real peer); the proto is the listener's.
    assert h["x-forwarded-for"].split(",")[-1].strip() == "127.0.0.1"
    assert h["x-forwarded-proto"] == "http"
    assert h.get("x-forwarded-host") != "evil.test"


def test_valid_request_id_is_kept_and_returned(env):
    gw, o = env
    r = gw.get("/rid", headers={"X-Request-Id": "client-id-123"})
    assert r.json()["headers"]["x-request-id"] == "client-id-123"
    assert r.header("X-Request-Id") == "client-id-123"


def test_missing_request_id_is_generated_as_32_hex_and_returned(env):
    gw, o = env
    ids = set()
    for _ in range(5):
        r = gw.get("/rid-gen")
        sent = r.json()["headers"]["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", sent), sent
        assert r.header("X-Request-Id") == sent
        ids.add(sent)
    assert len(ids) == 5


def test_invalid_request_id_is_replaced(env):
    gw, o = env
    r = gw.get("/rid-bad", headers={"X-Request-Id": "bad id with spaces <script>"})
    sent = r.json()["headers"]["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", sent), sent
    assert r.header("X-Request-Id") == sent


def test_request_id_on_gateway_generated_responses(env):
    gw, o = env
    with gw.raw() as c:
        c.send("GET /x HTTP/1.1\r\nHost: x\r\nX-A: a\x00\r\n\r\n")
        r = c.read_response()
    assert r.status == 400
    assert re.fullmatch(r"[0-9a-f]{32}", r.header("X-Request-Id") or ""), r.headers


def test_hop_by_hop_request_headers_are_not_forwarded(env):
    gw, o = env
    with gw.raw() as c:
        c.send("GET /hop HTTP/1.1\r\nHost: x\r\nConnection: close, X-Foo\r\nX-Foo: secret\r\n"
               "Keep-Alive: timeout=5\r\nTE: trailers\r\nUpgrade: websocket\r\n"
               "Proxy-Connection: keep-alive\r\nX-Kept: yes\r\n\r\n")
        r = c.read_response()
    assert r.status == 200, r
    h = r.json()["headers"]
    for name in ("x-foo", "keep-alive", "te", "upgrade", "proxy-connection"):
        assert name not in h, (name, h)
    assert "x-foo" not in h.get("connection", "").lower() and "close" not in h.get("connection", "").lower()
    assert h["x-kept"] == "yes"


def test_hop_by_hop_response_headers_are_not_forwarded(env):
    gw, o = env
    r = gw.get("/hop-resp?hdr=Connection:X-Bar&hdr=X-Bar:1&hdr=Keep-Alive:timeout%3D5"
               "&hdr=Upgrade:foo&hdr=X-Fine:ok")
    assert r.status == 200
    assert r.header("X-Bar") is None
    assert r.header("Keep-Alive") is None
    assert r.header("Upgrade") is None
    assert "x-bar" not in (r.header("Connection") or "").lower()
    assert r.header("X-Fine") == "ok"
    assert "bulwark" in (r.header("Via") or "")


def test_response_framing_headers_are_the_gateways(env):
    gw, o = env
    with gw.raw() as c:
        c.send("GET /large/100 HTTP/1.1\r\nHost: x\r\n\r\n")
        r = c.read_response()
    assert r.header_all("Content-Length") == ["100"]
    assert r.header("Transfer-Encoding") is None
