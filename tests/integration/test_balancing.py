"""Load balancing across origins: weighted round robin, least request, consistent hash."""

import threading
import time

from helpers import http_request, pool


def test_weighted_round_robin_follows_weights_1_to_3(procs):
    a = procs.origin("a")
    b = procs.origin("b")
    gw = procs.gateway(pools={"main": pool({"address": a.address, "weight": 1},
                                           {"address": b.address, "weight": 3})})
    counts = {"a": 0, "b": 0}
    # Several connections so that both workers balance (each worker has its own round robin state); the
    # aggregate must still follow the weights.
    conns = [gw.connection() for _ in range(8)]
    for i in range(400):
        r = gw.get(f"/wrr/{i}", conn=conns[i % len(conns)])
        assert r.status == 200, r
        counts[r.origin] += 1
    for c in conns:
        c.close()
    share_b = counts["b"] / 400
    assert abs(share_b - 0.75) <= 0.10, counts
    assert counts["a"] + counts["b"] == 400


def test_round_robin_spreads_requests_on_one_connection(procs):
    a = procs.origin("a")
    b = procs.origin("b")
    c = procs.origin("c")
    gw = procs.gateway(pools={"main": pool(a, b, c)})
    conn = gw.connection()
    seen = [gw.get("/", conn=conn).origin for _ in range(30)]
    conn.close()
    # One connection = one worker = one smooth round robin sequence: exactly 10 each.
    assert {o: seen.count(o) for o in "abc"} == {"a": 10, "b": 10, "c": 10}, seen


def test_least_request_avoids_the_busy_origin(procs):
    a = procs.origin("a")
    b = procs.origin("b")
    # One worker: outstanding-request counts are per worker, so the slow request and the probes must share it.
    gw = procs.gateway(workers=1, pools={"main": pool(a, b, lb="least_request")})
    slow_origin = []

    def slow():
        slow_origin.append(gw.get("/delay/1500").origin)

    t = threading.Thread(target=slow)
    t.start()
    # Wait until the slow request has reached an origin.
    deadline = time.monotonic() + 3
    while a.count("/delay/1500") + b.count("/delay/1500") == 0:
        assert time.monotonic() < deadline, "slow request never reached an origin"
        time.sleep(0.02)
    busy = "a" if a.count("/delay/1500") else "b"
    during = [gw.get(f"/quick/{i}").origin for i in range(8)]
    t.join()
    assert slow_origin == [busy]
    idle = "b" if busy == "a" else "a"
    assert during == [idle] * 8, (busy, during)
    # With no load both origins get traffic again.
    after = {gw.get("/").origin for _ in range(40)}
    assert after == {"a", "b"}


def test_consistent_hash_on_header_keeps_each_key_on_one_origin(procs):
    origins = [procs.origin(n) for n in ("a", "b", "c")]
    gw = procs.gateway(pools={"main": pool(*origins, lb="consistent_hash", hash_header="X-User")})
    placement = {}
    for key in range(24):
        seen = set()
        for _ in range(4):  # new connections: may land on either worker, which must agree
            r = gw.get("/", headers={"X-User": f"user-{key}"})
            assert r.status == 200, r
            seen.add(r.origin)
        assert len(seen) == 1, (key, seen)
        placement[key] = seen.pop()
    # 24 keys over 3 origins: more than one origin must be used.
    assert len(set(placement.values())) >= 2, placement


def test_consistent_hash_moves_only_keys_of_a_failed_origin(procs):
    origins = {n: procs.origin(n) for n in ("a", "b", "c")}
    gw = procs.gateway(pools={"main": pool(*origins.values(), lb="consistent_hash", hash_header="X-User",
                                           health_check={"path": "/health", "interval": "200ms",
                                                         "timeout": "200ms", "rise": 1, "fall": 1})})
    before = {k: gw.get("/", headers={"X-User": f"k{k}"}).origin for k in range(30)}
    victim = before[0]
    origins[victim].fail_health(True)
    port = gw.port

    def moved():
        return all(http_request(port, "GET", "/", headers={"X-User": f"k{k}"}).origin != victim
                   for k in range(30) if before[k] == victim)

    from helpers import wait_for
    wait_for(moved, timeout=5, message="keys to leave the unhealthy origin")
    after = {k: gw.get("/", headers={"X-User": f"k{k}"}).origin for k in range(30)}
    for k in range(30):
        if before[k] != victim:
            assert after[k] == before[k], (k, before[k], after[k])
        else:
            assert after[k] != victim
