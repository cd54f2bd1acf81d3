"""Access log lines, Prometheus metrics and the admin API (/healthz, /status)."""

import json
import re

import pytest

from helpers import parse_metrics, pool, wait_for

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


@pytest.fixture(scope="module")
def env(module_procs):
    o = module_procs.origin("o")
    gw = module_procs.gateway(
        routes=[{"name": "direct", "match": {"prefix": "/direct"}, "respond": {"body": "d"}},
                {"name": "api", "match": {"prefix": "/"}, "pool": "main"}],
        pools={"main": pool(o, health_check={"path": "/health", "interval": "300ms"})})
    return gw, o


def test_access_log_line_has_all_fields(env):
    gw, o = env
    body = b"z" * 123
    r = gw.request("POST", "/logged?q=1", body=body,
                   headers={"X-Request-Id": "log-test-1", "Host": "logs.test"})
    assert r.status == 200
    e = gw.wait_log(lambda e: e.get("request_id") == "log-test-1")
    for field in ("time", "request_id", "client", "method", "host", "path", "status", "bytes_in",
                  "bytes_out", "duration_ms", "route", "pool", "origin", "decision"):
        assert field in e, (field, e)
    assert RFC3339.match(e["time"]), e["time"]
    assert e["client"] == "127.0.0.1"
    assert e["method"] == "POST"
    assert e["host"] == "logs.test"
    assert e["path"] == "/logged?q=1"
    assert e["status"] == 200
    assert isinstance(e["bytes_in"], int) and e["bytes_in"] > 0  # exact counts: see the next test
    assert isinstance(e["bytes_out"], int) and e["bytes_out"] >= len(r.body)
    assert isinstance(e["duration_ms"], (int, float)) and e["duration_ms"] >= 0
    assert e["route"] == "api" and e["pool"] == "main" and e["origin"] == o.address
    assert e["decision"] == "proxy"


def test_access_log_byte_counts_match_the_wire(env):
    gw, o = env
    body = b"b" * 300
    request = (b"POST /bytes HTTP/1.1\r\nHost: x\r\nX-Request-Id: bytes-1\r\nContent-Length: 300\r\n"
               b"Connection: close\r\n\r\n" + body)
    with gw.raw() as c:
        c.send(request)  # head and body in one segment
        received = c.read_to_close()
    assert received.startswith(b"HTTP/1.1 200 ")
    e = gw.wait_log(lambda e: e.get("request_id") == "bytes-1")
    assert e["bytes_in"] == len(request), (e["bytes_in"], len(request))
    assert e["bytes_out"] == len(received), (e["bytes_out"], len(received))


def test_access_log_records_rejections_and_direct_answers(env):
    gw, o = env
    gw.get("/direct", headers={"X-Request-Id": "log-direct"})
    e = gw.wait_log(lambda e: e.get("request_id") == "log-direct")
    assert e["status"] == 200 and e["route"] == "direct" and e["pool"] == "" and e["origin"] == ""
    with gw.raw() as c:
        c.send("GET /rejected-log HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\n\r\n")
        r = c.read_response()
    rid = r.header("X-Request-Id")
    e = gw.wait_log(lambda e: e.get("request_id") == rid)
    assert e["status"] == 400
    assert e["decision"] != "proxy"


def test_access_log_to_file(procs, tmp_path):
    o = procs.origin("o")
    log = tmp_path / "access.log"
    gw = procs.gateway(pools={"main": pool(o)}, access_log={"path": str(log)})
    gw.get("/to-file", headers={"X-Request-Id": "file-1"})
    e = gw.wait_log(lambda e: e.get("request_id") == "file-1", path=log)
    assert e["path"] == "/to-file"
    assert not [x for x in gw.access_log() if x.get("request_id") == "file-1"], "also logged to stdout"


def test_metrics_request_counters_by_route_and_class(env):
    gw, o = env
    before2 = gw.metric("bulwark_requests_total", route="api", **{"class": "2xx"}) or 0
    before5 = gw.metric("bulwark_requests_total", route="api", **{"class": "5xx"}) or 0
    for _ in range(5):
        assert gw.get("/m").status == 200
    gw.get("/status/503")
    wait_for(lambda: gw.metric("bulwark_requests_total", route="api", **{"class": "2xx"}) >= before2 + 5,
             timeout=3, message="2xx counter")
    assert gw.metric("bulwark_requests_total", route="api", **{"class": "5xx"}) == before5 + 1


def test_metrics_duration_histogram(env):
    gw, o = env
    gw.get("/hist")
    samples = parse_metrics(gw.metrics())
    buckets = [(l["le"], v) for n, l, v in samples
               if n == "bulwark_request_duration_seconds_bucket" and l.get("route") == "api"]
    assert buckets, "no histogram buckets for route api"
    assert buckets[-1][0] == "+Inf"
    values = [v for _, v in buckets]
    assert values == sorted(values), "buckets are not cumulative"
    count = [v for n, l, v in samples if n == "bulwark_request_duration_seconds_count" and l.get("route") == "api"]
    total = [v for n, l, v in samples if n == "bulwark_request_duration_seconds_sum" and l.get("route") == "api"]
    assert count and count[0] == values[-1] and count[0] >= 1
    assert total and total[0] > 0


def test_metrics_origin_health_connections_and_rejections(env):
    gw, o = env
    text = gw.metrics()
    assert "# TYPE bulwark_requests_total counter" in text
    assert metric_line(text, "bulwark_origin_healthy", pool="main", origin=o.address) == 1
    with gw.raw() as c:  # an open client connection is counted
        c.send("GET /open HTTP/1.1\r\nHost: x\r\n\r\n")
        c.read_response()
        assert gw.metric("bulwark_active_connections") >= 1
    before = gw.metric("bulwark_rejected_requests_total", reason="parse_error") or 0
    with gw.raw() as c:
        c.send("BAD\r\n\r\n")
        c.read_response()
    assert gw.metric("bulwark_rejected_requests_total", reason="parse_error") == before + 1


def metric_line(text, name, **labels):
    from helpers import metric_value
    return metric_value(text, name, **labels)


def test_metrics_parse_as_prometheus_text(env):
    gw, o = env
    r = gw.admin("GET", "/metrics")
    assert r.status == 200
    assert r.header("Content-Type").startswith("text/plain")
    names = {n for n, _, _ in parse_metrics(r.body.decode())}
    for n in ("bulwark_requests_total", "bulwark_request_duration_seconds_bucket", "bulwark_origin_healthy",
              "bulwark_active_connections", "bulwark_rejected_requests_total"):
        assert n in names, n


def test_admin_healthz(env):
    gw, o = env
    r = gw.admin("GET", "/healthz")
    assert r.status == 200


def test_admin_status_json(env):
    gw, o = env
    s = gw.status()
    pools = {p["name"]: p for p in s["pools"]}
    assert "main" in pools
    origin = pools["main"]["origins"][0]
    assert origin["address"] == o.address
    assert origin["healthy"] is True


def test_admin_unknown_path_is_404(env):
    gw, o = env
    assert gw.admin("GET", "/nope").status == 404
