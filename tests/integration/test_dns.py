"""The authoritative DNS server in the gateway (issue #5; docs/dns-server.md): the contract `dns:` section,
UDP and TCP on IPv4 and IPv6, pipelined TCP, truncation, zone reloads, REFUSED outside our zones, response
rate limiting with DNS cookies, the TCP connection cap and idle timeout, malformed packets.

dnspython (Debian python3-dnspython) builds and parses the messages; raw sockets carry them so every test
controls its own timeouts, sources and framing. Every loop here is bounded.
"""

import os
import random
import signal
import socket
import struct
import time

import pytest

dns = pytest.importorskip("dns")
import dns.edns  # noqa: E402
import dns.flags  # noqa: E402
import dns.message  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdatatype  # noqa: E402

import helpers  # noqa: E402
from helpers import free_port, wait_for  # noqa: E402

ZONE = """$ORIGIN example.com.
$TTL 300
@       IN SOA ns1.example.com. hostmaster.example.com. 2024010101 3600 600 86400 300
@       IN NS  ns1.example.com.
@       IN NS  ns2.example.com.
ns1     IN A   192.0.2.1
ns2     IN A   192.0.2.2
www     IN A   192.0.2.10
www     IN AAAA 2001:db8::10
mail    IN MX  10 www.example.com.
alias   IN CNAME www.example.com.
"""


def big_txt():
    """An RRset far over 1232 bytes: the UDP answer is truncated, the TCP one complete."""
    return "".join(f'big     IN TXT "{i:03d}-{"x" * 90}"\n' for i in range(40))


def write_zone(path, extra=""):
    tmp = path.with_suffix(".tmp")
    tmp.write_text(ZONE + big_txt() + extra)
    os.replace(tmp, path)
    # A reload finds a changed file by size and mtime: make sure the mtime moves even within one tick.
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def dns_gateway(procs, tmp_path, dns_section, admin=True, port=None, extra_zone=""):
    """A DNS-only gateway: the `dns:` section (YAML text with {port} and {zone}), plus an admin listener."""
    port = port or free_port()
    zone = tmp_path / "example.com.zone"
    if not zone.exists():
        write_zone(zone, extra_zone)
    admin_port = free_port() if admin else 0
    text = dns_section.format(port=port, zone=zone)
    if admin:
        text += f"admin:\n  address: 127.0.0.1:{admin_port}\n"
    gw = procs.gateway(text, port=port, admin_port=admin_port)
    gw.dns_port = port
    gw.zone_path = zone
    return gw


BASIC = """dns:
  listen: [127.0.0.1:{port}]
  zones:
    - name: example.com
      file: {zone}
"""


def udp_query(port, name, rdtype="A", host="127.0.0.1", timeout=2.0, source=None, **make_kw):
    q = dns.message.make_query(name, rdtype, **make_kw)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        if source:
            s.bind((source, 0))
        s.settimeout(timeout)
        s.sendto(q.to_wire(), (host, port))
        data, _ = s.recvfrom(65535)
    return dns.message.from_wire(data)


def framed(msg):
    wire = msg.to_wire() if hasattr(msg, "to_wire") else msg
    return struct.pack("!H", len(wire)) + wire


def read_framed(sock):
    head = recv_exact(sock, 2)
    (n,) = struct.unpack("!H", head)
    return dns.message.from_wire(recv_exact(sock, n))


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError(f"closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def tcp_query(port, name, rdtype="A", host="127.0.0.1", timeout=3.0):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect((host, port))
        s.sendall(framed(dns.message.make_query(name, rdtype)))
        return read_framed(s)


def not_answering(ask, port):
    """True when `ask` (udp_query or tcp_query) gets no answer on `port` (refused, reset or timed out)."""
    try:
        ask(port, "www.example.com", timeout=0.5)
    except OSError:
        return True
    return False


def addresses(msg, rdtype="A"):
    out = []
    for rrset in msg.answer:
        if rrset.rdtype == dns.rdatatype.from_text(rdtype):
            out += [r.to_text() for r in rrset]
    return sorted(out)


# ---------------------------------------------------------------------------------------------- contract


def test_contract_config_as_written(procs, tmp_path):
    """A file with only the issue's `dns:` section serves (no listeners, routes, pools or admin)."""
    port = free_port()
    zone = tmp_path / "example.com.zone"
    write_zone(zone)
    text = f"""dns:
  listen: [127.0.0.1:{port}]
  zones:
    - name: example.com
      file: {zone}
"""
    check = helpers._spawn([helpers.BULWARK, "check", "-c", _write(tmp_path / "check.yaml", text)],
                           stdout=-1, stderr=-1)
    out, err = check.communicate(timeout=30)
    assert check.returncode == 0, (out, err)
    gw = procs.gateway(text, port=port, admin_port=0)
    r = udp_query(port, "www.example.com", "A")
    assert r.rcode() == dns.rcode.NOERROR
    assert r.flags & dns.flags.AA
    assert addresses(r) == ["192.0.2.10"]
    assert gw.running()


def _write(path, text):
    path.write_text(text)
    return path


def test_unknown_dns_key_is_an_error_with_position(tmp_path):
    text = """dns:
  listen: [127.0.0.1:5300]
  zones:
    - name: example.com
      file: /nonexistent/zone
  colour: blue
"""
    p = _write(tmp_path / "bad.yaml", text)
    proc = helpers._spawn([helpers.BULWARK, "check", "-c", p], stdout=-1, stderr=-1)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    err = err.decode()
    assert f"{p}:6:3: unknown key 'colour' in dns" in err, err
    assert f"{p}:5:13:" in err and "cannot read" in err, err


def test_check_refuses_a_broken_zone_with_file_and_line(tmp_path):
    zone = tmp_path / "broken.zone"
    zone.write_text(ZONE + "bad  IN A 999.1.2.3\n")
    p = _write(tmp_path / "b.yaml", BASIC.format(port=5300, zone=zone))
    proc = helpers._spawn([helpers.BULWARK, "check", "-c", p], stdout=-1, stderr=-1)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2, (out, err)
    assert f"{zone}:12" in err.decode(), err


# ------------------------------------------------------------------------------------------ transports


def test_udp_and_tcp_on_ipv4_and_ipv6(procs, tmp_path):
    if not ipv6_loopback():
        pytest.skip("no IPv6 loopback")
    port = free_port()
    section = """dns:
  listen: [127.0.0.1:{port}, "[::1]:{port}"]
  zones:
    - name: example.com
      file: {zone}
"""
    dns_gateway(procs, tmp_path, section, port=port)
    for host in ("127.0.0.1", "::1"):
        u = udp_query(port, "www.example.com", "AAAA", host=host)
        t = tcp_query(port, "www.example.com", "AAAA", host=host)
        assert addresses(u, "AAAA") == ["2001:db8::10"], host
        assert addresses(t, "AAAA") == ["2001:db8::10"], host


def test_several_queries_on_one_tcp_connection(procs, tmp_path):
    gw = dns_gateway(procs, tmp_path, BASIC)
    names = ["www.example.com", "ns1.example.com", "ns2.example.com", "nope.example.com", "mail.example.com"]
    queries = [dns.message.make_query(n, "A") for n in names]
    with socket.create_connection(("127.0.0.1", gw.dns_port), timeout=3) as s:
        s.sendall(b"".join(framed(q) for q in queries))  # pipelined: all before any answer is read
        answers = [read_framed(s) for _ in queries]
        # ... and the connection stays usable afterwards.
        s.sendall(framed(dns.message.make_query("www.example.com", "AAAA")))
        last = read_framed(s)
    for q, a in zip(queries, answers):
        assert a.id == q.id
    assert addresses(answers[0]) == ["192.0.2.10"]
    assert answers[3].rcode() == dns.rcode.NXDOMAIN
    assert addresses(last, "AAAA") == ["2001:db8::10"]


def test_truncated_over_udp_complete_over_tcp(procs, tmp_path):
    gw = dns_gateway(procs, tmp_path, BASIC)
    u = udp_query(gw.dns_port, "big.example.com", "TXT", use_edns=0, payload=1232)
    assert u.flags & dns.flags.TC
    t = tcp_query(gw.dns_port, "big.example.com", "TXT")
    assert not t.flags & dns.flags.TC
    assert sum(len(r) for r in t.answer) == 40


def test_refused_outside_our_zones(procs, tmp_path):
    gw = dns_gateway(procs, tmp_path, BASIC)
    r = udp_query(gw.dns_port, "www.example.org", "A")
    assert r.rcode() == dns.rcode.REFUSED
    assert not r.answer
    assert gw.metric("bulwark_dns_queries_total", type="A", rcode="REFUSED") >= 1
    zones = gw.status()["dns"]["zones"]
    assert zones == [{"name": "example.com", "secondary": False, "loaded": True, "serial": 2024010101}]


# -------------------------------------------------------------------------------------------- reloads


def test_zone_reload_good_and_bad(procs, tmp_path):
    gw = dns_gateway(procs, tmp_path, BASIC)
    port = gw.dns_port
    assert udp_query(port, "new.example.com").rcode() == dns.rcode.NXDOMAIN

    # SIGHUP with a good change: the new record is served.
    write_zone(gw.zone_path, "new     IN A 192.0.2.77\n")
    gw.reload()
    wait_for(lambda: addresses(udp_query(port, "new.example.com")) == ["192.0.2.77"], message="new record")
    assert gw.metric("bulwark_dns_zone_reloads_total", result="ok") >= 1

    # A broken zone: refused with file:line, the old zone keeps serving (SIGHUP and POST /reload).
    good = gw.zone_path.read_text()
    bad_line = good.count("\n") + 1
    tmp = gw.zone_path.with_suffix(".tmp")
    tmp.write_text(good + "broken  IN A not-an-address\n")
    os.replace(tmp, gw.zone_path)
    gw.reload()
    wait_for(lambda: f"{gw.zone_path}:{bad_line}" in gw.stderr_text(), message="zone error in the log")
    r = gw.admin("POST", "/reload")
    assert r.status == 400
    assert f"{gw.zone_path}:{bad_line}" in r.body.decode(), r.body
    wait_for(lambda: gw.metric("bulwark_dns_zone_reloads_total", result="error") >= 2, message="errors counted")
    assert addresses(udp_query(port, "new.example.com")) == ["192.0.2.77"]
    assert addresses(tcp_query(port, "www.example.com")) == ["192.0.2.10"]
    assert gw.running()

    # Fixed again: served.
    write_zone(gw.zone_path, "new     IN A 192.0.2.78\n")
    r = gw.admin("POST", "/reload")
    assert r.status == 200, r.body
    # The workers adopt the new snapshot just after the reload returns.
    wait_for(lambda: addresses(udp_query(port, "new.example.com")) == ["192.0.2.78"], message="fixed zone")


def test_answer_cache_serves_repeats_and_forgets_on_reload(procs, tmp_path):
    """Repeated queries are answered from the workers' answer caches (docs/dns-server.md) with the same
    answer; a reload that changes the zone is never answered from what was cached before it."""
    gw = dns_gateway(procs, tmp_path, BASIC)
    port = gw.dns_port
    answers = [udp_query(port, "www.example.com") for _ in range(12)]
    assert all(addresses(a) == ["192.0.2.10"] for a in answers)
    assert len({a.id for a in answers}) > 1  # dnspython picks a random ID per query: the ID is the query's
    # Each worker misses once (SO_REUSEPORT spreads the client sockets over them), then hits.
    hits = gw.metric("bulwark_dns_answer_cache_total", result="hit")
    misses = gw.metric("bulwark_dns_answer_cache_total", result="miss")
    assert hits >= 12 - 4 and hits + misses == 12, (hits, misses)

    zone = gw.zone_path.read_text().replace("192.0.2.10", "192.0.2.11")
    tmp = gw.zone_path.with_suffix(".tmp")
    tmp.write_text(zone)
    os.replace(tmp, gw.zone_path)
    st = os.stat(gw.zone_path)
    os.utime(gw.zone_path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    r = gw.admin("POST", "/reload")
    assert r.status == 200, r.body
    wait_for(lambda: all(addresses(udp_query(port, "www.example.com")) == ["192.0.2.11"] for _ in range(8)),
             message="every worker answers from the new zone")
    assert all(addresses(udp_query(port, "www.example.com")) == ["192.0.2.11"] for _ in range(20))


def test_answer_cache_off(procs, tmp_path):
    gw = dns_gateway(procs, tmp_path, BASIC + "  answer_cache_mb: 0\n")
    for _ in range(5):
        assert addresses(udp_query(gw.dns_port, "www.example.com")) == ["192.0.2.10"]
    assert gw.metric("bulwark_dns_answer_cache_total", result="hit") == 0
    assert gw.metric("bulwark_dns_answer_cache_total", result="miss") == 0


# ---------------------------------------------------------------------------------- RRL and cookies

RRL = """dns:
  listen: [127.0.0.1:{port}]
  zones:
    - name: example.com
      file: {zone}
  rrl:
    enabled: true
    responses_per_second: 5
    window: 5s
    slip: 2
  cookies:
    enabled: true
    secret: 00112233445566778899aabbccddeeff
"""


def cookie_query(name, client_cookie, server_cookie=b""):
    return dns.message.make_query(name, "A", use_edns=0, payload=1232,
                                  options=[dns.edns.GenericOption(10, client_cookie + server_cookie)])


def cookie_of(msg):
    for o in msg.options:
        if o.otype == 10:
            return o.to_wire() if hasattr(o, "to_wire") else o.data
    return None


def test_rrl_spoofed_flood_gets_less_than_it_sends_while_a_cookie_client_is_answered(procs, tmp_path):
    gw = dns_gateway(procs, tmp_path, RRL)
    port = gw.dns_port

    # The good client learns its server cookie first (one ordinary answer).
    client_cookie = os.urandom(8)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as good:
        good.bind(("127.0.0.1", 0))
        good.settimeout(2)
        good.sendto(cookie_query("www.example.com", client_cookie).to_wire(), ("127.0.0.1", port))
        first = dns.message.from_wire(good.recvfrom(65535)[0])
        cookie = cookie_of(first)
        assert cookie is not None and len(cookie) == 24 and cookie[:8] == client_cookie, cookie
        server_cookie = cookie[8:]

        # The flood: the same query from 100 addresses in 127.0.0.0/24 and 127.0.1.0/24, as a spoofed
        # reflection attack looks to the server: many sources, each a victim that never asked.
        flooders = []
        for i in range(100):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((f"127.0.{i // 50}.{10 + i % 50}", 0))
            s.setblocking(False)
            flooders.append(s)
        query = dns.message.make_query("www.example.com", "ANY").to_wire()
        sent_bytes = received_bytes = 0
        good_answers = good_asked = 0
        try:
            for round_ in range(20):  # bounded: 20 rounds x 100 sources
                for s in flooders:
                    s.sendto(query, ("127.0.0.1", port))
                    sent_bytes += len(query)
                # The cookie client asks once per round, from inside the flooded /24.
                good_asked += 1
                good.sendto(cookie_query("www.example.com", client_cookie, server_cookie).to_wire(),
                            ("127.0.0.1", port))
                try:
                    data = good.recvfrom(65535)[0]
                    m = dns.message.from_wire(data)
                    if addresses(m) == ["192.0.2.10"] and not m.flags & dns.flags.TC:
                        good_answers += 1
                except socket.timeout:
                    pass
                for s in flooders:
                    for _ in range(50):
                        try:
                            received_bytes += len(s.recv(65535))
                        except BlockingIOError:
                            break
            time.sleep(0.2)
            for s in flooders:
                for _ in range(200):
                    try:
                        received_bytes += len(s.recv(65535))
                    except BlockingIOError:
                        break
        finally:
            for s in flooders:
                s.close()
    print(f"flood: sent {sent_bytes} bytes, got back {received_bytes}; cookie client {good_answers}/{good_asked}")
    assert received_bytes < sent_bytes
    assert good_answers == good_asked
    assert gw.metric("bulwark_dns_rrl_drops_total") > 0
    assert gw.metric("bulwark_dns_rrl_slips_total") > 0


# -------------------------------------------------------------------------------------------- TCP limits

TCP_LIMITS = """dns:
  listen: [127.0.0.1:{port}]
  zones:
    - name: example.com
      file: {zone}
  tcp:
    max_connections: 3
    idle_timeout: 1s
    io_timeout: 1s
"""


def closed_by_server(sock, timeout):
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def test_tcp_connection_cap_and_idle_timeout(procs, tmp_path):
    gw = dns_gateway(procs, tmp_path, TCP_LIMITS)
    port = gw.dns_port
    held = [socket.create_connection(("127.0.0.1", port), timeout=2) for _ in range(3)]
    try:
        # Prove the three are accepted and served.
        for s in held:
            s.sendall(framed(dns.message.make_query("www.example.com", "A")))
            assert addresses(read_framed(s)) == ["192.0.2.10"]
        # A fourth is accepted and closed at once.
        extra = socket.create_connection(("127.0.0.1", port), timeout=2)
        assert closed_by_server(extra, 2.0)
        extra.close()
        assert gw.metric("bulwark_dns_tcp_refused_total") >= 1
        assert gw.metric("bulwark_dns_tcp_connections") == 3
        # Idle for longer than idle_timeout: the server closes them.
        t0 = time.monotonic()
        for s in held:
            assert closed_by_server(s, 4.0)
        assert time.monotonic() - t0 < 4.0
    finally:
        for s in held:
            s.close()
    wait_for(lambda: gw.metric("bulwark_dns_tcp_connections") == 0, message="gauge back to 0")
    # A half-sent query is cut by io_timeout; then there is room again.
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(b"\x00\x30\x12")  # announces 48 bytes, sends 1
        assert closed_by_server(s, 4.0)
    assert addresses(tcp_query(port, "www.example.com")) == ["192.0.2.10"]
    assert gw.metric("bulwark_dns_tcp_timeouts_total") >= 4


# ------------------------------------------------------------------------------------------- malformed


def test_malformed_packets_never_kill_the_server_and_are_counted(procs, tmp_path):
    gw = dns_gateway(procs, tmp_path, BASIC)
    port = gw.dns_port
    rng = random.Random(5)
    valid = dns.message.make_query("www.example.com", "A").to_wire()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for i in range(3000):
            kind = i % 3
            if kind == 0:
                pkt = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 600)))
            elif kind == 1:  # a valid query with bytes flipped or cut
                b = bytearray(valid)
                for _ in range(rng.randrange(1, 6)):
                    b[rng.randrange(len(b))] = rng.randrange(256)
                pkt = bytes(b[: rng.randrange(len(b) + 1)])
            else:  # a header that promises more than it has
                pkt = struct.pack("!HHHHHH", i, 0, 1, 0, 0, 1) + bytes(rng.randrange(256) for _ in range(7))
            s.sendto(pkt, ("127.0.0.1", port))
    for _ in range(50):  # random bytes over TCP as well, each on its own connection
        with socket.create_connection(("127.0.0.1", port), timeout=2) as t:
            t.sendall(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300))))
    time.sleep(0.3)
    assert gw.running()
    assert addresses(udp_query(port, "www.example.com")) == ["192.0.2.10"]
    assert addresses(tcp_query(port, "www.example.com")) == ["192.0.2.10"]
    assert gw.metric("bulwark_dns_malformed_total") > 100
    assert gw.metric("bulwark_dns_queries_total", type="A", rcode="NOERROR") >= 2


def test_sigterm_stops_a_dns_only_gateway(procs, tmp_path):
    gw = dns_gateway(procs, tmp_path, BASIC, admin=False)
    assert addresses(udp_query(gw.dns_port, "www.example.com")) == ["192.0.2.10"]
    assert gw.stop(signal.SIGTERM) == 0


def test_example_dns_yaml_checks_and_serves(procs, tmp_path):
    example = helpers.ROOT / "examples" / "dns.yaml"
    r = helpers._spawn([helpers.BULWARK, "check", "-c", example], stdout=-1, stderr=-1)
    out, err = r.communicate(timeout=30)
    assert r.returncode == 0, (out, err)
    # The same file on free ports (5300/9901 may be taken), the zone named by its absolute path.
    port, admin_port = free_port(), free_port()
    zone = helpers.ROOT / "examples" / "dns" / "example.com.zone"
    text = example.read_text().replace(":5300", f":{port}").replace(":9901", f":{admin_port}")
    text = text.replace("file: dns/example.com.zone", f"file: {zone}")
    if not ipv6_loopback():
        text = text.replace(f', "[::1]:{port}"', "")
    gw = procs.gateway(text, port=port, admin_port=admin_port)
    www = udp_query(port, "www.example.com", "A")
    assert [r.rdtype for r in www.answer] == [dns.rdatatype.CNAME, dns.rdatatype.A]
    assert addresses(udp_query(port, "x.apps.example.com")) == ["192.0.2.30"]
    assert addresses(tcp_query(port, "api.example.com")) == ["192.0.2.20", "192.0.2.21"]
    assert gw.running()


def test_wildcard_listen_answers_from_the_address_asked(procs, tmp_path):
    """0.0.0.0: the answer leaves from the address the query was sent to (IP_PKTINFO), so a connected
    client socket (which only accepts datagrams from that address) gets it."""
    section = """dns:
  listen: [0.0.0.0:{port}]
  zones:
    - name: example.com
      file: {zone}
"""
    gw = dns_gateway(procs, tmp_path, section)
    for target in ("127.0.0.1", "127.0.0.2", "127.0.0.3"):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(2)
            s.connect((target, gw.dns_port))
            s.send(dns.message.make_query("www.example.com", "A").to_wire())
            assert addresses(dns.message.from_wire(s.recv(65535))) == ["192.0.2.10"], target


def test_reload_moves_the_listen_address_and_keeps_connections(procs, tmp_path):
    gw = dns_gateway(procs, tmp_path, BASIC)
    old_port = gw.dns_port
    new_port = free_port()
    with socket.create_connection(("127.0.0.1", old_port), timeout=3) as kept:
        text = gw.config_text.replace(f"127.0.0.1:{old_port}]", f"127.0.0.1:{new_port}]")
        gw.write_config(text)
        r = gw.admin("POST", "/reload")
        assert r.status == 200, r.body
        # The workers open the new sockets when they adopt the snapshot, just after the reload returns.
        wait_for(lambda: addresses(udp_query(new_port, "www.example.com", timeout=0.3)) == ["192.0.2.10"],
                 message="answers on the new port")
        assert addresses(tcp_query(new_port, "www.example.com")) == ["192.0.2.10"]
        wait_for(lambda: not_answering(tcp_query, old_port), message="the old port closed")
        # A connection accepted before the reload is still served.
        kept.sendall(framed(dns.message.make_query("www.example.com", "A")))
        assert addresses(read_framed(kept)) == ["192.0.2.10"]


def test_http_and_dns_in_one_gateway(procs, tmp_path):
    """One file, one process: the proxy's listener and the DNS server side by side, on the same workers."""
    zone = tmp_path / "example.com.zone"
    write_zone(zone)
    dns_port = free_port()
    gw = procs.gateway(
        routes=[{"match": {"prefix": "/"}, "respond": {"status": 200, "body": "hello"}}],
        dns={"listen": [f"127.0.0.1:{dns_port}"], "zones": [{"name": "example.com", "file": str(zone)}]},
    )
    assert gw.get("/").status == 200
    assert addresses(udp_query(dns_port, "www.example.com")) == ["192.0.2.10"]
    assert addresses(tcp_query(dns_port, "www.example.com")) == ["192.0.2.10"]
    # Reloading without the dns section stops the DNS server and keeps the proxy.
    gw.write_config(gw.render(dns=None))
    r = gw.admin("POST", "/reload")
    assert r.status == 200, r.body
    wait_for(lambda: not_answering(udp_query, dns_port), message="DNS stopped")
    assert gw.get("/").status == 200
    assert "dns" not in gw.status()
