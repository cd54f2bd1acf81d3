"""IPv6 listeners: the gateway serves on [::1] beside 127.0.0.1, and logs the client's IPv6 address."""

import http.client
import json
import socket

import pytest

from helpers import free_port, pool, wait_for


def _free_v6_port():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    port = s.getsockname()[1]
    s.close()
    return port


def test_ipv6_and_ipv4_listeners_both_proxy_requests(procs):
    origin = procs.origin("a")
    v4 = free_port()
    v6 = _free_v6_port()
    gw = procs.gateway(port=v4, listeners=[{"address": f"127.0.0.1:{v4}"}, {"address": f"[::1]:{v6}"}],
                       pools={"main": pool(origin)})
    for host, port in (("127.0.0.1", v4), ("::1", v6)):
        conn = http.client.HTTPConnection(host, port, timeout=5)
        conn.request("GET", "/v6check", headers={"Host": "example.test"})
        resp = conn.getresponse()
        body = json.loads(resp.read())
        assert resp.status == 200, (host, resp.status)
        assert body["origin"] == "a" and body["path"] == "/v6check"
        conn.close()
    # The access log line is written at the end of the loop iteration that sent the response: the client
    # can read the response first, so wait for both lines.
    def clients():
        return {e["client"] for e in gw.access_log() if e["path"] == "/v6check"}
    wait_for(lambda: clients() == {"127.0.0.1", "::1"}, message=f"both clients in the access log: {clients()}")
