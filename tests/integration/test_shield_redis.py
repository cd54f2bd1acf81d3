"""Shield across nodes: two gateways enforce one rate limit together through one redis-server
(`shield.redis`), fall back to their own limits while Redis is away, and share again when it returns.

The redis-server is Debian's /usr/bin/redis-server, started here on a free loopback port without
persistence; the test is skipped without it. One client (source address 127.0.0.2) sends to both gateways
at a fixed pace; every load loop is bounded in time.
"""

import http.client
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

import helpers
from helpers import free_port, pool, wait_for

REDIS_SERVER = "/usr/bin/redis-server"
RATE = 40  # requests per second, the limit both gateways share
BURST = 10
OFFERED = 80  # requests per second sent to each gateway (4x the limit in total)
SECONDS = 3.0
CLIENT = "127.0.0.2"

pytestmark = pytest.mark.skipif(not os.access(REDIS_SERVER, os.X_OK),
                                reason=f"{REDIS_SERVER} is missing (apt-get install redis-server)")


class RedisServer:
    def __init__(self, directory):
        self.port = free_port()
        self.dir = directory
        self.proc = None

    def start(self, timeout=10.0):
        args = [REDIS_SERVER, "--port", self.port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--daemonize", "no", "--dir", self.dir, "--logfile", self.dir / "redis.log"]
        deadline = time.monotonic() + timeout
        self.proc = helpers._spawn(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on {self.port}")
                time.sleep(0.05)

    def kill(self):
        helpers._stop_proc(self.proc, signal.SIGKILL)


@pytest.fixture
def redis(tmp_path):
    r = RedisServer(tmp_path).start()
    try:
        yield r
    finally:
        r.kill()


def shield(redis_port):
    return {"rate_limits": [{"name": "per-ip", "key": "client_ip", "rate": f"{RATE}/s", "burst": BURST}],
            "redis": f"127.0.0.1:{redis_port}"}


def offer(gateway, results, index):
    """OFFERED requests/s from CLIENT to `gateway` for SECONDS on keep-alive connections; counts statuses."""
    ok = limited = other = 0
    conn = None
    start = time.monotonic()
    step = 1.0 / OFFERED
    n = 0
    while True:
        due = start + n * step
        if due >= start + SECONDS:
            break
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        n += 1
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=5,
                                                  source_address=(CLIENT, 0))
            conn.request("GET", "/")
            r = conn.getresponse()
            r.read()
            if r.status == 200:
                ok += 1
            elif r.status == 429:
                limited += 1
            else:
                other += 1
            if r.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException):
            other += 1
            if conn is not None:
                conn.close()
            conn = None
    if conn is not None:
        conn.close()
    results[index] = (ok, limited, other)


def offer_both(gateways):
    results = [None, None]
    threads = [threading.Thread(target=offer, args=(g, results, i)) for i, g in enumerate(gateways)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=SECONDS + 30)
    assert all(r is not None for r in results), results
    for ok, limited, other in results:
        assert other == 0, results  # every request is either served or limited
    return [r[0] for r in results]


def redis_up(gateway):
    return gateway.metric("bulwark_shield_redis_up")


def test_two_gateways_share_one_limit_and_fall_back_without_redis(procs, redis):
    o = procs.origin("o")
    gateways = [procs.gateway(pools={"main": pool(o)}, shield=shield(redis.port)) for _ in range(2)]
    for g in gateways:
        wait_for(lambda g=g: redis_up(g) == 1, timeout=10, message="gateway connected to redis")
    one_limit = RATE * SECONDS + BURST

    # Shared: the two gateways together admit one limit.
    admitted = offer_both(gateways)
    print(f"shared: {admitted} = {sum(admitted)}, one limit {one_limit:.0f}")
    assert one_limit * 0.85 <= sum(admitted) <= one_limit * 1.15, (admitted, one_limit)
    assert min(admitted) > 0, admitted

    # Redis killed: both keep serving, each with its own (local) limit, and say so in /metrics.
    redis.kill()
    for g in gateways:
        wait_for(lambda g=g: redis_up(g) == 0, timeout=10, message="gateway noticed redis is down")
    admitted = offer_both(gateways)
    print(f"redis down: {admitted} = {sum(admitted)}, one limit {one_limit:.0f} per gateway")
    for a in admitted:
        assert RATE * SECONDS * 0.85 <= a <= one_limit * 1.15, (admitted, one_limit)
    assert sum(admitted) > one_limit * 1.5, admitted  # no longer shared
    for g in gateways:
        assert g.metric("bulwark_shield_redis_transitions_total", to="down") == 1
        assert g.metric("bulwark_shield_redis_local_only_total") > 0
        assert "unreachable" in g.stderr_text()

    # Redis back on the same port: sharing resumes by itself.
    redis.start()
    for g in gateways:
        wait_for(lambda g=g: redis_up(g) == 1, timeout=15, message="gateway reconnected to redis")
    admitted = offer_both(gateways)
    print(f"redis back: {admitted} = {sum(admitted)}, one limit {one_limit:.0f}")
    assert one_limit * 0.85 <= sum(admitted) <= one_limit * 1.15, (admitted, one_limit)
    for g in gateways:
        assert g.stderr_text().count("unreachable") == 1  # logged once, not per request or retry
