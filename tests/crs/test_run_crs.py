"""Self-tests of the CRS runner (tests/crs/run_crs.py), without a real WAF.

    /usr/bin/python3 -m pytest -q tests/crs/test_run_crs.py

Request building is checked against ftw's rules. The end-to-end tests use a fake WAF: a loopback
server that writes ModSecurity-format lines to a log (the marker line for X-CRS-Test requests,
`[id "942100"]` for targets containing "attack", and for "late" the same line only after the end
marker's line, as a WAF with several worker threads may write it).
"""

import base64
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run_crs  # noqa: E402


# --- request building (ftw semantics) ------------------------------------------------------------------


def test_defaults_and_header_order():
    req = run_crs.build_request({"headers": {"User-Agent": "t", "Host": "localhost"}})
    assert req == b"GET / HTTP/1.1\r\nUser-Agent: t\r\nHost: localhost\r\n\r\n"


def test_magic_adds_content_type_length_and_encodes_form_data():
    req = run_crs.build_request({"method": "POST", "headers": {"Host": "h"}, "data": "a=b c&d=<x>"})
    head, body = req.split(b"\r\n\r\n", 1)
    assert body == b"a=b+c&d=%3Cx%3E"
    assert b"Content-Type: application/x-www-form-urlencoded" in head
    assert b"Content-Length: 15" in head


def test_already_encoded_data_is_left_alone():
    req = run_crs.build_request({"method": "POST", "headers": {"Host": "h"}, "data": "a=%3Cx%3E"})
    assert req.endswith(b"\r\n\r\na=%3Cx%3E")


def test_stop_magic_sends_data_verbatim():
    req = run_crs.build_request({"method": "POST", "headers": {"Content-Length": 3}, "data": "a b",
                                 "stop_magic": True})
    assert req == b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\na b"


def test_data_list_is_joined_with_crlf_and_empty_version_kept():
    req = run_crs.build_request({"version": "", "headers": {"Content-Type": "text/plain"},
                                 "data": ["x", "y"]})
    assert req.startswith(b"GET / \r\n")
    assert req.endswith(b"Content-Length: 4\r\n\r\nx\r\ny")


def test_encoded_and_raw_requests():
    raw = b"GET /\nHost: x\n\n"
    assert run_crs.build_request({"encoded_request": base64.b64encode(raw).decode()}) == raw
    assert run_crs.build_request({"raw_request": "GET / HTTP/1.0\\r\\n\\r\\n"}) == b"GET / HTTP/1.0\r\n\r\n"
    with pytest.raises(run_crs.BuildError):
        run_crs.build_request({"raw_request": "x", "encoded_request": "eA=="})


def test_response_parsing_follows_ftw():
    assert run_crs.parse_response(b"HTTP/1.1 403 Forbidden\r\nA: b\r\n\r\n").status == 403
    assert run_crs.parse_response(b"<html>0.9 style</html>").error
    assert run_crs.parse_response(b"HTTP/1.1 200\r\n\r\n").error  # no reason phrase: ftw's error
    assert run_crs.parse_response(b"HTTP/1.1 200 OK\r\nbroken\r\n\r\n").error
    assert run_crs.parse_response(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\n\r\n").status == 201


def test_line_client():
    assert run_crs.line_client("[client 127.0.0.12] ModSecurity: x") == "127.0.0.12"
    assert run_crs.line_client("[client 127.0.0.1:5555] [client 127.0.0.1] ModSecurity") == "127.0.0.1"
    assert run_crs.line_client("ModSecurity: ..., client: 127.0.0.11, server: x") == "127.0.0.11"
    assert run_crs.line_client("ModSecurity: nothing") is None


# --- end to end against a fake WAF ------------------------------------------------------------------------


class FakeWaf:
    def __init__(self, log_path):
        self.log_path = log_path
        self.lock = threading.Lock()
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(64)
        self.port = self.srv.getsockname()[1]
        self.n = 0
        self.late = {}
        threading.Thread(target=self.loop, daemon=True).start()

    def write(self, client, text):
        with self.lock, open(self.log_path, "a") as f:
            f.write(f"[now] [client {client}] ModSecurity: Warning. {text}\n")

    def loop(self):
        while True:
            try:
                c, addr = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self.handle, args=(c, addr[0]), daemon=True).start()

    def handle(self, c, client):
        with c:
            buf = b""
            c.settimeout(5)
            while b"\r\n\r\n" not in buf:
                d = c.recv(65536)
                if not d:
                    return
                buf += d
            head = buf.split(b"\r\n\r\n")[0].decode("latin-1")
            target = head.split(" ")[1] if " " in head else ""
            with self.lock:
                self.n += 1
                uid = f"uid{self.n}"
            for line in head.split("\r\n")[1:]:
                if line.lower().startswith("x-crs-test:"):
                    v = line.split(":", 1)[1].strip()
                    self.write(client, f'[id "999999"] [msg "X-CRS-Test {v}"] [unique_id "{uid}"]')
                    if v.endswith("-end"):  # a worker that flushes the test's last line only now
                        for text in self.late.pop(client, []):
                            self.write(client, text)
            if "attack" in target:
                self.write(client, f'[id "942100"] [msg "SQLi"] [unique_id "{uid}"]')
            if "late" in target:
                with self.lock:
                    self.late.setdefault(client, []).append(f'[id "942100"] [unique_id "{uid}"]')
            if "close" in target:
                return  # no answer at all: an "error"
            status = b"403 Forbidden" if "deny" in target else b"200 OK"
            c.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")


TESTS_YAML = """
meta: {author: t, enabled: true, name: 942100.yaml, description: fake}
tests:
  - test_title: 942100-1
    stages: [{stage: {input: {uri: "/?attack", headers: {Host: localhost}}, output: {log_contains: 'id "942100"'}}}]
  - test_title: 942100-2
    stages: [{stage: {input: {uri: "/?fine", headers: {Host: localhost}}, output: {no_log_contains: 'id "942100"'}}}]
  - test_title: 942100-3
    stages: [{stage: {input: {uri: "/?fine", headers: {Host: localhost}}, output: {log_contains: 'id "942100"'}}}]
  - test_title: 942100-4
    stages: [{stage: {input: {uri: "/?late", headers: {Host: localhost}}, output: {log_contains: 'id "942100"'}}}]
  - test_title: 942100-5
    stages: [{stage: {input: {uri: "/?late", headers: {Host: localhost}}, output: {no_log_contains: 'id "942100"'}}}]
  - test_title: 942100-6
    stages: [{stage: {input: {uri: "/deny", headers: {Host: localhost}}, output: {status: [403, 400]}}}]
  - test_title: 942100-7
    stages: [{stage: {input: {uri: "/close", headers: {Host: localhost}}, output: {expect_error: true}}}]
  - test_title: 942100-8
    stages: [{stage: {input: {uri: "/", headers: {Host: localhost}}, output: {expect_error: true}}}]
  - test_title: 942100-9
    stages:
      - {stage: {input: {uri: "/?fine", headers: {Host: localhost}}, output: {no_log_contains: 'id "942100"'}}}
      - {stage: {input: {uri: "/?attack", headers: {Host: localhost}}, output: {log_contains: 'id "942100"'}}}
"""
DISABLED_YAML = """
meta: {author: t, enabled: false, name: 920250.yaml, description: off}
tests:
  - test_title: 920250-1
    stages: [{stage: {input: {uri: "/"}, output: {status: 200}}}]
"""


@pytest.fixture()
def env(tmp_path):
    tests = tmp_path / "tests" / "REQUEST-942"
    tests.mkdir(parents=True)
    (tests / "942100.yaml").write_text(TESTS_YAML)
    (tmp_path / "tests" / "920250.yaml").write_text(DISABLED_YAML)
    log = tmp_path / "error.log"
    log.write_text("")
    waf = FakeWaf(str(log))
    return tmp_path, waf, log


def run(tmp_path, waf, log, *extra):
    cmd = [sys.executable, os.path.join(HERE, "run_crs.py"), "--host", "127.0.0.1", "--port", str(waf.port),
           "--log", str(log), "--tests", str(tmp_path / "tests"), "--timeout", "1",
           "--list-failures", str(tmp_path / "fail.txt"), *extra]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    return p


@pytest.mark.parametrize("jobs", ["1", "3"])
def test_end_to_end(env, jobs):
    tmp_path, waf, log = env
    p = run(tmp_path, waf, log, "--jobs", jobs)
    assert p.returncode == 0, p.stderr
    last = p.stdout.strip().splitlines()[-1]
    # fails: -3 (nothing logged), -5 (a late line is still this test's), -8 (a normal answer)
    assert last == "crs: 6 passed, 3 failed, 1 skipped", p.stdout
    failed = sorted(line.split("\t")[0] for line in (tmp_path / "fail.txt").read_text().splitlines())
    assert failed == ["942100-3", "942100-5", "942100-8"]
    assert "SKIP 920250-1: test file disabled" in p.stdout


def test_only_and_missing_folder(env, tmp_path):
    _, waf, log = env
    p = run(tmp_path, waf, log, "--only", "942100-1,942100-9")
    assert p.stdout.strip().splitlines()[-1] == "crs: 2 passed, 0 failed, 0 skipped"
    p = subprocess.run([sys.executable, os.path.join(HERE, "run_crs.py"), "--host", "127.0.0.1", "--port", "1",
                        "--log", str(log), "--tests", str(tmp_path / "nope")], capture_output=True, text=True)
    assert p.returncode == 0
    assert p.stdout.strip().splitlines()[-1] == \
        f"crs: 0 passed, 0 failed, 0 skipped (tests folder missing: {tmp_path / 'nope'})"


def test_setup_errors_exit_2(env, tmp_path):
    _, waf, log = env
    p = subprocess.run([sys.executable, os.path.join(HERE, "run_crs.py"), "--host", "127.0.0.1", "--port", "1",
                        "--log", str(log), "--tests", str(tmp_path / "tests")], capture_output=True, text=True)
    assert p.returncode == 2 and "cannot reach" in p.stderr
    other = tmp_path / "other.log"
    other.write_text("")
    p = run(tmp_path, waf, other, "--log-timeout", "1")
    assert p.returncode == 2 and "marker" in p.stderr
    p = subprocess.run([sys.executable, os.path.join(HERE, "run_crs.py"), "--port", "x"],
                       capture_output=True, text=True)
    assert p.returncode == 2
