#!/usr/bin/env python3
"""Turns CRS 3.3.4 ftw tests for rules 942100 (@detectSQLi) and 941100 (@detectXSS) into detector vectors.

For each test it collects every value the rule inspects (its targets, as in
/usr/share/modsecurity-crs/rules/REQUEST-94[12]-*.conf), applies an approximation of the rule's
transformation chain, and writes one line per value:

    <rule> TAB <test id> TAB <detect|clean> TAB <value, escaped: \\\\ \\t \\n \\r \\xHH>

A test expecting `log_contains` passes if ANY of its values is detected; one expecting
`no_log_contains` passes only if NONE is. A test with no inspected value gets one line with an
empty value, so that it still appears in the file.

Usage: extract_crs_vectors.py CRS_TESTS_DIR > crs_vectors.txt
"""
import re
import sys
from html import unescape as html_unescape
from pathlib import Path
from urllib.parse import unquote_to_bytes

import yaml

# Targets of each rule in CRS 3.3.4 (Referer is a target of 942100 but only of 941101, at PL2, for XSS).
RULES = {
    "942100": {
        "file": "REQUEST-942-APPLICATION-ATTACK-SQLI/942100.yaml",
        "headers": ["user-agent-not-a-target", "referer"],
        "xss_transforms": False,
    },
    "941100": {
        "file": "REQUEST-941-APPLICATION-ATTACK-XSS/941100.yaml",
        "headers": ["user-agent"],
        "xss_transforms": True,
    },
}


def url_decode_args(raw: str) -> bytes:
    """ModSecurity v2's argument decoding: '+' is a space, %HH is a byte, invalid escapes stay."""
    return unquote_to_bytes(raw.replace("+", " "))


def url_decode_uni(data: bytes) -> bytes:
    """t:urlDecodeUni: %HH, %uHHHH (low byte, full-width ASCII folded), '+' as space."""
    out = bytearray()
    i = 0
    while i < len(data):
        c = data[i]
        if c == ord("%"):
            m = re.match(rb"%[uU]([0-9a-fA-F]{4})", data[i:])
            if m:
                code = int(m.group(1), 16)
                if 0xFF01 <= code <= 0xFF5E:
                    out.append(code - 0xFEE0)
                else:
                    out.append(code & 0xFF)
                i += 6
                continue
            m = re.match(rb"%([0-9a-fA-F]{2})", data[i:])
            if m:
                out.append(int(m.group(1), 16))
                i += 3
                continue
        out.append(ord(" ") if c == ord("+") else c)
        i += 1
    return bytes(out)


def js_decode(data: bytes) -> bytes:
    """t:jsDecode: \\xHH, \\uHHHH (low byte), octal, and single-character escapes."""
    simple = {b"a": 7, b"b": 8, b"f": 12, b"n": 10, b"r": 13, b"t": 9, b"v": 11}
    out = bytearray()
    i = 0
    while i < len(data):
        if data[i] == ord("\\") and i + 1 < len(data):
            rest = data[i + 1:]
            m = re.match(rb"u([0-9a-fA-F]{4})", rest)
            if m:
                out.append(int(m.group(1), 16) & 0xFF)
                i += 6
                continue
            m = re.match(rb"x([0-9a-fA-F]{2})", rest)
            if m:
                out.append(int(m.group(1), 16))
                i += 4
                continue
            m = re.match(rb"([0-7]{1,3})", rest)
            if m:
                out.append(int(m.group(1), 8) & 0xFF)
                i += 1 + len(m.group(1))
                continue
            ch = rest[:1]
            out.append(simple.get(ch, ch[0]))
            i += 2
            continue
        out.append(data[i])
        i += 1
    return bytes(out)


def css_decode(data: bytes) -> bytes:
    """t:cssDecode: backslash + 1..6 hex digits (one trailing space eaten), or backslash + char."""
    out = bytearray()
    i = 0
    while i < len(data):
        if data[i] == ord("\\") and i + 1 < len(data):
            m = re.match(rb"([0-9a-fA-F]{1,6}) ?", data[i + 1:])
            if m:
                out.append(int(m.group(1), 16) & 0xFF)
                i += 1 + len(m.group(0))
                continue
            if data[i + 1] != ord("\n"):
                out.append(data[i + 1])
            i += 2
            continue
        out.append(data[i])
        i += 1
    return bytes(out)


def html_entity_decode(data: bytes) -> bytes:
    return html_unescape(data.decode("latin-1")).encode("latin-1", errors="replace")


def transform(value: bytes, xss: bool) -> bytes:
    value = url_decode_uni(value)
    if xss:
        value = html_entity_decode(value)
        value = js_decode(value)
        value = css_decode(value)
    return value.replace(b"\x00", b"")


def parse_pairs(raw: str, sep: str):
    for part in raw.split(sep):
        if part == "":
            continue
        name, _, value = part.partition("=")
        yield name, value


def inspected_values(stage_input: dict, rule: dict):
    """Yields the raw (pre-transformation) bytes of every target of the rule in this request."""
    headers = {str(k).lower(): str(v) for k, v in (stage_input.get("headers") or {}).items()}
    uri = str(stage_input.get("uri", "/"))
    if "?" in uri:
        for name, value in parse_pairs(uri.split("?", 1)[1], "&"):
            yield url_decode_args(name)
            yield url_decode_args(value)
    data = stage_input.get("data")
    if isinstance(data, list):
        data = "\r\n".join(data)
    content_type = headers.get("content-type", "application/x-www-form-urlencoded")
    if data and content_type.startswith("application/x-www-form-urlencoded"):
        for name, value in parse_pairs(str(data), "&"):
            yield url_decode_args(name)
            yield url_decode_args(value)
    if "cookie" in headers:
        for name, value in parse_pairs(headers["cookie"], ";"):
            name = name.strip()
            yield name.encode("latin-1")
            if "__utm" not in name:
                yield value.strip().encode("latin-1")
    for header in rule["headers"]:
        if header in headers:
            yield headers[header].encode("latin-1")


def escape(value: bytes) -> str:
    out = []
    for b in value:
        if b == 0x5C:
            out.append("\\\\")
        elif b == 0x09:
            out.append("\\t")
        elif b == 0x0A:
            out.append("\\n")
        elif b == 0x0D:
            out.append("\\r")
        elif 0x20 <= b < 0x7F:
            out.append(chr(b))
        else:
            out.append("\\x%02x" % b)
    return "".join(out)


def main() -> int:
    tests_dir = Path(sys.argv[1])
    print("# Generated by extract_crs_vectors.py from the CRS 3.3.4 regression tests; do not edit by hand.")
    print("# rule\ttest\texpect\tvalue")
    for rule_id, rule in RULES.items():
        doc = yaml.safe_load((tests_dir / rule["file"]).read_text())
        for test in doc["tests"]:
            for stage in test["stages"]:
                stage = stage["stage"]
                output = stage.get("output", {})
                if rule_id in str(output.get("log_contains", "")):
                    expect = "detect"
                elif rule_id in str(output.get("no_log_contains", "")):
                    expect = "clean"
                else:
                    continue
                values = []
                for raw in inspected_values(stage["input"], rule):
                    value = transform(raw, rule["xss_transforms"])
                    if value not in values:
                        values.append(value)
                for value in values or [b""]:
                    print(f"{rule_id}\t{test['test_title']}\t{expect}\t{escape(value)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
