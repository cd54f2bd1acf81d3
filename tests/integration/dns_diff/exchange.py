"""Sends generated queries to a server over UDP and TCP and collects the raw responses.

run(port, queries, timeout) -> {query index: bytes or None}. UDP: one socket per query (its own source
port, so a reply can only belong to it). TCP: one connection per group, the group's queries pipelined
(written back to back), replies matched by message ID. A bounded thread pool keeps up to `parallel`
exchanges in flight; every wait is bounded by `timeout`.
"""

import concurrent.futures
import socket
import struct
import time


def udp_exchange(port, wire, timeout):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.connect(("127.0.0.1", port))
        s.send(wire)
        deadline = time.monotonic() + timeout
        while True:
            try:
                data = s.recv(65535)
            except (socket.timeout, ConnectionRefusedError):
                return None
            # A reply to this socket is ours; a stray datagram with another ID is skipped.
            if len(wire) < 2 or len(data) < 2 or data[:2] == wire[:2]:
                return data
            if time.monotonic() > deadline:
                return None
            s.settimeout(max(0.01, deadline - time.monotonic()))


def _recv_exact(s, n, deadline):
    buf = b""
    while len(buf) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        s.settimeout(left)
        try:
            chunk = s.recv(n - len(buf))
        except (socket.timeout, ConnectionResetError, OSError):
            return None
        if not chunk:
            return None
        buf += chunk
    return buf


def tcp_exchange(port, wires, timeout):
    """Replies for the pipelined queries `wires` (same order; None where none came)."""
    out = [None] * len(wires)
    deadline = time.monotonic() + timeout
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except OSError:
        return out
    with s:
        try:
            s.sendall(b"".join(struct.pack("!H", len(w)) + w for w in wires))
        except OSError:
            return out
        want = {}
        for i, w in enumerate(wires):
            want.setdefault(w[:2], []).append(i)
        got = 0
        while got < len(wires):
            head = _recv_exact(s, 2, deadline)
            if head is None:
                break
            (length,) = struct.unpack("!H", head)
            msg = _recv_exact(s, length, deadline)
            if msg is None:
                break
            slots = want.get(msg[:2])
            if slots:
                out[slots.pop(0)] = msg
            else:  # an ID we did not send (e.g. a FORMERR for a header-less query): next unanswered slot
                for i in range(len(out)):
                    if out[i] is None:
                        out[i] = msg
                        break
            got += 1
    return out


def run(port, queries, timeout=1.0, parallel=16):
    units = []
    groups = {}
    for q in queries:
        if q.transport == "udp":
            units.append(("udp", [q]))
        else:
            if q.group not in groups:
                groups[q.group] = []
                units.append(("tcp", groups[q.group]))
            groups[q.group].append(q)

    def work(unit):
        kind, qs = unit
        if kind == "udp":
            return {qs[0].index: udp_exchange(port, qs[0].wire, timeout)}
        replies = tcp_exchange(port, [q.wire for q in qs], timeout + 0.5 * len(qs))
        return {q.index: r for q, r in zip(qs, replies)}

    results = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=parallel) as pool:
        for part in pool.map(work, units):
            results.update(part)
    return results


def retry(port, queries, timeout=2.0, parallel=8):
    """A second look at missing replies, each query alone (UDP: its own socket; TCP: its own connection).
    A datagram lost or a connection slow on a loaded machine is not a difference; a server that never
    answers a query stays silent on the second try too."""
    def one(q):
        if q.transport == "udp":
            return udp_exchange(port, q.wire, timeout)
        return tcp_exchange(port, [q.wire], timeout)[0]

    with concurrent.futures.ThreadPoolExecutor(max_workers=parallel) as pool:
        replies = list(pool.map(one, queries))
    return {q.index: r for q, r in zip(queries, replies)}
