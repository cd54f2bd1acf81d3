#!/usr/bin/env python3
"""A small HTTP/1.1 origin server for the Bulwark demo and integration tests.

Standard library only. Threaded, keep-alive (HTTP/1.1), optional TLS.

    examples/origin.py --port 18081 --name A [--host 127.0.0.1]
                       [--tls-cert cert.pem --tls-key key.pem] [--fail-health-file FILE] [--verbose]

Every request is answered 200 with a JSON description of what the origin received:

    {"origin": NAME, "method": ..., "path": ..., "headers": {...}, "body_bytes": N, "body_sha256": ...}

and the response header `X-Origin: NAME`. Request bodies are read completely (Content-Length or chunked)
and hashed while streaming, so huge uploads use constant memory.

Special paths (a query string is ignored unless noted):
    /status/NNN     answers status NNN
    /delay/MS       sleeps MS milliseconds, then answers
    /health         200, or 503 while the --fail-health-file exists
    /close          closes the connection without answering
    /large/N        N bytes with Content-Length, written in pieces
    /chunked/N      N bytes with Transfer-Encoding: chunked
    /echo           echoes the request body (same Content-Type)
    /until-close/N  N bytes with neither Content-Length nor chunked: the body ends when the connection closes
    /stall/MS       200 with a 2048 byte body: sends the head and 1024 bytes, sleeps MS, sends the rest
    /_stats         counters of this origin: requests, connections that carried requests, requests by path
                    and the latest request heads (/_stats requests are not counted), for tests

Any response may get extra headers with the query parameter `hdr=Name:Value` (repeatable), e.g. to test
that a proxy strips hop-by-hop response headers. Bodies of /large and /chunked repeat the 256 byte values
0..255 (see `pattern()`), so a client can verify them.

Port 0 picks a free port; the line "origin NAME listening on HOST:PORT" (printed once ready) tells which.
"""

import argparse
import hashlib
import json
import os
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

PIECE = 16 * 1024
_BLOCK = bytes(range(256)) * (PIECE // 256)


def pattern(n):
    """The first n bytes of the body served by /large/N and /chunked/N."""
    full, rest = divmod(n, len(_BLOCK))
    return _BLOCK * full + _BLOCK[:rest]


def _pieces(n):
    while n > 0:
        k = min(n, len(_BLOCK))
        yield _BLOCK[:k]
        n -= k


class BodyError(Exception):
    pass


class Stats:
    """Thread-safe counters: total requests, per path, and the most recent request heads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.total = 0
        self.by_path = {}
        self.recent = []
        self.connections = 0

    def record(self, method, path, headers, new_connection=False):
        with self.lock:
            self.total += 1
            self.connections += new_connection
            self.by_path[path] = self.by_path.get(path, 0) + 1
            self.recent.append({"method": method, "path": path, "headers": headers})
            if len(self.recent) > 200:
                del self.recent[: len(self.recent) - 200]

    def snapshot(self):
        with self.lock:
            return {
                "requests": self.total,
                "connections": self.connections,
                "by_path": dict(self.by_path),
                "recent": list(self.recent),
            }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "bulwark-demo-origin"
    sys_version = ""
    disable_nagle_algorithm = True  # head and body are separate writes: do not wait for delayed ACKs

    def version_string(self):
        return self.server_version

    # ----------------------------------------------------------------------------------------- plumbing

    def setup(self):
        super().setup()
        self.counted = False  # this connection carried a request (other than /_stats)

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("origin %s: %s - %s\n" % (self.server.name, self.address_string(), fmt % args))

    def _read_exact(self, n, sink):
        while n > 0:
            data = self.rfile.read(min(n, 64 * 1024))
            if not data:
                raise BodyError("connection closed in the body")
            sink(data)
            n -= len(data)

    def _read_line(self):
        line = self.rfile.readline(65537)
        if not line:
            raise BodyError("connection closed in the body")
        if len(line) > 65536:
            raise BodyError("line too long")
        return line

    def _read_body(self, keep):
        """Reads the request body; returns (byte count, sha256 hex, bytes if keep else None)."""
        digest = hashlib.sha256()
        kept = [] if keep else None
        count = 0

        def sink(data):
            nonlocal count
            count += len(data)
            digest.update(data)
            if kept is not None:
                kept.append(data)

        te = self.headers.get("Transfer-Encoding")
        if te is not None:
            if te.strip().lower() != "chunked":
                raise BodyError("unsupported transfer-encoding " + te)
            while True:
                line = self._read_line()
                size_text = line.split(b";", 1)[0].strip()
                try:
                    size = int(size_text, 16)
                except ValueError:
                    raise BodyError("bad chunk size %r" % size_text)
                if size == 0:
                    while self._read_line() not in (b"\r\n", b"\n"):
                        pass  # trailer fields
                    break
                self._read_exact(size, sink)
                if self._read_line() not in (b"\r\n", b"\n"):
                    raise BodyError("chunk not followed by CRLF")
        else:
            length = self.headers.get("Content-Length")
            if length is not None:
                try:
                    n = int(length)
                except ValueError:
                    raise BodyError("bad content-length")
                self._read_exact(n, sink)
        return count, digest.hexdigest(), (b"".join(kept) if kept is not None else None)

    def _send(self, status, body=b"", content_type="application/json", extra=(), head_only=False):
        self.send_response(status)
        self.send_header("X-Origin", self.server.name)
        for name, value in extra:
            self.send_header(name, value)
        if status in (204, 304) or 100 <= status < 200:
            self.end_headers()
            return
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head_only:
            self.wfile.write(body)

    # ----------------------------------------------------------------------------------------- requests

    def _handle(self):
        url = urlsplit(self.path)
        path = url.path
        query = parse_qsl(url.query, keep_blank_values=True)
        extra = []
        for k, v in query:
            if k == "hdr" and ":" in v:
                name, value = v.split(":", 1)
                extra.append((name.strip(), value.strip()))
        headers = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = value if key not in headers else headers[key] + ", " + value
        head_only = self.command == "HEAD"

        if path == "/_stats":
            body = json.dumps(self.server.stats.snapshot()).encode()
            self._send(200, body, extra=extra, head_only=head_only)
            return
        self.server.stats.record(self.command, self.path, headers, new_connection=not self.counted)
        self.counted = True

        try:
            count, sha, kept = self._read_body(keep=path == "/echo")
        except BodyError as e:
            self.close_connection = True
            self._send(400, ("bad request body: %s\n" % e).encode(), "text/plain")
            return

        if path == "/close":
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return

        status = 200
        parts = path.split("/")
        if len(parts) == 3 and parts[1] == "status" and parts[2].isdigit():
            status = int(parts[2])
        elif len(parts) == 3 and parts[1] == "delay" and parts[2].isdigit():
            time.sleep(int(parts[2]) / 1000.0)
        elif path == "/health":
            f = self.server.fail_health_file
            if f and os.path.exists(f):
                self._send(503, b"unhealthy\n", "text/plain", extra, head_only)
                return
        elif len(parts) == 3 and parts[1] in ("large", "chunked") and parts[2].isdigit():
            self._stream(parts[1] == "chunked", int(parts[2]), extra, head_only)
            return
        elif len(parts) == 3 and parts[1] == "until-close" and parts[2].isdigit():
            self._until_close(int(parts[2]), extra, head_only)
            return
        elif len(parts) == 3 and parts[1] == "stall" and parts[2].isdigit():
            self._stall(int(parts[2]) / 1000.0, extra, head_only)
            return
        elif path == "/echo":
            ctype = self.headers.get("Content-Type", "application/octet-stream")
            self._send(200, kept, ctype, extra, head_only)
            return

        info = {
            "origin": self.server.name,
            "method": self.command,
            "path": self.path,
            "version": self.request_version,
            "headers": headers,
            "body_bytes": count,
            "body_sha256": sha,
        }
        self._send(status, (json.dumps(info) + "\n").encode(), "application/json", extra, head_only)

    def _stream(self, chunked, n, extra, head_only):
        self.send_response(200)
        self.send_header("X-Origin", self.server.name)
        self.send_header("Content-Type", "application/octet-stream")
        for name, value in extra:
            self.send_header(name, value)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(n))
        self.end_headers()
        if head_only:
            return
        for piece in _pieces(n):
            if chunked:
                self.wfile.write(b"%x\r\n" % len(piece) + piece + b"\r\n")
            else:
                self.wfile.write(piece)
            self.wfile.flush()
        if chunked:
            self.wfile.write(b"0\r\n\r\n")

    def _until_close(self, n, extra, head_only):
        # The head, then the body and the close, the FIN in the same TCP segment as the last bytes (as
        # many servers send it): a proxy must see both the data and the end of the stream.
        self.close_connection = True
        self.send_response(200)
        self.send_header("X-Origin", self.server.name)
        self.send_header("Content-Type", "application/octet-stream")
        for name, value in extra:
            self.send_header(name, value)
        self.send_header("Connection", "close")
        self.end_headers()
        if head_only:
            return
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
        except (OSError, AttributeError):
            pass  # not Linux, or TLS: the FIN just follows the data
        for piece in _pieces(n):
            self.wfile.write(piece)
        try:
            self.connection.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def _stall(self, seconds, extra, head_only):
        body = pattern(2048)
        self.send_response(200)
        self.send_header("X-Origin", self.server.name)
        self.send_header("Content-Type", "application/octet-stream")
        for name, value in extra:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if head_only:
            return
        self.wfile.write(body[:1024])
        self.wfile.flush()
        time.sleep(seconds)
        self.wfile.write(body[1024:])

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except (ConnectionError, ssl.SSLError, socket.timeout):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle


class OriginServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, name, tls_context=None, fail_health_file=None, verbose=False):
        self.name = name
        self.tls_context = tls_context
        self.fail_health_file = fail_health_file
        self.verbose = verbose
        self.stats = Stats()
        super().__init__(addr, Handler)

    def finish_request(self, request, client_address):
        # Runs in the connection's own thread, so a slow TLS handshake never blocks accept().
        if self.tls_context is not None:
            try:
                request.settimeout(10)
                request = self.tls_context.wrap_socket(request, server_side=True)
                request.settimeout(None)
            except (OSError, ssl.SSLError) as e:
                if self.verbose:
                    sys.stderr.write("origin %s: TLS handshake failed: %s\n" % (self.name, e))
                return
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        if self.verbose:
            super().handle_error(request, client_address)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True, help="TCP port (0: pick a free one)")
    ap.add_argument("--name", required=True, help="name reported in responses and X-Origin")
    ap.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    ap.add_argument("--tls-cert", help="PEM certificate chain: serve HTTPS")
    ap.add_argument("--tls-key", help="PEM private key for --tls-cert")
    ap.add_argument("--fail-health-file", help="/health answers 503 while this file exists")
    ap.add_argument("--verbose", action="store_true", help="log each request to stderr")
    args = ap.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        ap.error("--tls-cert and --tls-key go together")

    ctx = None
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        ctx.set_alpn_protocols(["http/1.1"])

    server = OriginServer((args.host, args.port), args.name, ctx, args.fail_health_file, args.verbose)
    host, port = server.server_address[:2]
    print("origin %s listening on %s:%d" % (args.name, host, port), flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
