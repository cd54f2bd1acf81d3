"""The WAF in the gateway: OWASP CRS 3.3.4 (Debian's files, unchanged) and small custom SecLang files.

Block and detect modes, per-route overrides, block_status/block_body, request body inspection (urlencoded,
JSON, multipart, chunked, SecRequestBodyLimit), response inspection (phases 3 and 4), the ModSecurity-format
error log and the JSON audit log, PCI masking in every log, reloads (refused rule errors, valid changes,
memory across 100 CRS reloads) and `bulwark check` on rule errors.

CRS-level tests need Debian's modsecurity-crs (and, for body inspection, /etc/nginx/modsecurity.conf from
libnginx-mod-http-modsecurity, which sets SecRequestBodyAccess On); they are skipped with a message without
them. Custom rule files live in data/waf/ or are written into the test's tmp_path.
"""

import glob
import hashlib
import json
import re
import socket
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

from helpers import BULWARK, RawConn, free_port, pattern, pool, wait_for

DATA = Path(__file__).resolve().parent / "data" / "waf"
CRS_SETUP = Path("/etc/modsecurity/crs/crs-setup.conf")
CRS_RULES_DIR = Path("/usr/share/modsecurity-crs/rules")
CRS_RULES = str(CRS_RULES_DIR / "*.conf")
MODSEC_CONF = Path("/etc/nginx/modsecurity.conf")

RID_IN_BODY = re.compile(r"\(request id ([0-9A-Za-z._-]+)\)")


# ------------------------------------------------------------------------------------------------ helpers


def need_crs():
    missing = [str(p) for p in (CRS_SETUP, CRS_RULES_DIR / "REQUEST-942-APPLICATION-ATTACK-SQLI.conf")
               if not p.is_file()]
    if missing:
        pytest.skip(f"Debian's OWASP CRS is not installed (missing {', '.join(missing)}): "
                    "apt-get install modsecurity-crs")


def need_modsec_conf():
    need_crs()
    if not MODSEC_CONF.is_file():
        pytest.skip(f"{MODSEC_CONF} is missing (SecRequestBodyAccess On and the JSON body processor rule come "
                    "from it): apt-get install libnginx-mod-http-modsecurity")


def crs_rules(body=False):
    """Rule list: the contract's two entries, preceded by Debian's engine settings when `body`."""
    rules = [str(CRS_SETUP), CRS_RULES]
    return ([str(MODSEC_CONF)] + rules) if body else rules


def waf_section(log_dir, rules, **extra):
    d = {"rules": [str(r) for r in rules],
         "error_log": str(Path(log_dir) / "error.log"),
         "audit_log": str(Path(log_dir) / "audit.json")}
    d.update(extra)
    return d


def directive_value(path, name):
    """The last value of a SecLang directive in a file (None if absent)."""
    value = None
    for line in Path(path).read_text(errors="replace").splitlines():
        parts = line.strip().split(None, 1)
        if len(parts) == 2 and parts[0].lower() == name.lower():
            value = parts[1].strip()
    return value


def read_text(path):
    try:
        return Path(path).read_text(errors="replace")
    except FileNotFoundError:
        return ""


def error_lines(path, rid=None):
    lines = [l for l in read_text(path).splitlines() if l.strip()]
    if rid is not None:
        lines = [l for l in lines if f'[unique_id "{rid}"]' in l]
    return lines


_FIELD = re.compile(r'\[([a-z_]+) "((?:[^"\\]|\\.)*)"\]')


def fields(line):
    """{key: [values]} of the [key "value"] fields of an error log line."""
    out = {}
    for k, v in _FIELD.findall(line):
        out.setdefault(k, []).append(v)
    return out


def rule_ids(lines):
    return [fields(l)["id"][0] for l in lines]


def wait_error_lines(path, rid, rule_id, timeout=5.0):
    """The error log lines of request `rid`, once a line of rule `rule_id` is among them."""
    return wait_for(lambda: (lambda ls: ls if any(f'[id "{rule_id}"]' in l for l in ls) else None)(
        error_lines(path, rid)), timeout, message=f"error log line of rule {rule_id} for request {rid}")


def audit_records(path):
    """Every line of the audit log parsed as JSON (a line that is not JSON fails the test)."""
    out = []
    for i, line in enumerate(read_text(path).splitlines(), 1):
        if line.strip():
            try:
                out.append(json.loads(line))
            except ValueError as e:
                raise AssertionError(f"{path}:{i} is not a JSON line ({e}): {line[:300]!r}")
    return out


def wait_audit(path, rid, timeout=5.0):
    return wait_for(lambda: next((r for r in audit_records(path) if r["transaction"]["unique_id"] == rid), None),
                    timeout, message=f"audit record of {rid}")


def audit_rule_ids(record):
    return [m["details"]["ruleId"] for m in record["transaction"]["messages"]]


def rid_of(r):
    """The request id of a response: the X-Request-Id header (every gateway response carries it)."""
    rid = r.header("X-Request-Id")
    assert rid, f"no X-Request-Id on {r!r}"
    return rid


def assert_blocked(r, status=403):
    assert r.status == status, r
    rid = rid_of(r)
    m = RID_IN_BODY.search(r.body.decode(errors="replace"))
    assert m, f"no request id in the block page: {r.body!r}"
    assert m.group(1) == rid, (m.group(1), rid)
    return rid


def origin_requests(origin):
    return origin.stats()["requests"]


def multipart(fields_, files=(), boundary="----BulwarkFormBoundary7MA4YWxkTrZu0gW"):
    out = []
    for name, value in fields_:
        out.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n".encode()
                   + value.encode() + b"\r\n")
    for name, filename, ctype, data in files:
        out.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\n"
                   f"Content-Type: {ctype}\r\n\r\n".encode() + data + b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out), f"multipart/form-data; boundary={boundary}"


BROWSER = {
    "Host": "shop.example.test",
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/120.0.0.0 Safari/537.36",
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
    "Accept-Language": "en-US,en;q=0.9,de;q=0.8",
    "Accept-Encoding": "gzip, deflate, br",
    "Referer": "https://shop.example.test/catalog?page=2",
    "Cookie": "sessionid=3f2a9c0e1b7d4e5fa1c2; theme=dark; _ga=GA1.2.1234567890.1700000000",
    "Upgrade-Insecure-Requests": "1",
    "Sec-Fetch-Dest": "document",
    "Sec-Fetch-Mode": "navigate",
    "Sec-Fetch-Site": "same-origin",
}

SQLI_PATH = "/?id=" + urllib.parse.quote("1' OR '1'='1", safe="=")  # /?id=1'%20OR%20'1'='1
XSS_PATH = "/search?q=" + urllib.parse.quote("<script>alert(document.cookie)</script>")


def browser(**extra):
    h = dict(BROWSER)
    h.update(extra)
    return h


def post_streaming(port, path, total, content_type="application/octet-stream", timeout=30.0):
    """POSTs `total` bytes with a Content-Length from a thread, reads the response meanwhile (the gateway may
    answer before the body is complete). Returns the RawResponse."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    head = (f"POST {path} HTTP/1.1\r\nHost: uploads.example.test\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {total}\r\n\r\n").encode()
    block = b"0123456789abcdef" * 4096  # 64 KiB of benign bytes

    def send():
        try:
            sock.sendall(head)
            left = total
            while left > 0:
                n = min(left, len(block))
                sock.sendall(block[:n])
                left -= n
        except OSError:
            pass  # the gateway answered early and closed: expected with Reject

    t = threading.Thread(target=send, daemon=True)
    t.start()
    try:
        with RawConn(sock=sock, timeout=timeout) as c:
            return c.read_response("POST")
    finally:
        t.join(timeout=timeout)


def streamed_body(total):
    block = b"0123456789abcdef" * 4096
    full, rest = divmod(total, len(block))
    return block * full + block[:rest]


# ------------------------------------------------------------------------------------------------ fixtures


class Env:
    def __init__(self, origin, gw, log_dir):
        self.origin = origin
        self.gw = gw
        self.log_dir = Path(log_dir)
        self.error_log = self.log_dir / "error.log"
        self.audit_log = self.log_dir / "audit.json"


@pytest.fixture(scope="module")
def crs(module_procs):
    """CRS 3.3.4 in block mode with Debian's engine settings (request bodies inspected)."""
    need_modsec_conf()
    origin = module_procs.origin("crs-origin")
    log_dir = module_procs.dir / "bulwark-waf"
    gw = module_procs.gateway(pools={"main": pool(origin)},
                              waf=waf_section(log_dir, crs_rules(body=True), mode="block"))
    return Env(origin, gw, log_dir)


def start_env(procs, rules, routes=None, **waf_extra):
    origin = procs.origin("o")
    log_dir = procs.dir / "bulwark-waf"
    kw = {"pools": {"main": pool(origin)}, "waf": waf_section(log_dir, rules, **waf_extra)}
    if routes is not None:
        kw["routes"] = routes
    gw = procs.gateway(**kw)
    return Env(origin, gw, log_dir)


# ------------------------------------------------------------------------------------------------ contract


CONTRACT_YAML = """\
listeners:
  - address: 127.0.0.1:8080
routes:
  - match: { prefix: / }
    pool: origin
pools:
  origin:
    origins:
      - address: 127.0.0.1:18080
admin:
  address: 127.0.0.1:9901
"""

CONTRACT_WAF = ("waf: { rules: [/etc/modsecurity/crs/crs-setup.conf, /usr/share/modsecurity-crs/rules/*.conf], "
                "error_log: LOGDIR/error.log, audit_log: LOGDIR/audit.json }\n")


def test_contract_waf_snippet_as_written_blocks_sqli_logs_it_and_creates_the_log_directory(procs, tmp_path):
    need_crs()
    origin = procs.origin("contract")
    port, admin = free_port(), free_port()
    log_dir = tmp_path / "bulwark-waf"
    assert not log_dir.exists()
    text = (CONTRACT_YAML.replace("127.0.0.1:8080", f"127.0.0.1:{port}")
            .replace("127.0.0.1:18080", origin.address).replace("127.0.0.1:9901", f"127.0.0.1:{admin}")
            + CONTRACT_WAF.replace("LOGDIR", str(log_dir)))
    cfg = tmp_path / "contract-waf.yaml"
    cfg.write_text(text)
    r = subprocess.run([str(BULWARK), "check", "-c", str(cfg)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    m = re.search(r"ok \((\d+) WAF rules\)", r.stdout)
    assert m and int(m.group(1)) > 500, r.stdout  # CRS 3.3.4 has about 600 rules

    gw = procs.gateway(text, port=port, admin_port=admin)
    ok = gw.get("/hello?x=1", headers=browser())
    assert ok.status == 200 and ok.origin == "contract", ok
    before = origin_requests(origin)
    rid = assert_blocked(gw.get(SQLI_PATH))
    assert origin_requests(origin) == before
    assert log_dir.is_dir(), "the gateway did not create the WAF log directory"
    lines = wait_error_lines(log_dir / "error.log", rid, "949110")
    assert '[id "942100"]' in "\n".join(lines)
    rec = wait_audit(log_dir / "audit.json", rid)
    assert "942100" in audit_rule_ids(rec)


# ------------------------------------------------------------------------------------------------ block mode


def test_block_mode_sqli_in_query_gets_403_with_request_id_and_never_reaches_origin(crs):
    before = origin_requests(crs.origin)
    blocked_before = crs.gw.metric("bulwark_waf_blocked_total") or 0
    r = crs.gw.get(SQLI_PATH, headers=browser())
    rid = assert_blocked(r)
    assert len(rid) >= 16
    assert b"firewall" in r.body  # the default block_body
    assert origin_requests(crs.origin) == before
    assert crs.gw.metric("bulwark_waf_blocked_total") == blocked_before + 1
    entry = crs.gw.wait_log(lambda e: e.get("request_id") == rid)
    assert entry["status"] == 403 and entry["decision"] == "waf_block", entry


def test_block_mode_xss_in_query_gets_403_with_request_id_and_never_reaches_origin(crs):
    before = origin_requests(crs.origin)
    rid = assert_blocked(crs.gw.get(XSS_PATH, headers=browser()))
    assert origin_requests(crs.origin) == before
    assert any(i.startswith("941") for i in rule_ids(wait_error_lines(crs.error_log, rid, "949110")))


def test_benign_browser_get_with_cookies_passes(crs):
    before = origin_requests(crs.origin)
    r = crs.gw.get("/products/view?id=42&color=blue&sort=price_asc", headers=browser())
    assert r.status == 200, (r, error_lines(crs.error_log, r.header("X-Request-Id")))
    info = r.json()
    assert info["path"] == "/products/view?id=42&color=blue&sort=price_asc"
    assert info["headers"]["cookie"] == BROWSER["Cookie"]
    assert origin_requests(crs.origin) == before + 1


def test_benign_form_post_passes_with_body_intact(crs):
    body = urllib.parse.urlencode({"first_name": "Jane", "last_name": "Doe", "email": "jane.doe@example.com",
                                   "newsletter": "on", "comment": "Please deliver after 5pm, thanks!"}).encode()
    r = crs.gw.request("POST", "/account/profile", body=body,
                       headers=browser(**{"Content-Type": "application/x-www-form-urlencoded",
                                          "Origin": "https://shop.example.test"}))
    assert r.status == 200, (r, error_lines(crs.error_log, r.header("X-Request-Id")))
    info = r.json()
    assert info["body_bytes"] == len(body) and info["body_sha256"] == hashlib.sha256(body).hexdigest()


def test_benign_json_post_passes_with_body_intact(crs):
    body = json.dumps({"items": [{"sku": "A-1001", "qty": 2}, {"sku": "B-2002", "qty": 1}],
                       "note": "gift wrap please", "coupon": None, "express": True}).encode()
    r = crs.gw.request("POST", "/api/cart", body=body,
                       headers=browser(**{"Content-Type": "application/json", "Accept": "application/json"}))
    assert r.status == 200, (r, error_lines(crs.error_log, r.header("X-Request-Id")))
    info = r.json()
    assert info["body_bytes"] == len(body) and info["body_sha256"] == hashlib.sha256(body).hexdigest()


def test_benign_multipart_upload_passes_with_body_intact(crs):
    body, ctype = multipart([("title", "Holiday photo"), ("album", "2024")],
                            [("photo", "beach.png", "image/png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)])
    r = crs.gw.request("POST", "/upload", body=body, headers=browser(**{"Content-Type": ctype}))
    assert r.status == 200, (r, error_lines(crs.error_log, r.header("X-Request-Id")))
    assert r.json()["body_sha256"] == hashlib.sha256(body).hexdigest()


# ------------------------------------------------------------------------------------------------ request bodies


def test_sqli_only_in_urlencoded_post_body_is_blocked_before_reaching_origin(crs):
    body = urllib.parse.urlencode({"user": "bob", "q": "1' OR '1'='1"}).encode()
    before = origin_requests(crs.origin)
    r = crs.gw.request("POST", "/login", body=body,
                       headers=browser(**{"Content-Type": "application/x-www-form-urlencoded"}))
    rid = assert_blocked(r)
    assert origin_requests(crs.origin) == before
    lines = wait_error_lines(crs.error_log, rid, "949110")
    assert any('[id "942100"]' in l and "ARGS:q" in l for l in lines), lines


def test_xss_only_in_json_body_is_blocked_before_reaching_origin(crs):
    body = json.dumps({"user": "bob", "profile": {"bio": "<script>alert(document.cookie)</script>"}}).encode()
    before = origin_requests(crs.origin)
    r = crs.gw.request("POST", "/api/profile", body=body, headers=browser(**{"Content-Type": "application/json"}))
    rid = assert_blocked(r)
    assert origin_requests(crs.origin) == before
    lines = wait_error_lines(crs.error_log, rid, "949110")
    assert any(fields(l)["id"][0].startswith("941") and "bio" in l for l in lines), lines


def test_sqli_only_in_multipart_field_is_blocked_before_reaching_origin(crs):
    body, ctype = multipart([("title", "hello"), ("comment", "1' OR '1'='1")],
                            [("file", "notes.txt", "text/plain", b"plain notes\n")])
    before = origin_requests(crs.origin)
    r = crs.gw.request("POST", "/upload", body=body, headers=browser(**{"Content-Type": ctype}))
    rid = assert_blocked(r)
    assert origin_requests(crs.origin) == before
    lines = wait_error_lines(crs.error_log, rid, "949110")
    assert any('[id "942100"]' in l and "comment" in l for l in lines), lines


def test_sqli_in_chunked_urlencoded_body_is_blocked_before_reaching_origin(crs):
    before = origin_requests(crs.origin)
    payload = urllib.parse.urlencode({"a": "x" * 100, "q": "1' OR '1'='1"}).encode()
    half = len(payload) // 2
    with crs.gw.raw() as c:
        c.send(b"POST /login HTTP/1.1\r\nHost: shop.example.test\r\n"
               b"Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n")
        for part in (payload[:half], payload[half:]):
            c.send(b"%x\r\n" % len(part) + part + b"\r\n")
        c.send(b"0\r\n\r\n")
        r = c.read_response("POST")
    assert r.status == 403, r
    assert origin_requests(crs.origin) == before


def test_upload_beyond_the_loaded_request_body_limit_follows_limit_action(crs):
    # What /etc/nginx/modsecurity.conf sets (crs-setup.conf and the CRS rules do not change it).
    limit = int(directive_value(MODSEC_CONF, "SecRequestBodyLimit") or 13107200)
    action = (directive_value(MODSEC_CONF, "SecRequestBodyLimitAction") or "Reject").lower()
    for f in [CRS_SETUP] + sorted(glob.glob(CRS_RULES)):
        assert directive_value(f, "SecRequestBodyLimit") is None, f
    total = limit + 256 * 1024
    before = origin_requests(crs.origin)
    r = post_streaming(crs.gw.port, "/upload/big.bin", total)
    if action == "reject":
        assert r.status == 413, r
        assert r.header("X-Request-Id"), r
        assert origin_requests(crs.origin) == before, "a rejected upload reached the origin"
    else:
        assert r.status == 200, r
        assert r.json()["body_bytes"] == total


@pytest.mark.parametrize("action", ["Reject", "ProcessPartial"])
def test_custom_request_body_limit_action(procs, tmp_path, action):
    rules = tmp_path / "limit.conf"
    rules.write_text("SecRuleEngine On\nSecRequestBodyAccess On\nSecRequestBodyLimit 65536\n"
                     f"SecRequestBodyLimitAction {action}\n"
                     'SecRule ARGS|REQUEST_BODY "@contains evil-marker" "id:100501,phase:2,deny,log,msg:\'marker\'"\n')
    env = start_env(procs, [rules])
    total = 300 * 1024
    before = origin_requests(env.origin)
    r = post_streaming(env.gw.port, "/upload/partial.bin", total)
    if action == "Reject":
        assert r.status == 413, r
        assert origin_requests(env.origin) == before
    else:
        # Only the first 64 KiB are inspected; the whole body still reaches the origin, unchanged.
        assert r.status == 200, r
        info = r.json()
        assert info["body_bytes"] == total
        assert info["body_sha256"] == hashlib.sha256(streamed_body(total)).hexdigest()
        # An attack inside the inspected part is still blocked.
        body = b"evil-marker " + b"x" * (100 * 1024)
        before = origin_requests(env.origin)
        r = env.gw.request("POST", "/upload/p2", body=body, headers={"Content-Type": "text/plain"})
        assert_blocked(r)
        assert origin_requests(env.origin) == before
    # Under the limit, a benign body passes in both modes.
    small = b"a" * 1000
    r = env.gw.request("POST", "/upload/small", body=small, headers={"Content-Type": "text/plain"})
    assert r.status == 200 and r.json()["body_bytes"] == len(small), r


# ------------------------------------------------------------------------------------------------ modes


def test_detect_mode_lets_the_attack_through_and_logs_it(procs):
    need_crs()
    env = start_env(procs, crs_rules(), mode="detect")
    before = origin_requests(env.origin)
    r = env.gw.get(SQLI_PATH)
    assert r.status == 200, r
    assert origin_requests(env.origin) == before + 1
    rid = rid_of(r)
    assert r.json()["headers"].get("x-request-id") == rid
    lines = wait_error_lines(env.error_log, rid, "949110")
    assert '[id "942100"]' in "\n".join(lines)
    assert not any("Access denied" in l for l in lines), lines  # detection only: nothing was denied
    rec = wait_audit(env.audit_log, rid)
    assert rec["transaction"]["producer"]["secrules_engine"] == "DetectionOnly"
    assert rec["transaction"]["response"]["http_code"] == 200
    assert "942100" in audit_rule_ids(rec)


def test_route_waf_off_and_detect_override_the_global_block_mode(procs):
    need_crs()
    routes = [{"name": "legacy", "match": {"prefix": "/legacy/"}, "pool": "main", "waf": "off"},
              {"name": "internal", "match": {"prefix": "/internal/"}, "pool": "main", "waf": "detect"},
              {"name": "default", "match": {"prefix": "/"}, "pool": "main"}]
    env = start_env(procs, crs_rules(), routes=routes, mode="block")
    attack = SQLI_PATH[1:]  # "?id=..."

    off = env.gw.get("/legacy/" + attack)
    assert off.status == 200 and off.origin == "o", off
    detect = env.gw.get("/internal/" + attack)
    assert detect.status == 200 and detect.origin == "o", detect
    rid_detect = rid_of(detect)
    before = origin_requests(env.origin)
    assert_blocked(env.gw.get("/" + attack))
    assert origin_requests(env.origin) == before

    wait_error_lines(env.error_log, rid_detect, "949110")
    time.sleep(0.2)
    assert error_lines(env.error_log, rid_of(off)) == [], "a waf: off route was inspected"


def test_route_block_overrides_a_global_mode_off(procs):
    need_crs()
    routes = [{"name": "strict", "match": {"prefix": "/strict/"}, "pool": "main", "waf": "block"},
              {"name": "default", "match": {"prefix": "/"}, "pool": "main"}]
    env = start_env(procs, crs_rules(), routes=routes, mode="off")
    assert env.gw.get("/" + SQLI_PATH[1:]).status == 200
    assert_blocked(env.gw.get("/strict/" + SQLI_PATH[1:]))


def test_block_status_and_block_body_are_configurable_and_a_rule_status_wins(procs):
    need_crs()
    env = start_env(procs, crs_rules() + [DATA / "status.conf"], block_status=406,
                    block_body="Denied by policy.")
    r = env.gw.get(SQLI_PATH)
    rid = assert_blocked(r, 406)
    assert r.body.decode().startswith("Denied by policy."), r
    assert b"firewall" not in r.body
    assert '[id "949110"]' in "\n".join(wait_error_lines(env.error_log, rid, "949110"))
    r = env.gw.get("/?q=plain")
    assert_blocked(r, 406)
    r = env.gw.get("/?q=teapot")
    assert_blocked(r, 418)
    assert r.body.decode().startswith("Denied by policy."), r
    assert env.gw.get("/?q=fine").status == 200


# ------------------------------------------------------------------------------------------------ responses


def test_phase4_response_body_rule_replaces_a_leaking_response_with_403(procs):
    env = start_env(procs, [DATA / "response.conf"])
    clean = b"hello, nothing to see here\n" * 10
    r = env.gw.request("POST", "/echo", body=clean, headers={"Content-Type": "text/plain"})
    assert r.status == 200 and r.body == clean, r

    leak = b"user=admin\napi key: secret-leak-0123456789\n" + b"padding\n" * 100
    before = env.origin.count("/echo")
    r = env.gw.request("POST", "/echo", body=leak, headers={"Content-Type": "text/plain"})
    rid = assert_blocked(r)
    assert b"secret-leak" not in r.body and b"api key" not in r.body, r
    assert env.origin.count("/echo") == before + 1  # the origin answered; its answer was stopped
    lines = wait_error_lines(env.error_log, rid, "100401")
    assert any("Access denied with code 403 (phase 4)" in l for l in lines), lines

    r = env.gw.request("POST", "/echo", body=b'{"token": "secret-leak"}', headers={"Content-Type": "application/json"})
    assert_blocked(r)
    # A MIME type outside SecResponseBodyMimeType is not inspected.
    r = env.gw.request("POST", "/echo", body=b"secret-leak", headers={"Content-Type": "application/octet-stream"})
    assert r.status == 200 and r.body == b"secret-leak", r


def test_phase3_response_header_rule_blocks_before_anything_reaches_the_client(procs):
    env = start_env(procs, [DATA / "response.conf"])
    r = env.gw.get("/page?hdr=X-Other:fine")
    assert r.status == 200 and r.header("X-Other") == "fine", r
    before = env.origin.count("/page?hdr=X-Debug-Token:tok-98765")
    r = env.gw.get("/page?hdr=X-Debug-Token:tok-98765")
    rid = assert_blocked(r)
    assert r.header("X-Debug-Token") is None and r.header("X-Origin") is None, r
    assert b"tok-98765" not in r.body
    assert env.origin.count("/page?hdr=X-Debug-Token:tok-98765") == before + 1
    lines = wait_error_lines(env.error_log, rid, "100301")
    assert any("(phase 3)" in l for l in lines), lines
    # The connection stays usable afterwards.
    assert env.gw.get("/page").status == 200


def response_limit_rules(path, action):
    Path(path).write_text(
        "SecRuleEngine On\nSecResponseBodyAccess On\n"
        "SecResponseBodyMimeType text/plain application/octet-stream\nSecResponseBodyLimit 65536\n"
        + (f"SecResponseBodyLimitAction {action}\n" if action else "")
        + 'SecRule RESPONSE_BODY "@contains secret-leak" "id:100402,phase:4,deny,status:403,log,msg:\'leak\'"\n')
    return path


@pytest.mark.parametrize("path", ["/large/200000", "/chunked/200000", "/until-close/200000", "/large/1000",
                                  "/chunked/1000", "/large/0"])
def test_held_responses_reach_the_client_intact(procs, tmp_path, path):
    # Phase 4 holds the response (up to SecResponseBodyLimit), then releases it: framing and bytes unchanged.
    env = start_env(procs, [response_limit_rules(tmp_path / "resp.conf", "ProcessPartial")])
    n = int(path.rsplit("/", 1)[1])
    c = env.gw.connection()
    try:
        for _ in range(2):  # and the client connection stays usable
            r = env.gw.request("GET", path, conn=c)
            assert r.status == 200, r
            assert len(r.body) == n and r.body == pattern(n)
    finally:
        c.close()


@pytest.mark.parametrize("action", ["Reject", "ProcessPartial"])
def test_response_beyond_the_response_body_limit_follows_limit_action(procs, tmp_path, action):
    # SecResponseBodyLimitAction Reject: an over-limit response that cannot be inspected completely is
    # refused (libmodsecurity: a 403 intervention "Response body limit is marked to reject the request"),
    # not passed on with its tail unread. ProcessPartial inspects the first SecResponseBodyLimit bytes and
    # passes the rest.
    env = start_env(procs, [response_limit_rules(tmp_path / "resp.conf", action)])
    tail_leak = b"x" * (100 * 1024) + b" secret-leak"
    r = env.gw.request("POST", "/echo", body=tail_leak, headers={"Content-Type": "text/plain"})
    if action == "ProcessPartial":
        assert r.status == 200 and r.body == tail_leak, r
    else:
        assert r.status >= 400 and b"secret-leak" not in r.body, (
            f"SecResponseBodyLimitAction {action}: got {r.status} with "
            f"{len(r.body)} bytes of the over-limit response")
    head_leak = b"secret-leak " + b"x" * (100 * 1024)
    r = env.gw.request("POST", "/echo", body=head_leak, headers={"Content-Type": "text/plain"})
    assert r.status in (403, 500) and b"secret-leak" not in r.body, r


# ------------------------------------------------------------------------------------------------ logs


_LINE_HEAD = re.compile(r'^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z\] \[client 127\.0\.0\.1\] ModSecurity: '
                        r'(Warning\. |Access denied with code \d+ \(phase \d\)\. )')


def test_error_log_has_one_modsecurity_line_per_matched_rule_with_request_id_as_unique_id(crs):
    r = crs.gw.get(SQLI_PATH, headers=browser())
    rid = assert_blocked(r)
    lines = wait_error_lines(crs.error_log, rid, "949110")
    ids = rule_ids(lines)
    assert len(ids) == len(set(ids)), f"a rule logged more than once: {ids}"
    # The logging phase runs for a blocked request too (docs/waf.md): CRS 3.3's correlation rule reports the
    # score after the blocking evaluation.
    assert "942100" in ids and "949110" in ids, ids
    assert ids[-2:] == ["949110", "980130"], ids
    for line in lines:
        assert _LINE_HEAD.match(line), line
        f = fields(line)
        for key in ("file", "line", "id", "msg", "data", "severity", "hostname", "uri", "unique_id"):
            if key == "severity" and f.get("id") == ["980130"]:
                assert "severity" not in f, line  # CRS gives the correlation rule no severity
                continue
            assert len(f.get(key, [])) == 1, (key, line)
        assert f["unique_id"] == [rid]
        assert f["uri"] == [SQLI_PATH]
        assert f["hostname"] == ["shop.example.test"]
    sqli = next(l for l in lines if '[id "942100"]' in l)
    f = fields(sqli)
    assert f["file"][0] == str(CRS_RULES_DIR / "REQUEST-942-APPLICATION-ATTACK-SQLI.conf")
    src = Path(f["file"][0]).read_text().splitlines()
    n = int(f["line"][0])
    assert src[n - 1].startswith("SecRule"), (n, src[n - 1])
    assert any("id:942100" in s for s in src[n - 1:n + 20]), f"line {n} is not rule 942100's"
    assert f["msg"] == ["SQL Injection Attack Detected via libinjection"]
    assert "ARGS:id" in f["data"][0]
    assert f["severity"] == ["CRITICAL"]
    assert "attack-sqli" in f["tag"] and "OWASP_CRS" in f["tag"]
    assert "Matched \"Operator `DetectSQLi'" in sqli and "against variable `ARGS:id'" in sqli
    block = next(l for l in lines if '[id "949110"]' in l)
    assert "Access denied with code 403 (phase 2)." in block
    # The audit record of the same request names the same rules.
    assert audit_rule_ids(wait_audit(crs.audit_log, rid)) == ids


def test_audit_log_is_one_json_record_per_line_with_rule_ids(crs):
    r = crs.gw.get(XSS_PATH, headers=browser())
    rid = assert_blocked(r)
    rec = wait_audit(crs.audit_log, rid)
    tx = rec["transaction"]
    assert tx["request"]["method"] == "GET"
    assert tx["request"]["uri"] == XSS_PATH
    assert tx["response"]["http_code"] == 403
    assert tx["producer"]["secrules_engine"] == "Enabled"
    ids = audit_rule_ids(rec)
    assert "941100" in ids and "949110" in ids, ids
    for m in tx["messages"]:
        d = m["details"]
        assert d["ruleId"].isdigit() and d["file"] and d["lineNumber"].isdigit(), m
    # Every line of the file is a complete JSON record (parsed by audit_records), one per transaction.
    recs = audit_records(crs.audit_log)
    uids = [x["transaction"]["unique_id"] for x in recs]
    assert len(uids) == len(set(uids))
    # A benign request writes no record.
    ok = crs.gw.get("/products?id=7", headers=browser())
    assert ok.status == 200
    time.sleep(0.2)
    assert rid_of(ok) not in uids and all(x["transaction"]["unique_id"] != rid_of(ok)
                                          for x in audit_records(crs.audit_log))


# --- PCI masking: one request carrying card numbers and secrets, which also triggers rules.

PCI_SECRETS = ["sekrit", "4111111111111111", "4111 1111 1111 1111", "4111+1111+1111+1111",
               "4111%201111%201111%201111"]


@pytest.fixture(scope="module")
def pci_request(crs):
    path = "/checkout?cc=4111111111111111&ref=" + urllib.parse.quote("<script>alert(1)</script>")
    body = urllib.parse.urlencode({"user": "bob", "password": "sekrit' OR '1'='1",
                                   "card": "4111 1111 1111 1111 <script>alert(1)</script>"}).encode()
    r = crs.gw.request("POST", path, body=body, headers={
        "Host": "shop.example.test", "Content-Type": "application/x-www-form-urlencoded",
        "Authorization": "Bearer sekrit", "Cookie": "session=sekrit", "User-Agent": "Mozilla/5.0 test"})
    rid = assert_blocked(r)
    lines = wait_error_lines(crs.error_log, rid, "949110")
    wait_audit(crs.audit_log, rid)
    crs.gw.wait_log(lambda e: e.get("request_id") == rid)
    # The request did exercise the masking: rules matched the password field and both card fields.
    text = "\n".join(lines)
    assert "ARGS:password" in text and "ARGS:card" in text and "************1111" in text, text
    return rid


def leaked(text):
    return [s for s in PCI_SECRETS if s in text]


def test_pci_card_numbers_and_secrets_are_masked_in_the_error_log(crs, pci_request):
    text = "\n".join(error_lines(crs.error_log, pci_request))
    assert leaked(text) == [], "raw values in the WAF error log:\n" + "\n".join(
        l for l in text.splitlines() if leaked(l))


def test_pci_card_numbers_and_secrets_are_masked_in_the_audit_log(crs, pci_request):
    rec = wait_audit(crs.audit_log, pci_request)
    headers = rec["transaction"]["request"]["headers"]
    assert headers.get("Authorization") == "*****" and headers.get("Cookie") == "*****", headers
    text = json.dumps(rec, ensure_ascii=False)
    assert leaked(text) == [], "raw values in the WAF audit log: " + text


def test_pci_card_numbers_and_secrets_are_masked_in_the_access_log(crs, pci_request):
    crs.gw.wait_log(lambda e: e.get("request_id") == pci_request)  # written at the end of its loop iteration
    entries = [e for e in crs.gw.access_log() if e.get("request_id") == pci_request]
    assert entries
    text = json.dumps(entries, ensure_ascii=False)
    assert leaked(text) == [], "raw values in the access log: " + text


def test_pci_no_raw_secret_anywhere_in_the_log_files(crs, pci_request):
    for path in (crs.error_log, crs.audit_log, crs.gw.stdout_path, crs.gw.stderr_path):
        found = leaked(read_text(path))
        assert found == [], f"{path} contains {found}"


def test_pci_cookie_value_matched_by_a_rule_is_masked_in_both_waf_logs(crs):
    # Cookie values are secrets (the Cookie header is masked as a whole in the audit record); a rule that
    # matches one cookie (REQUEST_COOKIES:session) must not put its value into the logs either.
    r = crs.gw.get("/account", headers={"Host": "shop.example.test", "User-Agent": "Mozilla/5.0 test",
                                        "Cookie": "session=c00kiesekrit' OR '1'='1; theme=dark"})
    rid = assert_blocked(r)
    lines = wait_error_lines(crs.error_log, rid, "949110")
    assert any("REQUEST_COOKIES:session" in l for l in lines), lines
    rec = wait_audit(crs.audit_log, rid)
    assert [l for l in lines if "c00kiesekrit" in l] == [], "raw cookie value in the error log"
    assert "c00kiesekrit" not in json.dumps(rec), "raw cookie value in the audit log"


# ------------------------------------------------------------------------------------------------ reload, check


GOOD_RULES = ("SecRuleEngine On\n"
              'SecRule ARGS:q "@contains evil" "id:100601,phase:1,deny,log,msg:\'evil\'"\n')
BROKEN_RULES = ("SecRuleEngine On\n"
                "\n"
                'SecRule ARGS:q "@noSuchOperator evil" "id:100602,phase:1,deny,log"\n')
CHANGED_RULES = ("SecRuleEngine On\n"
                 'SecRule ARGS:q "@contains wicked" "id:100603,phase:1,deny,log,msg:\'wicked\'"\n')


def write_atomic(path, text):
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def count_in(gw, needle):
    return gw.stderr_text().count(needle)


def test_reload_with_unknown_operator_is_refused_with_file_line_and_old_rules_keep_blocking(procs, tmp_path):
    rules = tmp_path / "rules.conf"
    rules.write_text(GOOD_RULES)
    env = start_env(procs, [rules])
    assert_blocked(env.gw.get("/?q=evil"))
    write_atomic(rules, BROKEN_RULES)
    env.gw.reload()
    wait_for(lambda: f"{rules}:3" in env.gw.stderr_text(), timeout=5, message="FILE:LINE of the rule error")
    assert "noSuchOperator" in env.gw.stderr_text()
    wait_for(lambda: env.gw.metric("bulwark_config_reloads_total", result="error") == 1, timeout=3,
             message="error reload counter")
    assert env.gw.running()
    assert env.gw.status()["generation"] == 1
    before = origin_requests(env.origin)
    assert_blocked(env.gw.get("/?q=evil"))
    assert origin_requests(env.origin) == before
    assert env.gw.get("/?q=good").status == 200


def test_reload_with_a_valid_rule_change_takes_effect(procs, tmp_path):
    rules = tmp_path / "rules.conf"
    rules.write_text(GOOD_RULES)
    env = start_env(procs, [rules])
    assert_blocked(env.gw.get("/?q=evil"))
    assert env.gw.get("/?q=wicked").status == 200
    write_atomic(rules, CHANGED_RULES)
    env.gw.reload()
    wait_for(lambda: env.gw.metric("bulwark_config_reloads_total", result="ok") == 1, timeout=5,
             message="the reload")
    assert env.gw.get("/?q=evil").status == 200
    rid = assert_blocked(env.gw.get("/?q=wicked"))
    assert '[id "100603"]' in "\n".join(wait_error_lines(env.error_log, rid, "100603"))


def test_check_on_a_config_with_a_broken_rule_file_exits_2_with_file_line(tmp_path):
    rules = tmp_path / "broken.conf"
    rules.write_text(BROKEN_RULES)
    cfg = tmp_path / "bulwark.yaml"
    cfg.write_text("listeners:\n  - address: 127.0.0.1:8080\nroutes:\n  - match: { prefix: / }\n    pool: origin\n"
                   "pools:\n  origin:\n    origins:\n      - address: 127.0.0.1:18080\n"
                   "waf:\n  rules: [broken.conf]\n")
    r = subprocess.run([str(BULWARK), "check", "-c", str(cfg)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert re.search(re.escape(str(rules)) + r":3\b", r.stderr), r.stderr
    assert "noSuchOperator" in r.stderr
    # The same file with the rule fixed passes.
    rules.write_text(GOOD_RULES)
    r = subprocess.run([str(BULWARK), "check", "-c", str(cfg)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "1 WAF rules" in r.stdout or "(1 WAF rule" in r.stdout, r.stdout


def test_serve_refuses_to_start_with_a_broken_rule_file(tmp_path):
    rules = tmp_path / "broken.conf"
    rules.write_text(BROKEN_RULES)
    cfg = tmp_path / "bulwark.yaml"
    port = free_port()
    cfg.write_text(f"listeners:\n  - address: 127.0.0.1:{port}\nroutes:\n  - match: {{ prefix: / }}\n    pool: o\n"
                   f"pools:\n  o:\n    origins:\n      - address: 127.0.0.1:{free_port()}\n"
                   f"waf:\n  rules: [{rules}]\n")
    r = subprocess.run([str(BULWARK), "serve", "-c", str(cfg)], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert f"{rules}:3" in r.stderr, r.stderr


def test_prefilter_databases_are_cached_on_disk_across_restarts(procs, tmp_path, monkeypatch):
    # Twelve @rx rules reading ARGS through one chain: one Hyperscan database, compiled once, then loaded
    # from the cache directory by a restarted gateway; verdicts are the same before, during and after.
    monkeypatch.setenv("BULWARK_CACHE_DIR", str(tmp_path / "hs-cache"))
    rules = tmp_path / "rx.conf"
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliett", "kilo",
             "lima"]
    rules.write_text("SecRuleEngine On\n" + "".join(
        f'SecRule ARGS "@rx (?i){w}[0-9]+" "id:{100600 + i},phase:1,deny,t:none,t:urlDecodeUni,log"\n'
        for i, w in enumerate(words)))
    env = start_env(procs, [rules])
    assert env.gw.status()["waf"]["prefilter"] == "pending"
    assert env.gw.get("/?q=harmless").status == 200
    wait_for(lambda: env.gw.status()["waf"]["prefilter"] == "ready", timeout=60, interval=0.05,
             message="prefilter built")
    first = env.gw.status()["waf"]
    assert first["prefilter_patterns"] == 12 and first["prefilter_databases_from_cache"] == 0, first
    assert_blocked(env.gw.get("/?q=Kilo77"))
    assert env.gw.get("/?q=kilo").status == 200
    assert list((tmp_path / "hs-cache").glob("*.hsdb")), "no database written to the cache directory"
    env.gw.stop()

    again = start_env(procs, [rules])
    assert again.gw.get("/?q=harmless").status == 200
    wait_for(lambda: again.gw.status()["waf"]["prefilter"] == "ready", timeout=10, interval=0.02,
             message="prefilter loaded from the cache")
    second = again.gw.status()["waf"]
    assert second["prefilter_databases_from_cache"] == 1, second
    assert second["prefilter_build_seconds"] < 1.0, second
    assert_blocked(again.gw.get("/?q=%62ravo1"))


def test_no_memory_growth_across_100_reloads_with_crs_loaded(procs):
    need_crs()
    env = start_env(procs, crs_rules())
    gw = env.gw

    def reload_once():
        n = count_in(gw, "info: reloaded ")
        gw.reload()
        wait_for(lambda: count_in(gw, "info: reloaded ") > n, timeout=15, interval=0.01, message="'reloaded' line")

    def settled_rss():
        # The first request after a reload starts loading (or compiling) the Hyperscan prefilter in the
        # background: measure once the program's databases are in, so both figures hold the same things.
        assert gw.get("/x").status == 200
        wait_for(lambda: gw.status()["waf"]["prefilter"] in ("ready", "unavailable"), timeout=300, interval=0.1,
                 message="prefilter databases")
        return gw.rss_kb()

    for _ in range(10):
        reload_once()
    rss10 = settled_rss()
    for _ in range(90):
        reload_once()
    rss100 = settled_rss()
    # One compiled CRS program is about 10 MB: leaking one per reload would add about 900 MB here.
    assert rss100 <= rss10 * 1.25, f"VmRSS {rss10} kB after 10 reloads, {rss100} kB after 100"
    assert gw.status()["generation"] == 101
    assert_blocked(gw.get(SQLI_PATH))


IP_COUNTER_RULES = """SecRuleEngine On
SecAction "id:100701,phase:1,pass,nolog,initcol:ip=%{REMOTE_ADDR},setvar:ip.hits=+1"
SecRule IP:HITS "@gt 3" "id:100702,phase:1,deny,status:403,log,msg:'too many requests from %{ip.key}'"
"""


def test_ip_collection_persists_across_requests_connections_and_reloads(procs, tmp_path):
    """initcol:ip keeps its record between requests (any connection, either worker) and across a reload."""
    rules = tmp_path / "rules.conf"
    rules.write_text(IP_COUNTER_RULES)
    env = start_env(procs, [rules])
    for _ in range(2):
        assert env.gw.get("/a").status == 200  # each get() is a new connection
    write_atomic(rules, IP_COUNTER_RULES + "# reloaded\n")
    env.gw.reload()
    wait_for(lambda: env.gw.metric("bulwark_config_reloads_total", result="ok") == 1, timeout=5,
             message="the reload")
    assert env.gw.get("/a").status == 200
    before = origin_requests(env.origin)
    rid = assert_blocked(env.gw.get("/a"))
    assert origin_requests(env.origin) == before
    assert '[id "100702"]' in "\n".join(wait_error_lines(env.error_log, rid, "100702"))
