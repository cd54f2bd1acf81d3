"""Command line: the contract config, `check`, `--version`, `--help`."""

import hashlib
import re
import subprocess

import pytest

from helpers import BULWARK, ROOT, http_request, port_busy

# The smallest file, exactly as the issue (and docs/configuration.md) writes it.
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


def run(*args, timeout=10):
    return subprocess.run([str(BULWARK), *map(str, args)], capture_output=True, text=True, timeout=timeout)


def test_contract_config_as_written_proxies_get_and_post(procs):
    busy = [p for p in (8080, 18080, 9901) if port_busy(p)]
    if busy:
        pytest.skip(f"ports {busy} are in use on 127.0.0.1; the contract config needs 8080, 18080 and 9901")
    origin = procs.origin("contract", port=18080)
    gw = procs.gateway(CONTRACT_YAML, port=8080, admin_port=9901)
    r = gw.get("/hello?x=1")
    assert r.status == 200, r
    assert r.origin == "contract"
    info = r.json()
    assert info["method"] == "GET" and info["path"] == "/hello?x=1"

    body = b"contract body " * 100
    r = gw.request("POST", "/submit", body=body, headers={"Content-Type": "text/plain"})
    assert r.status == 200, r
    info = r.json()
    assert info["method"] == "POST"
    assert info["body_bytes"] == len(body)
    assert info["body_sha256"] == hashlib.sha256(body).hexdigest()

    assert http_request(9901, "GET", "/healthz").status == 200
    assert origin.count("/hello?x=1") == 1


def test_contract_config_with_ports_substituted_proxies_get_and_post(procs):
    origin = procs.origin("contract")
    from helpers import free_port
    port, admin = free_port(), free_port()
    text = (CONTRACT_YAML.replace("127.0.0.1:8080", f"127.0.0.1:{port}")
            .replace("127.0.0.1:18080", origin.address).replace("127.0.0.1:9901", f"127.0.0.1:{admin}"))
    gw = procs.gateway(text, port=port, admin_port=admin)
    r = gw.get("/x")
    assert r.status == 200 and r.origin == "contract", r
    r = gw.request("POST", "/y", body=b"abc")
    assert r.status == 200 and r.json()["body_bytes"] == 3, r
    assert gw.admin("GET", "/healthz").status == 200


def test_check_accepts_the_contract_config(tmp_path):
    f = tmp_path / "minimal.yaml"
    f.write_text(CONTRACT_YAML)
    r = run("check", "-c", f)
    assert r.returncode == 0, r.stderr


def test_check_accepts_the_demo_config():
    r = run("check", "-c", ROOT / "examples" / "demo.yaml")
    assert r.returncode == 0, r.stderr


def _position(text, needle):
    for i, line in enumerate(text.splitlines(), 1):
        col = line.find(needle)
        if col >= 0:
            return i, col + 1
    raise ValueError(needle)


def test_check_unknown_key_exits_2_with_file_line_col(tmp_path):
    text = CONTRACT_YAML.replace("      - address: 127.0.0.1:18080\n",
                                 "      - address: 127.0.0.1:18080\n        wieght: 3\n")
    f = tmp_path / "typo.yaml"
    f.write_text(text)
    r = run("check", "-c", f)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    line, col = _position(text, "wieght")
    first = r.stderr.strip().splitlines()[0]
    assert first.startswith(f"{f}:{line}:{col}: "), first
    assert "wieght" in first


def test_check_unknown_top_level_key_points_at_it(tmp_path):
    text = CONTRACT_YAML + "steering:\n  enabled: true\n"
    f = tmp_path / "steering.yaml"
    f.write_text(text)
    r = run("check", "-c", f)
    assert r.returncode == 2
    line, col = _position(text, "steering:")
    assert re.match(rf"^{re.escape(str(f))}:{line}:{col}: .*steering", r.stderr), r.stderr


def test_check_yaml_syntax_error_exits_2_with_file_line_col(tmp_path):
    text = "listeners:\n  - address: 127.0.0.1:8080\nroutes: [ { prefix: /\n"
    f = tmp_path / "broken.yaml"
    f.write_text(text)
    r = run("check", "-c", f)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    m = re.match(rf"^{re.escape(str(f))}:(\d+):(\d+): \S", r.stderr)
    assert m, r.stderr
    assert int(m.group(1)) >= 3  # the error is at or after the unclosed flow


def test_check_missing_file_exits_2(tmp_path):
    f = tmp_path / "nope.yaml"
    r = run("check", "-c", f)
    assert r.returncode == 2
    assert r.stderr.startswith(f"{f}: "), r.stderr


def test_serve_with_invalid_config_refuses_to_start(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text(CONTRACT_YAML.replace("pool: origin", "pool: orgin"))
    r = run("serve", "-c", f)
    assert r.returncode != 0
    assert re.search(rf"{re.escape(str(f))}:\d+(:\d+)?: .*orgin", r.stderr), r.stderr


def test_version_prints_name_and_version():
    r = run("--version")
    assert r.returncode == 0
    assert re.match(r"^bulwark \d+\.\d+\.\d+", r.stdout), r.stdout


def test_help_lists_commands():
    r = run("--help")
    assert r.returncode == 0
    assert "serve" in r.stdout and "check" in r.stdout and "-c" in r.stdout


def test_unknown_command_is_a_usage_error():
    r = run("frobnicate")
    assert r.returncode not in (0, 2)
    assert "Usage" in r.stderr or "usage" in r.stderr
