#!/usr/bin/env python3
"""Open N keep-alive HTTP/1.1 connections to HOST:PORT, use each once, then hold them idle.

Each connection sends one `GET PATH HTTP/1.1` (keep-alive) and reads the whole response, so the proxy has
parsed a request and forwarded a response on it and now keeps it as an idle keep-alive connection. When all
are done it prints one line to stdout:

    ready ok=N failed=M status_non200=K seconds=S

then holds every socket open until it gets SIGTERM/SIGINT, or --max-hold seconds pass (a safety net so
it never lingers if its parent dies).
Standard library only. Work is done in batches of concurrent non-blocking connections to keep it quick.
"""
import argparse
import errno
import resource
import select
import signal
import socket
import time


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = need + 256
    if soft >= want:
        return
    new_hard = hard if hard == resource.RLIM_INFINITY or hard >= want else want
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, new_hard))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def response_complete(buf):
    """Return (done, status) for a buffered HTTP/1.1 response with Content-Length or chunked body."""
    head_end = buf.find(b"\r\n\r\n")
    if head_end < 0:
        return False, None
    head = buf[:head_end].decode("latin-1").split("\r\n")
    try:
        status = int(head[0].split(" ", 2)[1])
    except (IndexError, ValueError):
        return True, -1
    body = buf[head_end + 4:]
    length = None
    chunked = False
    for line in head[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value.strip())
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    if chunked:
        return body.endswith(b"0\r\n\r\n"), status
    if length is None:
        length = 0
    return len(body) >= length, status


def run_batch(host, port, request, n, timeout):
    """Connect n sockets concurrently, send the request on each and read its response.

    Returns (open_sockets, failed, non200)."""
    ep = select.epoll()
    state = {}  # fd -> [sock, phase, buffer]; phase 0 connecting, 1 reading
    failed = 0
    non200 = 0
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        err = s.connect_ex((host, port))
        if err not in (0, errno.EINPROGRESS):
            s.close()
            failed += 1
            continue
        state[s.fileno()] = [s, 0, b""]
        ep.register(s.fileno(), select.EPOLLOUT)
    done = []
    deadline = time.monotonic() + timeout
    while state and time.monotonic() < deadline:
        for fd, ev in ep.poll(0.5):
            entry = state.get(fd)
            if entry is None:
                continue
            s = entry[0]
            if entry[1] == 0:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err != 0:
                    ep.unregister(fd)
                    del state[fd]
                    s.close()
                    failed += 1
                    continue
                s.sendall(request)  # tiny request: fits the empty send buffer at once
                entry[1] = 1
                ep.modify(fd, select.EPOLLIN)
                continue
            try:
                chunk = s.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                ep.unregister(fd)
                del state[fd]
                s.close()
                failed += 1
                continue
            entry[2] += chunk
            complete, status = response_complete(entry[2])
            if complete:
                ep.unregister(fd)
                del state[fd]
                if status != 200:
                    non200 += 1
                done.append(s)
    for entry in state.values():  # timed out
        entry[0].close()
        failed += 1
    ep.close()
    return done, failed, non200


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--path", default="/")
    ap.add_argument("--batch", type=int, default=200, help="connections in flight at once")
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds allowed per batch")
    ap.add_argument("--max-hold", type=float, default=300.0, help="exit after holding this long")
    args = ap.parse_args()

    raise_nofile(args.count)
    request = (
        "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: bulwark-bench-idle\r\nAccept: */*\r\n\r\n"
        % (args.path, args.host, args.port)
    ).encode()

    held = []
    failed = 0
    non200 = 0
    t0 = time.monotonic()
    remaining = args.count
    while remaining > 0:
        n = min(args.batch, remaining)
        socks, f, bad = run_batch(args.host, args.port, request, n, args.timeout)
        held.extend(socks)
        failed += f
        non200 += bad
        remaining -= n
        if f and failed > args.count // 100 + 10:
            break  # the proxy is refusing or dropping: stop early, report what we have
    elapsed = time.monotonic() - t0
    print("ready ok=%d failed=%d status_non200=%d seconds=%.2f"
          % (len(held), failed + remaining, non200, elapsed), flush=True)

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    # Hold until signalled (or the safety timeout).
    until = time.monotonic() + args.max_hold
    while not stop and time.monotonic() < until:
        time.sleep(0.2)
    for s in held:
        s.close()


if __name__ == "__main__":
    main()
