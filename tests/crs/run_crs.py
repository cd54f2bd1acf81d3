#!/usr/bin/python3
"""Bulwark's CRS regression runner: the OWASP CRS 3.3.x regression tests (ftw YAML format) against a
running WAF, judged by the WAF's ModSecurity-format error log.

    run_crs.py --host 127.0.0.1 --port P --log ERROR_LOG [--tests DIR] [--only 942100[,920100-4,...]]
               [--list-failures FILE] [--overrides FILE] [--jobs N] [--timeout S] [--verbose]

Standard library + PyYAML only; runs under Debian's /usr/bin/python3.

How one test stage is run (what the CRS project's ftw / go-ftw do):

1. a start-marker request `GET /` with the header `X-CRS-Test: <marker>-start`;
2. the test request, built byte for byte the way Python ftw 1.x (the runner CRS 3.3 was tested with)
   builds it from method / uri / version / headers / data -- including ftw's "magic" (unless
   `stop_magic: true`): a default `Content-Type: application/x-www-form-urlencoded` when there is
   data, url-encoding of not-yet-encoded form data, and `Content-Length` = the length of the data
   string -- or taken verbatim from `raw_request` / `encoded_request` (base64). It is sent over a plain
   TCP socket, never "fixed": many requests are malformed on purpose;
3. an end-marker request `X-CRS-Test: <marker>-end`, repeated until its log line appears;
4. the error-log lines written after the start marker's line and before the end marker's line -- plus
   "late" lines written after the end marker's line and before the next test's start marker (a WAF
   with several worker threads can flush a transaction's last lines after a later request's), minus
   the marker transactions' own lines (recognised by their `[unique_id "..."]`) -- are matched against
   `log_contains` / `no_log_contains` (Python regexes, searched line by line, as ftw does); `status`,
   `response_contains` and `expect_error` are checked against the response (an "error" is what ftw
   calls one: no connection, no response within the timeout, an empty or unparsable response).

The WAF must log the marker: see examples/crs-regression/test-mode.conf (rule 999999).

Output: one line per failing test, then exactly `crs: N passed, M failed, K skipped`. Skipped tests are
those that cannot run here by design (a disabled test file, TLS), each listed with its reason.
Exit status 0 whatever the pass rate (the caller decides the gate); 2 on usage or setup errors.
When the tests folder is missing: a message and `crs: 0 passed, 0 failed, 0 skipped (tests folder
missing: PATH)`, exit 0.

--jobs N runs N workers in parallel. Worker i sends all its requests (markers included) from its own
loopback source address 127.0.0.(10+i), and keeps only the log lines that name that client
(`[client 127.0.0.x]` or nginx's `client: 127.0.0.x`); it refuses to run in parallel when the log
lines do not name the client (checked once at start) and falls back to one job.
"""

import argparse
import base64
import encodings.aliases
import os
import re
import select
import socket
import sys
import threading
import time
import urllib.parse
import uuid

try:
    import yaml
except ImportError:  # pragma: no cover - reported as a setup error
    yaml = None

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DEFAULT_TESTS = os.path.join(os.path.dirname(REPO), "shared", "crs-v3.3.4", "tests")

CRLF = "\r\n"
UNIQUE_ID_RE = re.compile(r'\[unique_id "([^"]*)"\]')
ID_RE = re.compile(r'\[id "(\d+)"\]')
CLIENT_RE = re.compile(r'\[client ([0-9a-fA-F.:]+)\]|client: ([0-9a-fA-F.:]+)')


class SetupError(Exception):
    pass


# --------------------------------------------------------------------------------------------------
# Loading tests


class Stage:
    __slots__ = ("test", "index", "input", "output")

    def __init__(self, test, index, inp, out):
        self.test, self.index, self.input, self.output = test, index, inp or {}, out or {}


class Test:
    __slots__ = ("title", "rule", "file", "stages", "skip")

    def __init__(self, title, rule, file, skip=None):
        self.title, self.rule, self.file, self.stages, self.skip = title, rule, file, [], skip


def find_yaml_files(tests_dir):
    files = []
    for root, dirs, names in os.walk(tests_dir, followlinks=True):
        dirs.sort()
        for n in sorted(names):
            if n.endswith(".yaml") or n.endswith(".yml"):
                files.append(os.path.join(root, n))
    return files


def load_tests(tests_dir):
    tests = []
    for path in find_yaml_files(tests_dir):
        with open(path, "rb") as f:
            try:
                # libyaml's loader (same result on these files, 30x faster than the pure-Python one)
                doc = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
            except yaml.YAMLError as e:
                raise SetupError(f"cannot parse {path}: {e}")
        if not isinstance(doc, dict) or "tests" not in doc:
            continue
        meta = doc.get("meta") or {}
        file_enabled = meta.get("enabled", True) is not False
        rule = os.path.splitext(os.path.basename(path))[0]
        for t in doc.get("tests") or []:
            title = str(t.get("test_title"))
            skip = None
            if not file_enabled:
                skip = "test file disabled (meta.enabled: false)"
            elif t.get("enabled", True) is False:
                skip = "test disabled (enabled: false)"
            test = Test(title, rule, path, skip)
            for i, s in enumerate(t.get("stages") or []):
                st = s.get("stage", s) if isinstance(s, dict) else {}
                test.stages.append(Stage(test, i, st.get("input"), st.get("output")))
            if test.skip is None:
                for st in test.stages:
                    if str(st.input.get("protocol", "http")).lower() == "https":
                        test.skip = "TLS (protocol: https) is not part of the conformance setup"
            tests.append(test)
    return tests


def select_tests(tests, only):
    if not only:
        return tests
    wanted = [w.strip() for w in only.split(",") if w.strip()]
    out = []
    for t in tests:
        for w in wanted:
            if t.title == w or t.rule == w or t.title.split("-")[0] == w:
                out.append(t)
                break
    return out


# --------------------------------------------------------------------------------------------------
# Building the request exactly like Python ftw 1.x


_CHARSET_RE = re.compile(r"\;\s{0,1}?charset\=(.*?)(?:$|\;|\s)")
_ENCODINGS = set(encodings.aliases.aliases.keys()) | set(encodings.aliases.aliases.values())


class BuildError(Exception):
    pass


def build_request(inp):
    """Returns the bytes to send for one stage input (ftw semantics)."""
    if inp.get("raw_request") is not None and inp.get("encoded_request") is not None:
        raise BuildError("Cannot specify both raw and encoded modes")
    if inp.get("encoded_request") is not None:
        return base64.b64decode(inp["encoded_request"])
    if inp.get("raw_request") is not None:
        # ftw: raw.encode('utf-8').decode('unicode_escape'), sent utf-8 encoded
        raw = str(inp["raw_request"]).encode("utf-8").decode("unicode_escape")
        return raw.encode("utf-8")

    method = inp.get("method", "GET")
    uri = inp.get("uri", "/")
    version = inp.get("version", "HTTP/1.1")
    headers = dict(inp.get("headers") or {})
    data = inp.get("data", "")
    stop_magic = bool(inp.get("stop_magic", False))
    method = "" if method is None else str(method)
    uri = "" if uri is None else str(uri)
    version = "" if version is None else str(version)
    if data is None:
        data = ""
    if isinstance(data, list):
        data = "\r\n".join(str(x) for x in data)
    data = str(data)

    if data != "":
        if "Content-Type" not in headers and not stop_magic:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if "Content-Type" in headers:
            if headers["Content-Type"] == "application/x-www-form-urlencoded" and not stop_magic:
                if urllib.parse.unquote(data) == data:
                    qs = urllib.parse.parse_qsl(data)
                    if len(qs) != 0:
                        data = urllib.parse.urlencode(qs)
        if "Content-Length" not in headers and not stop_magic:
            headers["Content-Length"] = len(data)

    if data != "":
        encoding = "utf-8"
        if "Content-Type" in headers and not stop_magic:
            m = _CHARSET_RE.search(str(headers["Content-Type"]))
            if m:
                choice = m.group(1).replace("-", "_").lower()
                if choice in _ENCODINGS:
                    encoding = choice
        try:
            data = data.encode(encoding, "strict").decode("utf-8")
        except (UnicodeError, LookupError) as e:
            raise BuildError(f"Error encoding the data with the charset specified: {e}")

    head = f"{method} {uri} {version}{CRLF}"
    for name, value in headers.items():
        head += f"{name}: {value}{CRLF}"
    req = head + CRLF + data
    return req.encode("utf-8", "strict")


# --------------------------------------------------------------------------------------------------
# HTTP client over a raw socket


class Response:
    __slots__ = ("raw", "status", "error")

    def __init__(self, raw=b"", status=None, error=None):
        self.raw, self.status, self.error = raw, status, error


def _connect(host, port, timeout, source=None):
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    if source:
        s.bind((source, 0))
    s.connect((host, port))
    return s


def _skip_interim(buf):
    """Drops interim 1xx responses (100 Continue, 103 Early Hints; not 101) from the front of buf."""
    while buf.startswith(b"HTTP/1.") and buf[9:10] == b"1" and buf[9:12] != b"101":
        sep = buf.find(b"\r\n\r\n")
        if sep < 0:
            break
        buf = buf[sep + 4:]
    return buf


def _response_complete(buf, head_request):
    """True when buf holds a whole HTTP/1.x response (by its framing)."""
    buf = _skip_interim(buf)
    sep = buf.find(b"\r\n\r\n")
    if sep < 0:
        return False
    head = buf[:sep].decode("latin-1")
    body = buf[sep + 4:]
    lines = head.split("\r\n")
    parts = lines[0].split(" ")
    try:
        code = int(parts[1])
    except (IndexError, ValueError):
        return False
    if head_request or code in (204, 304) or code == 101:
        return True
    te, cl = None, None
    for line in lines[1:]:
        n, _, v = line.partition(":")
        n = n.strip().lower()
        if n == "transfer-encoding":
            te = v.strip().lower()
        elif n == "content-length":
            try:
                cl = int(v.strip())
            except ValueError:
                cl = None
    if te and "chunked" in te:
        return body.endswith(b"0\r\n\r\n") or b"\r\n0\r\n\r\n" in body or body.startswith(b"0\r\n\r\n")
    if cl is not None:
        return len(body) >= cl
    return False  # until close


def send_raw(host, port, data, timeout, source=None, head_request=False):
    """Sends data, reads one response. Never raises: errors are reported in Response.error."""
    try:
        sock = _connect(host, port, timeout, source)
    except OSError as e:
        return Response(error=f"Failed to connect to server: {e}")
    chunks = []
    try:
        try:
            sock.sendall(data)
        except OSError as e:
            return Response(error=f"We were unable to send the request to the socket: {e}")
        deadline = time.monotonic() + timeout
        got_any = False
        while True:
            now = time.monotonic()
            if not got_any:
                wait = deadline - now
                if wait <= 0:
                    return Response(error=f"No response from server within {timeout}s")
            else:
                # after the first bytes: until the framing says done, the peer closes, or a pause
                buf = b"".join(chunks)
                if _response_complete(buf, head_request):
                    break
                wait = min(1.0, max(0.0, deadline + timeout - now))
                if wait <= 0:
                    break
            r, _, _ = select.select([sock], [], [], wait)
            if not r:
                if not got_any:
                    return Response(error=f"No response from server within {timeout}s")
                break
            try:
                d = sock.recv(65536)
            except ConnectionResetError as e:
                if not got_any:
                    return Response(error=f"Connection reset: {e}")
                break
            except OSError as e:
                return Response(raw=b"".join(chunks), error=f"Failed to read from server: {e}")
            if not d:
                break
            chunks.append(d)
            got_any = True
    finally:
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        sock.close()
    raw = b"".join(chunks)
    if not raw:
        return Response(error="No response from server. Request likely timed out.")
    return parse_response(raw)


def parse_response(raw):
    """ftw's checks: a status line of three parts with a numeric code, headers with a colon."""
    raw = _skip_interim(raw) or raw
    lines = raw.split(b"\r\n")
    status_line = lines[0].decode("latin-1")
    for line in lines[1:]:
        if not line:
            break
        if b":" not in line:
            return Response(raw=raw, error=f"Did not receive a response with valid headers: {line[:80]!r}")
    parts = status_line.split(" ", 2)
    if len(parts) != 3:
        return Response(raw=raw, error=f"The HTTP response line returned the wrong args: {status_line[:80]!r}")
    try:
        status = int(parts[1])
    except ValueError:
        return Response(raw=raw, error=f"The status num of the response line isn't convertable: {status_line[:80]!r}")
    return Response(raw=raw, status=status)


# --------------------------------------------------------------------------------------------------
# Error log


class LogReader:
    """Incremental reader of a growing log file; thread-safe; keeps text since a mark."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        if os.path.exists(path):
            try:
                self.offset = os.path.getsize(path)
                open(path, "rb").close()
            except OSError as e:
                raise SetupError(f"cannot read the error log {path}: {e}")
        else:
            # the WAF may create its log on the first line; the preflight marker tells whether it does
            d = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(d):
                raise SetupError(f"the error log's folder does not exist: {d}")
            self.offset = 0
        self.text = ""
        self.base = 0  # absolute position (in self.text units) of self.text[0]

    def poll(self):
        with self.lock:
            try:
                size = os.path.getsize(self.path)
            except OSError:
                return
            if size < self.offset:  # truncated or rotated
                self.offset = 0
            if size == self.offset:
                return
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read(size - self.offset)
            # only consume whole lines
            cut = data.rfind(b"\n")
            if cut < 0:
                return
            data = data[: cut + 1]
            self.offset += len(data)
            self.text += data.decode("utf-8", "replace")

    def position(self):
        with self.lock:
            return self.base + len(self.text)

    def since(self, pos):
        with self.lock:
            return self.text[max(0, pos - self.base):]

    def trim(self, pos):
        """Forget text before pos (no worker needs it anymore)."""
        with self.lock:
            cut = pos - self.base
            if cut > 0:
                self.text = self.text[cut:]
                self.base = pos


def line_client(line):
    """The client address a log line names ([client 1.2.3.4], Apache's [client 1.2.3.4:port], nginx's
    `client: 1.2.3.4`), without a port; None when it names none."""
    m = CLIENT_RE.search(line)
    if not m:
        return None
    c = m.group(1) or m.group(2)
    if c.count(":") == 1 and "." in c:  # IPv4:port
        c = c.split(":")[0]
    return c


class Runner:
    def __init__(self, args, log):
        self.args = args
        self.log = log
        self.run_id = uuid.uuid4().hex[:8]
        self.filter_client = False
        self.trim_lock = threading.Lock()
        self.worker_pos = {}

    # markers -------------------------------------------------------------------------------------

    def marker_request(self, marker):
        return (
            "GET / HTTP/1.1\r\n"
            "Host: localhost\r\n"
            "User-Agent: ModSecurity CRS 3 Tests\r\n"
            "Accept: */*\r\n"
            f"X-CRS-Test: {marker}\r\n"
            "Connection: close\r\n\r\n"
        ).encode()

    def send_marker(self, marker, source):
        return send_raw(self.args.host, self.args.port, self.marker_request(marker),
                        self.args.timeout, source)

    def wait_for(self, token, start_pos, deadline, resend=None, source=None):
        """Polls the log until a line containing token (for source's client) appears after start_pos.
        Returns (line_start, line_end) absolute positions, or None."""
        next_resend = time.monotonic() + 1.0
        sleep = 0.001
        while True:
            self.log.poll()
            text = self.log.since(start_pos)
            idx = text.find(token)
            while idx >= 0:
                ls = text.rfind("\n", 0, idx) + 1
                le = text.find("\n", idx)
                le = len(text) if le < 0 else le + 1
                line = text[ls:le]
                if not self.filter_client or line_client(line) in (None, source):
                    return start_pos + ls, start_pos + le
                idx = text.find(token, le)
            now = time.monotonic()
            if now >= deadline:
                return None
            if resend and now >= next_resend:
                resend()
                next_resend = now + 1.0
            time.sleep(sleep)
            sleep = min(sleep * 2, 0.05)

    # one stage -------------------------------------------------------------------------------------

    def _keep(self, line, tokens, marker_ids, source):
        if any(t in line for t in tokens):
            return False
        m = UNIQUE_ID_RE.search(line)
        if m and m.group(1) in marker_ids:
            return False
        if self.filter_client:
            c = line_client(line)
            if c is not None and c != source:
                return False
        return True

    def run_stage(self, stage, source, worker, pending):
        """Runs one stage. Its verdict needs the log lines up to the NEXT stage's start marker (a WAF with
        several worker threads may write a transaction's last lines after the end marker's line), so
        this finalizes `pending` (the previous stage of this worker) once its own start marker is in the
        log, and returns its own context to be finalized later by finalize()."""
        inp = stage.input
        base = f"{stage.test.title}-{stage.index}-{self.run_id}"
        start_marker, end_marker = base + "-start", base + "-end"
        ctx = {"stage": stage, "source": source, "resp": None, "lines": [], "fails": None,
               "end": None, "tokens": (start_marker, end_marker), "marker_ids": set()}
        pos0 = pending["end"][0] if pending and pending["end"] else self.log.position()
        self.worker_pos[worker] = pos0
        r = self.send_marker(start_marker, source)
        if r.error:
            self.finalize(pending, None)
            ctx["fails"] = [f"setup: start marker request failed: {r.error}"]
            return ctx
        start = self.wait_for(start_marker, pos0, time.monotonic() + self.args.log_timeout,
                              resend=lambda: self.send_marker(start_marker, source), source=source)
        if start is None:
            self.finalize(pending, None)
            ctx["fails"] = [f"setup: start marker {start_marker} not found in the log within "
                            f"{self.args.log_timeout}s"]
            return ctx
        start_line = self.log.since(start[0])[: start[1] - start[0]]
        m = UNIQUE_ID_RE.search(start_line)
        if m and m.group(1):
            ctx["marker_ids"].add(m.group(1))
        self.finalize(pending, start[0], extra_ids=ctx["marker_ids"])
        try:
            request = build_request(inp)
            build_error = None
        except BuildError as e:
            request, build_error = None, str(e)
        if build_error:
            resp = Response(error=build_error)
        else:
            method = str(inp.get("method", "GET")).strip().upper()
            resp = send_raw(self.args.host, self.args.port, request, self.args.timeout, source,
                            head_request=(method == "HEAD"))
        ctx["resp"] = resp
        self.send_marker(end_marker, source)
        end = self.wait_for(
            end_marker, start[1], time.monotonic() + self.args.log_timeout,
            resend=lambda: self.send_marker(end_marker, source), source=source)
        if end is None:
            ctx["fails"] = [f"setup: end marker {end_marker} not found in the log within "
                            f"{self.args.log_timeout}s"]
            return ctx
        end_line = self.log.since(end[0])[: end[1] - end[0]]
        m = UNIQUE_ID_RE.search(end_line)
        if m and m.group(1):
            ctx["marker_ids"].add(m.group(1))
        window = self.log.since(start[1])[: end[0] - start[1]]
        ctx["lines"] = [ln for ln in window.splitlines()
                        if self._keep(ln, ctx["tokens"], ctx["marker_ids"], source)]
        ctx["end"] = end
        self.worker_pos[worker] = end[0]
        return ctx

    def finalize(self, ctx, upto, extra_ids=()):
        """Judges a stage: its lines between the markers plus the late ones written after its end marker
        and before `upto` (the next start marker's line; None: as far as the log goes now)."""
        if ctx is None:
            return
        if ctx["fails"] is None:
            lines = ctx["lines"]
            if ctx["end"] is not None:
                late = self.log.since(ctx["end"][1])
                if upto is not None:
                    late = late[: max(0, upto - ctx["end"][1])]
                ids = set(ctx["marker_ids"]) | set(extra_ids)
                lines = lines + [ln for ln in late.splitlines()
                                 if self._keep(ln, ctx["tokens"], ids, ctx["source"])
                                 and "X-CRS-Test" not in ln]
            ctx["fails"] = self.check(ctx["stage"].output, ctx["resp"], lines)
        st = ctx["stage"]
        fails = ctx["fails"]
        multi = len(st.test.stages) > 1
        with self.results_lock:
            self.results.setdefault(st.test.title, []).extend(
                f"stage {st.index}: {x}" if multi else x for x in fails)
            self.judged[st.test.title] = self.judged.get(st.test.title, 0) + 1
            done = self.judged[st.test.title] == len(st.test.stages)
        if done and self.args.verbose:
            bad = self.results[st.test.title]
            print(f"{'ok  ' if not bad else 'FAIL'} {st.test.title}", flush=True)

    def check(self, out, resp, lines):
        fails = []
        expect_error = bool(out.get("expect_error"))
        if expect_error and not resp.error:
            fails.append(f"expect_error: got no error (status {resp.status})")
        if resp.error and not expect_error:
            fails.append(f"error: {resp.error}")
        ids = sorted({m for ln in lines for m in ID_RE.findall(ln)}, key=int)
        seen = "ids seen: [" + ", ".join(ids) + "]"
        if "log_contains" in out and out["log_contains"] is not None:
            rx = re.compile(str(out["log_contains"]))
            if not any(rx.search(ln) for ln in lines):
                fails.append(f"log_contains {out['log_contains']!r} not found; {seen}")
        if "no_log_contains" in out and out["no_log_contains"] is not None:
            rx = re.compile(str(out["no_log_contains"]))
            hit = next((ln for ln in lines if rx.search(ln)), None)
            if hit is not None:
                fails.append(f"no_log_contains {out['no_log_contains']!r} found; {seen}")
        if "response_contains" in out and out["response_contains"] is not None:
            rx = re.compile(str(out["response_contains"]))
            if not rx.search(resp.raw.decode("latin-1")):
                fails.append(f"response_contains {out['response_contains']!r} not found "
                             f"(status {resp.status})")
        st = out.get("status")
        if st:  # ftw: `if stage.output.status:`
            want = st if isinstance(st, list) else [st]
            want = [int(x) for x in want]
            if resp.status not in want:
                got = resp.status if resp.status is not None else f"no status ({resp.error})"
                fails.append(f"status {want}: got {got}")
        return fails

    # preflight -------------------------------------------------------------------------------------

    def preflight(self, sources):
        """Checks the WAF logs markers to the given log; decides whether lines name the client."""
        marker = f"preflight-{self.run_id}"
        pos0 = self.log.position()
        r = self.send_marker(marker, sources[0])
        if r.error:
            raise SetupError(f"cannot reach {self.args.host}:{self.args.port}: {r.error}")
        found = self.wait_for(marker, pos0, time.monotonic() + max(5.0, self.args.log_timeout),
                              resend=lambda: self.send_marker(marker, sources[0]))
        if found is None:
            raise SetupError(
                f"the marker request reached {self.args.host}:{self.args.port} (status {r.status}) but "
                f"no line with X-CRS-Test marker appeared in {self.log.path}: is the marker rule 999999 "
                "(examples/crs-regression/test-mode.conf) loaded and is --log the WAF's error log?")
        line = self.log.since(found[0])[: found[1] - found[0]]
        if len(sources) > 1:
            c = line_client(line)
            if c != sources[0]:
                sys.stderr.write(
                    "crs: log lines do not name the client address; --jobs needs that, running 1 job\n")
                return False
            self.filter_client = True
        return True

    # all tests -------------------------------------------------------------------------------------

    def run(self, tests):
        jobs = max(1, self.args.jobs)
        sources = [None] if jobs == 1 else [f"127.0.0.{10 + i}" for i in range(jobs)]
        if self.args.host not in ("127.0.0.1", "localhost") and jobs > 1:
            sources = [None]
        if not self.preflight(sources):
            sources = [None]
        self.results, self.judged = {}, {}
        self.results_lock = threading.Lock()
        runnable = [t for t in tests if t.skip is None]
        queue = list(reversed(runnable))
        qlock = threading.Lock()

        def worker(wi, source):
            pending = None
            while True:
                with qlock:
                    t = queue.pop() if queue else None
                if t is None:
                    break
                for st in t.stages:
                    pending = self.run_stage(st, source, wi, pending)
                if wi == 0:
                    self.log.trim(min(self.worker_pos.values()))
            if pending is not None:
                # the last stage: give late lines a moment, then judge
                time.sleep(self.args.settle)
                self.log.poll()
                self.finalize(pending, None)

        if len(sources) == 1:
            worker(0, sources[0])
        else:
            threads = [threading.Thread(target=worker, args=(i, s), daemon=True)
                       for i, s in enumerate(sources)]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
        return self.results


# --------------------------------------------------------------------------------------------------


def load_overrides(path):
    with open(path, "rb") as f:
        doc = yaml.safe_load(f) or {}
    out = {}
    for o in doc.get("test_overrides") or []:
        name = o.get("name") or o.get("test_title") or o.get("test_id")
        if name:
            out[str(name)] = o
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description="Run the OWASP CRS regression tests against a WAF.")
    ap.add_argument("--host", required=True, help="address of the WAF / gateway (loopback)")
    ap.add_argument("--port", required=True, type=int)
    ap.add_argument("--log", required=True, help="the WAF's error log (ModSecurity format lines)")
    ap.add_argument("--tests", default=os.environ.get("CRS_TESTS_DIR", DEFAULT_TESTS),
                    help=f"folder of the ftw YAML tests (default: {DEFAULT_TESTS})")
    ap.add_argument("--only", help="comma-separated rule ids (942100) or test titles (942100-3)")
    ap.add_argument("--list-failures", metavar="FILE",
                    help="write the failing test titles (title<TAB>reason) to FILE")
    ap.add_argument("--overrides", metavar="FILE",
                    help="go-ftw style overrides YAML (test_overrides: [{name, reason, ...}]): "
                         "failures listed there are annotated as known")
    ap.add_argument("--jobs", type=int, default=1, help="parallel workers (default 1)")
    ap.add_argument("--timeout", type=float, default=3.0,
                    help="seconds to wait for a response (default 3)")
    ap.add_argument("--log-timeout", type=float, default=10.0,
                    help="seconds to wait for the end marker in the log (default 10)")
    ap.add_argument("--settle", type=float, default=0.2,
                    help="seconds to wait for late log lines after the last test (default 0.2)")
    ap.add_argument("--verbose", "-v", action="store_true")
    try:
        args = ap.parse_args(argv)
    except SystemExit as e:
        return 2 if e.code else 0

    if yaml is None:
        print("crs: setup error: PyYAML is missing (apt-get install python3-yaml)", file=sys.stderr)
        return 2
    tests_dir = args.tests
    if not os.path.isdir(tests_dir):
        print(f"crs: tests folder missing: {tests_dir}")
        print(f"crs: 0 passed, 0 failed, 0 skipped (tests folder missing: {tests_dir})")
        return 0
    if not find_yaml_files(tests_dir) and os.path.isdir(os.path.join(tests_dir, "tests")):
        tests_dir = os.path.join(tests_dir, "tests")
    if args.jobs < 1 or args.timeout <= 0:
        print("crs: usage error: --jobs must be >= 1 and --timeout > 0", file=sys.stderr)
        return 2

    try:
        tests = select_tests(load_tests(tests_dir), args.only)
        if args.only and not tests:
            print(f"crs: usage error: --only {args.only} matches no test", file=sys.stderr)
            return 2
        overrides = load_overrides(args.overrides) if args.overrides else {}
        log = LogReader(args.log)
        runner = Runner(args, log)
        t0 = time.monotonic()
        results = runner.run(tests)
    except SetupError as e:
        print(f"crs: setup error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("crs: interrupted", file=sys.stderr)
        return 2

    passed = failed = skipped = 0
    failures = []
    known = 0
    for t in tests:
        if t.skip is not None:
            skipped += 1
            print(f"SKIP {t.title}: {t.skip}")
            continue
        fails = results.get(t.title)
        if fails is None:
            continue
        if fails:
            failed += 1
            note = ""
            if t.title in overrides:
                known += 1
                o = overrides[t.title]
                reason = o.get("cause") or str(o.get("reason") or "listed")[:80]
                note = f"  [override: {reason}]"
            print(f"FAIL {t.title}: " + "; ".join(fails) + note)
            failures.append((t.title, "; ".join(fails)))
        else:
            passed += 1
            if t.title in overrides and overrides[t.title].get("expect_failure"):
                print(f"NOTE {t.title}: passed, though the overrides expect it to fail")
    if args.list_failures:
        with open(args.list_failures, "w") as f:
            for title, reason in failures:
                f.write(f"{title}\t{reason}\n")
    if overrides:
        print(f"crs: {known} of {failed} failures are listed in {args.overrides}")
    total = passed + failed
    rate = f"{100.0 * passed / total:.1f}%" if total else "n/a"
    print(f"crs: pass rate {rate} of {total} run, {time.monotonic() - t0:.0f}s")
    print(f"crs: {passed} passed, {failed} failed, {skipped} skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
