"""Shared helpers for the integration tests: processes, config generation, raw HTTP, metrics, PKI.

Standard library only.
"""

import hashlib
import http.client
import json
import os
import re
import selectors
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BULWARK = Path(os.environ.get("BULWARK", ROOT / "build" / "bulwark"))
ORIGIN_PY = ROOT / "examples" / "origin.py"
PYTHON = sys.executable or "/usr/bin/python3"

ALL_PROCS = []  # every process started by the tests, for the atexit safety net
_handed_out = set()


# ------------------------------------------------------------------------------------------------ basics


def free_port():
    """A loopback TCP port nobody listens on right now (not handed out before in this run)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise RuntimeError("no free port")


def port_busy(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.3):
            return True
    except OSError:
        pass
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT leftovers do not count
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def wait_for(predicate, timeout=5.0, interval=0.05, message="condition"):
    """Polls predicate() until it returns a truthy value (returned) or raises AssertionError."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = predicate()
        except (OSError, http.client.HTTPException, ValueError) as e:
            last = e
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message} (last: {last!r})")
        time.sleep(interval)


def pattern(n):
    """Body of the origin's /large/N and /chunked/N (see examples/origin.py)."""
    block = bytes(range(256)) * 64
    full, rest = divmod(n, len(block))
    return block * full + block[:rest]


def sha256(data):
    return hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------------------------------------ YAML


def _scalar(v):
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, dict) and not v:
        return "{}"
    if isinstance(v, list) and not v:
        return "[]"
    return json.dumps(str(v))  # JSON strings are valid YAML double-quoted scalars


def to_yaml(obj, indent=0):
    """Block-style YAML for dicts/lists/scalars (enough for Bulwark configs)."""
    pad = " " * indent
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, (dict, list)) and v:
                out.append(f"{pad}{k}:")
                out.append(to_yaml(v, indent + 2))
            else:
                out.append(f"{pad}{k}: {_scalar(v)}")
    elif isinstance(obj, list):
        for item in obj:
            if isinstance(item, (dict, list)) and item:
                sub = to_yaml(item, indent + 2).split("\n")
                sub[0] = pad + "- " + sub[0][indent + 2:]
                out.extend(sub)
            else:
                out.append(f"{pad}- {_scalar(item)}")
    else:
        out.append(pad + _scalar(obj))
    return "\n".join(out)


def gateway_config(port, admin_port, routes=None, pools=None, workers=2, listeners=None, **top):
    """A config dict -> YAML. `top` may hold limits, client_timeouts, access_log, ... (YAML key names)."""
    cfg = {"workers": workers}
    cfg["listeners"] = listeners if listeners is not None else [{"address": f"127.0.0.1:{port}"}]
    if routes is None:
        routes = [{"name": "default", "match": {"prefix": "/"}, "pool": "main"}]
    cfg["routes"] = routes
    if pools:
        cfg["pools"] = pools
    for k, v in top.items():
        if v is not None:
            cfg[k] = v
    if admin_port:
        cfg["admin"] = {"address": f"127.0.0.1:{admin_port}"}
    return to_yaml(cfg) + "\n"


def pool(*origins, **settings):
    """A pool dict: origins are Origin objects, addresses, or dicts ({address, weight, priority})."""
    items = []
    for o in origins:
        if isinstance(o, dict):
            items.append(o)
        elif isinstance(o, Origin):
            items.append({"address": o.address})
        else:
            items.append({"address": str(o)})
    d = {"origins": items}
    d.update(settings)
    return d


# ------------------------------------------------------------------------------------------------ processes


try:
    import ctypes

    _libc = ctypes.CDLL(None, use_errno=True)
    _PR_SET_PDEATHSIG = 1

    def _die_with_parent():
        # The child gets SIGKILL if pytest dies without cleaning up (even by SIGKILL): nothing is left
        # behind. Processes are only spawned from the main thread, whose exit is the trigger.
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
except (OSError, AttributeError):  # not Linux
    _die_with_parent = None


def _spawn(args, **kw):
    kw.setdefault("stdin", subprocess.DEVNULL)
    if _die_with_parent is not None and threading.current_thread() is threading.main_thread():
        kw.setdefault("preexec_fn", _die_with_parent)
    proc = subprocess.Popen([str(a) for a in args], **kw)
    ALL_PROCS.append(proc)
    return proc


def _stop_proc(proc, sig=signal.SIGTERM, timeout=5.0):
    if proc is None:
        return None
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        except OSError:
            pass
    return proc.returncode


class Origin:
    """examples/origin.py in a subprocess. port=0 lets the OS pick; restart() reuses the port."""

    def __init__(self, name, directory, port=0, tls_cert=None, tls_key=None, fail_health_file=None):
        self.name = name
        self.dir = Path(directory)
        self.port = port
        self.tls_cert = tls_cert
        self.tls_key = tls_key
        self.fail_health_file = Path(fail_health_file) if fail_health_file else self.dir / f"{name}.fail-health"
        self.proc = None
        self.stderr_path = self.dir / f"origin-{name}.stderr"

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def start(self, timeout=10.0):
        args = [PYTHON, ORIGIN_PY, "--port", self.port, "--name", self.name,
                "--fail-health-file", self.fail_health_file]
        if self.tls_cert:
            args += ["--tls-cert", self.tls_cert, "--tls-key", self.tls_key]
        deadline = time.monotonic() + timeout
        while True:
            err = open(self.stderr_path, "ab")
            self.proc = _spawn(args, stdout=subprocess.PIPE, stderr=err)
            err.close()
            line = self._first_line(deadline)
            if line:
                break
            self.proc.wait(timeout=5)
            self.proc.stdout.close()
            stderr = self.stderr_path.read_text(errors="replace")
            if "Address already in use" in stderr and time.monotonic() < deadline:
                time.sleep(0.2)  # restarting on the same port while old sockets linger
                continue
            raise RuntimeError(f"origin {self.name} did not start: {stderr[-2000:]}")
        m = re.search(r"listening on ([\d.]+):(\d+)", line)
        assert m, line
        self.port = int(m.group(2))
        return self

    def _first_line(self, deadline):
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        try:
            while time.monotonic() < deadline:
                if sel.select(timeout=0.1):
                    return self.proc.stdout.readline().decode()
                if self.proc.poll() is not None:
                    return ""
        finally:
            sel.close()
        self.proc.kill()
        return ""

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, kill=False):
        if self.proc is None:
            return
        _stop_proc(self.proc, signal.SIGKILL if kill else signal.SIGTERM)
        if self.proc.stdout:
            self.proc.stdout.close()

    def restart(self):
        self.stop()
        return self.start()

    def fail_health(self, failing=True):
        if failing:
            self.fail_health_file.write_text("down\n")
        elif self.fail_health_file.exists():
            self.fail_health_file.unlink()

    def stats(self):
        if self.tls_cert:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            c = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=5, context=ctx)
        else:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            c.request("GET", "/_stats")
            return json.loads(c.getresponse().read())
        finally:
            c.close()

    def count(self, path):
        return self.stats()["by_path"].get(path, 0)


class Response:
    def __init__(self, status, headers, body, reason=""):
        self.status = status
        self.headers = headers
        self.body = body
        self.reason = reason

    def header(self, name, default=None):
        return self.headers.get(name, default)

    def json(self):
        return json.loads(self.body)

    @property
    def origin(self):
        return self.headers.get("X-Origin")

    def __repr__(self):
        return f"<Response {self.status} {dict(self.headers)!r} {self.body[:200]!r}>"


def http_request(port, method="GET", path="/", body=None, headers=None, timeout=10.0, conn=None):
    """One request on a new connection (or on `conn`, kept open). Returns a Response."""
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        return Response(r.status, r.headers, data, r.reason)
    finally:
        if conn is None:
            c.close()


class Gateway:
    """build/bulwark serve -c DIR/bulwark.yaml; stdout (access log) and stderr go to files in DIR."""

    def __init__(self, directory, config_text=None, *, port=None, admin_port=None, wait_ports=None, **config_kw):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.admin_port = admin_port if admin_port is not None else free_port()
        self.config_path = self.dir / "bulwark.yaml"
        self.config_kw = config_kw
        self.stdout_path = self.dir / "bulwark.stdout"
        self.stderr_path = self.dir / "bulwark.stderr"
        self.wait_ports = wait_ports if wait_ports is not None else [self.port]
        self.proc = None
        self.expected_exit = False
        self.write_config(config_text if config_text is not None else self.render())

    # -- config

    def render(self, **changes):
        kw = dict(self.config_kw)
        kw.update(changes)
        return gateway_config(self.port, self.admin_port, **kw)

    def write_config(self, text):
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, self.config_path)  # atomic: a reload never sees half a file
        self.config_text = text

    def reconfigure(self, **changes):
        """Rewrites the config with some gateway_config() arguments changed (not reloaded yet)."""
        self.config_kw.update(changes)
        self.write_config(self.render())

    # -- process

    def start(self, timeout=10.0):
        out = open(self.stdout_path, "ab")
        err = open(self.stderr_path, "ab")
        self.proc = _spawn([BULWARK, "serve", "-c", self.config_path], stdout=out, stderr=err, cwd=self.dir)
        out.close()
        err.close()
        ports = list(self.wait_ports) + ([self.admin_port] if self.admin_port else [])
        deadline = time.monotonic() + timeout
        for p in ports:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"bulwark exited with {self.proc.returncode} during startup:\n"
                                       + self.stderr_text()[-3000:])
                try:
                    socket.create_connection(("127.0.0.1", p), timeout=0.5).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"bulwark not listening on {p} after {timeout}s:\n"
                                           + self.stderr_text()[-3000:])
                    time.sleep(0.02)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        os.kill(self.proc.pid, sig)

    def reload(self):
        self.send_signal(signal.SIGHUP)

    def stop(self, sig=signal.SIGTERM, timeout=8.0):
        if self.proc is None:
            return None
        self.expected_exit = True
        return _stop_proc(self.proc, sig, timeout)

    def crashed(self):
        """A message if the gateway died while nobody asked it to stop, else None."""
        if self.proc is None or self.expected_exit or self.proc.poll() is None:
            return None
        return (f"bulwark (config {self.config_path}) exited unexpectedly with {self.proc.returncode}; "
                f"stderr:\n{self.stderr_text()[-3000:]}")

    def stderr_text(self):
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def rss_kb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    # -- traffic

    def request(self, method="GET", path="/", body=None, headers=None, timeout=10.0, conn=None):
        return http_request(self.port, method, path, body, headers, timeout, conn)

    def get(self, path="/", **kw):
        return self.request("GET", path, **kw)

    def connection(self, timeout=10.0):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def raw(self, timeout=5.0):
        return RawConn(self.port, timeout)

    # -- admin

    def admin(self, method="GET", path="/status", body=None):
        return http_request(self.admin_port, method, path, body)

    def metrics(self):
        r = self.admin("GET", "/metrics")
        assert r.status == 200, r
        return r.body.decode()

    def metric(self, name, **labels):
        """Sum of the samples of `name` whose labels include `labels` (None if there is none)."""
        return metric_value(self.metrics(), name, **labels)

    def status(self):
        r = self.admin("GET", "/status")
        assert r.status == 200, r
        return json.loads(r.body)

    def origin_healthy(self, pool_name, address):
        for p in self.status()["pools"]:
            if p["name"] == pool_name:
                for o in p["origins"]:
                    if o["address"] == address:
                        return o["healthy"]
        raise KeyError((pool_name, address))

    # -- access log

    def access_log(self, path=None):
        lines = []
        try:
            text = Path(path or self.stdout_path).read_text(errors="replace")
        except FileNotFoundError:
            return lines
        for line in text.splitlines():
            if line.startswith("{"):
                lines.append(json.loads(line))
        return lines

    def wait_log(self, predicate, timeout=5.0, path=None):
        return wait_for(lambda: next((e for e in self.access_log(path) if predicate(e)), None), timeout,
                        message="access log line")


# ------------------------------------------------------------------------------------------------ raw HTTP


class RawResponse:
    def __init__(self, version, status, reason, headers, body, head):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (name, value) as received
        self.body = body
        self.head = head

    def header(self, name, default=None):
        vals = self.header_all(name)
        return ", ".join(vals) if vals else default

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<RawResponse {self.status} {self.headers!r} {self.body[:200]!r}>"


class RawConn:
    """A client socket that speaks HTTP/1.1 byte by byte, for protocol-level tests."""

    def __init__(self, port=None, timeout=5.0, sock=None):
        self.sock = sock if sock is not None else socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.buf = b""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.sendall(data)

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed by the server")
        self.buf += data

    def read_until(self, sep):
        while sep not in self.buf:
            self._fill()
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_to_close(self):
        try:
            while True:
                self._fill()
        except EOFError:
            pass
        except ConnectionResetError:
            pass
        out, self.buf = self.buf, b""
        return out

    def read_response(self, method="GET"):
        head = self.read_until(b"\r\n\r\n")
        lines = head[:-4].decode("latin-1").split("\r\n")
        version, status, reason = (lines[0].split(" ", 2) + [""])[:3]
        status = int(status)
        headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
        hmap = {k.lower(): v for k, v in headers}
        if method == "HEAD" or 100 <= status < 200 or status in (204, 304):
            body = b""
        elif "chunked" in hmap.get("transfer-encoding", "").lower():
            body = self._read_chunked()
        elif "content-length" in hmap:
            body = self.read_exact(int(hmap["content-length"]))
        else:
            body = self.read_to_close()
        return RawResponse(version, status, reason, headers, body, head)

    def _read_chunked(self):
        parts = []
        while True:
            line = self.read_until(b"\r\n")
            size = int(line.split(b";")[0].strip(), 16)
            if size == 0:
                while self.read_until(b"\r\n") != b"\r\n":
                    pass
                return b"".join(parts)
            parts.append(self.read_exact(size))
            assert self.read_exact(2) == b"\r\n"

    def closed_by_peer(self, timeout=3.0):
        """True if the server closes the connection within timeout (data received meanwhile is kept)."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                self.sock.settimeout(max(0.01, deadline - time.monotonic()))
                try:
                    data = self.sock.recv(65536)
                except socket.timeout:
                    return False
                if not data:
                    return True
                self.buf += data
        except (ConnectionResetError, BrokenPipeError):
            return True
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ------------------------------------------------------------------------------------------------ metrics

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """[(name, {label: value}, float)] for every sample line."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            raise ValueError(f"not a Prometheus sample line: {line!r}")
        labels = dict(_LABEL.findall(m.group(2) or ""))
        out.append((m.group(1), labels, float(m.group(3))))
    return out


def metric_value(text, name, **labels):
    total = None
    for n, l, v in parse_metrics(text):
        if n == name and all(l.get(k) == str(val) for k, val in labels.items()):
            total = (total or 0.0) + v
    return total


# ------------------------------------------------------------------------------------------------ load


class LoadLoop:
    """N threads sending GETs in a loop (keep-alive connections by default) until stop()."""

    def __init__(self, port, path="/", threads=4, keepalive=True, timeout=10.0, pause=0.0, headers=None):
        self.port = port
        self.path = path
        self.keepalive = keepalive
        self.timeout = timeout
        self.pause = pause
        self.headers = headers or {}
        self.results = []  # (time, status or "ExceptionName: text", origin)
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def _run(self):
        conn = None
        while not self.stopping.is_set():
            if conn is None or not self.keepalive:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            t = time.monotonic()
            try:
                conn.request("GET", self.path, headers=self.headers)
                r = conn.getresponse()
                r.read()
                rec = (t, r.status, r.headers.get("X-Origin"))
                if not self.keepalive:
                    conn.close()
            except Exception as e:  # noqa: BLE001 - every failure is a result
                rec = (t, f"{type(e).__name__}: {e}", None)
                conn.close()
                conn = None
            with self.lock:
                self.results.append(rec)
            if self.pause:
                time.sleep(self.pause)
        if conn is not None:
            conn.close()

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=self.timeout + 5)

    def snapshot(self):
        with self.lock:
            return list(self.results)

    def failures(self, since=None):
        return [r for r in self.snapshot() if (since is None or r[0] >= since)
                and not (isinstance(r[1], int) and r[1] < 500)]

    def origins(self, since=None):
        out = {}
        for t, status, origin in self.snapshot():
            if since is None or t >= since:
                out[origin] = out.get(origin, 0) + 1
        return out


# ------------------------------------------------------------------------------------------------ PKI


def openssl(*args, cwd=None):
    r = subprocess.run(["openssl", *[str(a) for a in args]], cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(map(str, args))} failed:\n{r.stderr}")
    return r.stdout


def make_ca(directory, name):
    d = Path(directory)
    key, cert = d / f"{name}.key", d / f"{name}.pem"
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", key, "-out", cert, "-days", "2", "-subj", f"/CN={name}",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return cert, key


def make_cert(directory, name, ca_cert, ca_key, sans):
    """A server certificate signed by the CA; sans like ["DNS:a.test", "IP:127.0.0.1"]."""
    d = Path(directory)
    key, csr, cert, ext = d / f"{name}.key", d / f"{name}.csr", d / f"{name}.pem", d / f"{name}.ext"
    ext.write_text("subjectAltName=" + ",".join(sans) + "\n"
                   "basicConstraints=CA:FALSE\n"
                   "keyUsage=critical,digitalSignature\n"
                   "extendedKeyUsage=serverAuth\n")
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", key, "-out", csr, "-subj", f"/CN={name}")
    openssl("x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key, "-CAcreateserial",
            "-out", cert, "-days", "2", "-extfile", ext)
    return cert, key
