"""Configuration reload: SIGHUP and POST /reload, invalid files, and reloads under load."""

import re
import signal
import time

from helpers import LoadLoop, pool, wait_for


def respond_routes(body, extra_header="v1"):
    return [{"name": "direct", "match": {"prefix": "/direct"}, "respond": {"body": body}},
            {"name": "api", "match": {"prefix": "/"}, "pool": "main",
             "response_headers": {"add": {"X-Config": extra_header}}}]


def test_sighup_applies_changed_route(procs):
    o = procs.origin("o")
    gw = procs.gateway(routes=respond_routes("one\n"), pools={"main": pool(o)})
    assert gw.get("/direct").body == b"one\n"
    gw.reconfigure(routes=respond_routes("two\n"))
    gw.reload()
    wait_for(lambda: gw.get("/direct").body == b"two\n", timeout=5, message="the new respond body")
    assert gw.metric("bulwark_config_reloads_total", result="ok") == 1
    assert gw.status()["generation"] == 2


def test_invalid_file_on_sighup_is_logged_and_old_config_keeps_serving(procs):
    o = procs.origin("o")
    gw = procs.gateway(routes=respond_routes("old\n"), pools={"main": pool(o)})
    good = gw.config_text
    gw.write_config(good.replace("listeners:", "listeners:\n  bogus_key: [", 1))
    gw.reload()
    wait_for(lambda: re.search(re.escape(str(gw.config_path)) + r":\d+", gw.stderr_text()), timeout=5,
             message="FILE:LINE in stderr")
    wait_for(lambda: gw.metric("bulwark_config_reloads_total", result="error") == 1, timeout=3,
             message="error reload counter")
    assert gw.get("/direct").body == b"old\n"
    assert gw.get("/proxied").status == 200
    assert gw.running()
    # A semantically invalid file (unknown pool) is refused the same way.
    gw.write_config(good.replace("pool: \"main\"", "pool: \"nope\"").replace("pool: main", "pool: nope"))
    gw.reload()
    wait_for(lambda: gw.metric("bulwark_config_reloads_total", result="error") == 2, timeout=3,
             message="second error reload")
    assert gw.get("/proxied").status == 200
    # And a fixed file is accepted afterwards.
    gw.reconfigure(routes=respond_routes("new\n"))
    gw.reload()
    wait_for(lambda: gw.get("/direct").body == b"new\n", timeout=5, message="the fixed config")


def test_admin_post_reload(procs):
    o = procs.origin("o")
    gw = procs.gateway(routes=respond_routes("a\n"), pools={"main": pool(o)})
    gw.reconfigure(routes=respond_routes("b\n"))
    r = gw.admin("POST", "/reload")
    assert r.status == 200, r
    assert gw.get("/direct").body == b"b\n"
    assert gw.admin("GET", "/reload").status == 405
    gw.write_config("listeners: [\n")
    r = gw.admin("POST", "/reload")
    assert r.status == 400, r
    assert str(gw.config_path) in r.body.decode()
    assert gw.get("/direct").body == b"b\n"


def test_reloads_under_load_lose_no_requests(procs):
    a = procs.origin("a")
    b = procs.origin("b")
    gw = procs.gateway(routes=respond_routes("x", "gen0"), pools={"main": pool(a, b)})
    with LoadLoop(gw.port, "/load", threads=4) as load:
        time.sleep(0.5)
        for i in range(1, 6):
            # Alternate the route's header and the pool's origins/policy, so snapshots really differ.
            lb = "least_request" if i % 2 else "round_robin"
            gw.reconfigure(routes=respond_routes("x", f"gen{i}"), pools={"main": pool(a, b, lb=lb)})
            gw.reload()
            time.sleep(0.9)
        time.sleep(0.3)
    results = load.snapshot()
    assert len(results) > 100, f"only {len(results)} requests in ~5 s"
    failures = load.failures()
    assert failures == [], failures[:10]
    assert gw.metric("bulwark_config_reloads_total", result="ok") == 5
    r = gw.get("/final")
    assert r.header("X-Config") == "gen5"


def test_reload_adds_a_listener(procs):
    from helpers import free_port
    o = procs.origin("o")
    gw = procs.gateway(pools={"main": pool(o)})
    extra = free_port()
    gw.reconfigure(listeners=[{"address": f"127.0.0.1:{gw.port}"}, {"address": f"127.0.0.1:{extra}"}])
    gw.reload()
    from helpers import http_request
    r = wait_for(lambda: http_request(extra, "GET", "/on-new-listener"), timeout=5,
                 message="the new listener")
    assert r.status == 200


def test_listeners_removed_and_added_back_while_clients_connect(procs):
    """A listener dropped by a reload while connections arrive on it: the worker keeps running (the socket's
    handler outlives events of the same epoll batch) and the listener comes back on the next reload."""
    import socket
    import threading
    from helpers import free_port, http_request
    o = procs.origin("o")
    gw = procs.gateway(pools={"main": pool(o)})
    extra = free_port()
    both = [{"address": f"127.0.0.1:{gw.port}"}, {"address": f"127.0.0.1:{extra}"}]
    one = [{"address": f"127.0.0.1:{gw.port}"}]
    stop = threading.Event()

    def knock():
        for _ in range(200000):  # bounded; stops with the test
            if stop.is_set():
                return
            try:
                socket.create_connection(("127.0.0.1", extra), timeout=0.5).close()
            except OSError:
                pass

    threads = [threading.Thread(target=knock) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for i in range(10):
            gw.reconfigure(listeners=both if i % 2 == 0 else one)
            gw.reload()
            wait_for(lambda: gw.metric("bulwark_config_reloads_total", result="ok") == i + 1, timeout=5,
                     message=f"reload {i + 1}")
            assert gw.running()
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=10)
    assert gw.running()
    assert http_request(gw.port, "GET", "/still-serving").status == 200
