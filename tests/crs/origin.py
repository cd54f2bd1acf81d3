#!/usr/bin/env python3
"""Test origin for the CRS conformance run: answers 200 to every request.

Standard library only. `python3 -m http.server` is not usable behind the WAF for the CRS tests: it
answers 404 for unknown paths and 501 for unknown methods, while the tests expect the application
behind the WAF to accept anything. This origin

* accepts any method, any request target and any HTTP version string,
* reads the request body completely (Content-Length or chunked) so the proxy never sees a reset,
* answers `200 OK` with a short `text/plain` body that no CRS response rule matches,
* closes the connection after each response (`Connection: close`), keeping the origin trivial.

    tests/crs/origin.py [--host 127.0.0.1] [--port 0]

Port 0 picks a free port; the line "origin listening on HOST:PORT" (printed once ready) tells which.
Only loopback addresses are meant to be used.
"""

import argparse
import socket
import socketserver
import sys

BODY = b"crs-origin ok\n"
MAX_HEAD = 256 * 1024


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        sock = self.request
        sock.settimeout(30)
        buf = b""
        try:
            while b"\r\n\r\n" not in buf and b"\n\n" not in buf:
                chunk = sock.recv(65536)
                if not chunk:
                    return
                buf += chunk
                if len(buf) > MAX_HEAD:
                    break
            sep = buf.find(b"\r\n\r\n")
            if sep >= 0:
                head, rest = buf[:sep], buf[sep + 4:]
            else:
                sep = buf.find(b"\n\n")
                head, rest = buf[:sep], buf[sep + 2:]
            headers = {}
            for line in head.split(b"\n")[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            te = headers.get(b"transfer-encoding", b"").lower()
            if b"chunked" in te:
                self._read_chunked(sock, rest)
            else:
                try:
                    length = int(headers.get(b"content-length", b"0") or b"0")
                except ValueError:
                    length = 0
                remaining = length - len(rest)
                while remaining > 0:
                    chunk = sock.recv(min(remaining, 65536))
                    if not chunk:
                        break
                    remaining -= len(chunk)
            sock.sendall(
                b"HTTP/1.1 200 OK\r\n"
                b"Content-Type: text/plain\r\n"
                b"Content-Length: " + str(len(BODY)).encode() + b"\r\n"
                b"Connection: close\r\n\r\n" + BODY
            )
        except OSError:
            pass

    @staticmethod
    def _read_chunked(sock, data):
        """Consume a chunked body (best effort; the proxy in front has validated it)."""
        while True:
            while b"\r\n" not in data:
                chunk = sock.recv(65536)
                if not chunk:
                    return
                data += chunk
            line, _, data = data.partition(b"\r\n")
            try:
                size = int(line.split(b";")[0].strip() or b"0", 16)
            except ValueError:
                return
            if size == 0:
                # trailers until an empty line
                while b"\r\n\r\n" not in b"\r\n" + data:
                    chunk = sock.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                return
            while len(data) < size + 2:
                chunk = sock.recv(65536)
                if not chunk:
                    return
                data += chunk
            data = data[size + 2:]


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    srv = Server((args.host, args.port), Handler)
    host, port = srv.server_address[:2]
    print(f"origin listening on {host}:{port}", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
