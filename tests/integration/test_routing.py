"""Routing: host (exact, wildcard), prefix, direct responses, header edits, body limits, no route."""

import pytest

from helpers import pool


@pytest.fixture(scope="module")
def env(module_procs):
    a = module_procs.origin("a")
    b = module_procs.origin("b")
    c = module_procs.origin("c")
    routes = [
        {"name": "hello", "match": {"prefix": "/hello"},
         "respond": {"status": 201, "body": "hi there\n", "content_type": "text/x-greeting"}},
        {"name": "api", "match": {"host": "api.test"}, "pool": "pa"},
        {"name": "wild", "match": {"host": "*.wild.test"}, "pool": "pb"},
        {"name": "multi", "match": {"host": ["one.test", "two.test"], "prefix": "/m/"}, "pool": "pb"},
        {"name": "edits", "match": {"prefix": "/c/"}, "pool": "pc",
         "request_headers": {"add": {"X-Added": "yes", "X-Replaced": "gateway"}, "remove": ["X-Drop"]},
         "response_headers": {"add": {"X-Resp": "1"}, "remove": ["X-Origin"]}},
        {"name": "small", "match": {"prefix": "/small"}, "pool": "pa", "max_body": "1k"},
        {"name": "main", "match": {"host": "main.test"}, "pool": "pa"},
    ]
    gw = module_procs.gateway(routes=routes, pools={"pa": pool(a), "pb": pool(b), "pc": pool(c)})
    return gw, a, b, c


def test_exact_host_routes_to_its_pool(env):
    gw, a, b, c = env
    assert gw.get("/x", headers={"Host": "api.test"}).origin == "a"


def test_host_match_ignores_case_and_port(env):
    gw, a, b, c = env
    assert gw.get("/x", headers={"Host": "API.Test:8080"}).origin == "a"


def test_wildcard_host_matches_subdomain(env):
    gw, a, b, c = env
    assert gw.get("/x", headers={"Host": "shop.wild.test"}).origin == "b"


def test_wildcard_host_does_not_match_the_bare_domain(env):
    gw, a, b, c = env
    r = gw.get("/x", headers={"Host": "wild.test"})
    assert r.status == 404, r


def test_host_list_with_prefix(env):
    gw, a, b, c = env
    assert gw.get("/m/1", headers={"Host": "two.test"}).origin == "b"
    assert gw.get("/other", headers={"Host": "two.test"}).status == 404


def test_prefix_routes_and_first_match_wins(env):
    gw, a, b, c = env
    assert gw.get("/c/thing", headers={"Host": "api.test"}).origin == "a"  # api route comes first
    assert gw.get("/c/thing", headers={"Host": "nowhere.test"}).status == 200
    assert gw.get("/cx", headers={"Host": "nowhere.test"}).status == 404


def test_direct_respond_route_answers_without_origin(env):
    gw, a, b, c = env
    before = sum(o.stats()["requests"] for o in (a, b, c))
    r = gw.get("/hello", headers={"Host": "api.test"})
    assert r.status == 201
    assert r.body == b"hi there\n"
    assert r.header("Content-Type") == "text/x-greeting"
    assert r.header("X-Origin") is None
    assert sum(o.stats()["requests"] for o in (a, b, c)) == before


def test_request_and_response_header_edits(env):
    gw, a, b, c = env
    r = gw.get("/c/edit", headers={"X-Drop": "1", "X-Replaced": "client", "X-Keep": "k"})
    assert r.status == 200
    h = r.json()["headers"]
    assert h["x-added"] == "yes"
    assert h["x-replaced"] == "gateway"
    assert "x-drop" not in h
    assert h["x-keep"] == "k"
    assert r.header("X-Resp") == "1"
    assert r.header("X-Origin") is None


def test_max_body_content_length_over_limit_is_413(env):
    gw, a, b, c = env
    before = a.count("/small")
    r = gw.request("POST", "/small", body=b"x" * 2048)
    assert r.status == 413, r
    assert a.count("/small") == before


def test_max_body_under_limit_is_forwarded(env):
    gw, a, b, c = env
    r = gw.request("POST", "/small", body=b"x" * 1000)
    assert r.status == 200 and r.json()["body_bytes"] == 1000


def test_max_body_chunked_over_limit_is_413(env):
    gw, a, b, c = env
    with gw.raw() as conn:
        conn.send("POST /small HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(4):
            conn.send(b"200\r\n" + b"y" * 512 + b"\r\n")
        conn.send("0\r\n\r\n")
        r = conn.read_response()
    assert r.status == 413, r


def test_unmatched_request_is_404(env):
    gw, a, b, c = env
    r = gw.get("/zzz", headers={"Host": "unknown.test"})
    assert r.status == 404
    assert gw.metric("bulwark_rejected_requests_total", reason="no_route") >= 1
