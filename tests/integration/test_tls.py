"""TLS: listener certificates chosen by SNI, ALPN, minimum version; HTTPS origins verified by CA."""

import socket
import ssl
import warnings

import pytest

from helpers import RawConn, make_ca, make_cert, pool


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    ca, ca_key = make_ca(d, "test-ca")
    other_ca, other_key = make_ca(d, "other-ca")
    a = make_cert(d, "a", ca, ca_key, ["DNS:a.test"])
    b = make_cert(d, "b", ca, ca_key, ["DNS:*.b.test"])
    origin = make_cert(d, "origin", ca, ca_key, ["DNS:origin.test", "IP:127.0.0.1"])
    return {"ca": ca, "other_ca": other_ca, "a": a, "b": b, "origin": origin}


@pytest.fixture(scope="module")
def env(module_procs, pki):
    o = module_procs.origin("plain")
    tls_origin = module_procs.origin("secure", tls_cert=pki["origin"][0], tls_key=pki["origin"][1])
    from helpers import free_port
    tls_port = free_port()
    tls13_port = free_port()
    listeners = [
        {"address": "127.0.0.1:%d" % tls_port,
         "tls": {"certificates": [
             {"cert": str(pki["a"][0]), "key": str(pki["a"][1]), "server_names": ["a.test"]},
             {"cert": str(pki["b"][0]), "key": str(pki["b"][1]), "server_names": ["*.b.test"]}],
             "min_version": "1.2", "alpn": ["http/1.1"]}},
        {"address": "127.0.0.1:%d" % tls13_port,
         "tls": {"certificates": [{"cert": str(pki["a"][0]), "key": str(pki["a"][1])}], "min_version": "1.3"}},
    ]
    routes = [
        {"name": "secure", "match": {"prefix": "/secure"}, "pool": "secure"},
        {"name": "wrongca", "match": {"prefix": "/wrongca"}, "pool": "wrongca"},
        {"name": "noverify", "match": {"prefix": "/noverify"}, "pool": "noverify"},
        {"name": "plain", "match": {"prefix": "/"}, "pool": "plain"},
    ]
    pools = {
        "plain": pool(o),
        "secure": pool(tls_origin, tls={"ca": str(pki["ca"]), "sni": "origin.test"}),
        "wrongca": pool(tls_origin, retries=0, tls={"ca": str(pki["other_ca"]), "sni": "origin.test"}),
        "noverify": pool(tls_origin, tls={"verify": False}),
    }
    gw = module_procs.gateway(port=tls_port, listeners=listeners, routes=routes, pools=pools,
                              wait_ports=[tls_port, tls13_port])
    gw.tls13_port = tls13_port
    return gw, o, tls_origin


def client_context(pki, **kw):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(str(pki["ca"]))
    for k, v in kw.items():
        setattr(ctx, k, v)
    return ctx


def tls_conn(gw, ctx, server_name, port=None):
    raw = socket.create_connection(("127.0.0.1", port or gw.port), timeout=5)
    return ctx.wrap_socket(raw, server_hostname=server_name)


def sans(sock):
    return [v for k, v in sock.getpeercert().get("subjectAltName", ()) if k == "DNS"]


@pytest.mark.parametrize("name,expected", [("a.test", "a.test"), ("x.b.test", "*.b.test")])
def test_sni_selects_certificate_and_proxies(env, pki, name, expected):
    gw, o, _ = env
    s = tls_conn(gw, client_context(pki), name)
    assert sans(s) == [expected]
    with RawConn(sock=s) as c:
        c.send(f"GET /over-tls HTTP/1.1\r\nHost: {name}\r\n\r\n")
        r = c.read_response()
    assert r.status == 200, r
    info = r.json()
    assert info["origin"] == "plain"
    assert info["headers"]["x-forwarded-proto"] == "https"


def test_unknown_sni_gets_default_certificate(env, pki):
    gw, o, _ = env
    ctx = client_context(pki)
    ctx.check_hostname = False
    s = tls_conn(gw, ctx, "unknown.test")
    assert sans(s) == ["a.test"]
    s.close()


def test_alpn_negotiates_http11(env, pki):
    gw, o, _ = env
    ctx = client_context(pki)
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    s = tls_conn(gw, ctx, "a.test")
    assert s.selected_alpn_protocol() == "http/1.1"
    s.close()


def test_tls_1_1_is_refused(env, pki):
    gw, o, _ = env
    ctx = client_context(pki)
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # let this client offer TLS 1.1 at all
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises((ssl.SSLError, ConnectionResetError)) as info:
        tls_conn(gw, ctx, "a.test").close()
    assert "NO_PROTOCOLS_AVAILABLE" not in str(info.value), "the client could not offer TLS 1.1: " + str(info.value)


def test_tls_1_2_is_accepted(env, pki):
    gw, o, _ = env
    ctx = client_context(pki)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    s = tls_conn(gw, ctx, "a.test")
    assert s.version() == "TLSv1.2"
    s.close()


def test_min_version_1_3_listener_refuses_tls_1_2(env, pki):
    gw, o, _ = env
    ctx = client_context(pki)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        tls_conn(gw, ctx, "a.test", port=gw.tls13_port).close()
    s = tls_conn(gw, client_context(pki), "a.test", port=gw.tls13_port)
    assert s.version() == "TLSv1.3"
    assert sans(s) == ["a.test"]  # no server_names: the certificate's own SAN
    with RawConn(sock=s) as c:
        c.send("GET /tls13 HTTP/1.1\r\nHost: a.test\r\n\r\n")
        assert c.read_response().status == 200


def test_https_origin_verified_against_ca_with_sni(env, pki):
    gw, o, secure = env
    s = tls_conn(gw, client_context(pki), "a.test")
    with RawConn(sock=s) as c:
        c.send("GET /secure/x HTTP/1.1\r\nHost: a.test\r\n\r\n")
        r = c.read_response()
    assert r.status == 200, r
    assert r.json()["origin"] == "secure"


def test_https_origin_with_wrong_ca_is_502(env, pki):
    gw, o, secure = env
    s = tls_conn(gw, client_context(pki), "a.test")
    with RawConn(sock=s) as c:
        c.send("GET /wrongca/x HTTP/1.1\r\nHost: a.test\r\n\r\n")
        r = c.read_response()
    assert r.status == 502, r
    assert secure.count("/wrongca/x") == 0


def test_https_origin_without_verification(env, pki):
    gw, o, secure = env
    s = tls_conn(gw, client_context(pki), "a.test")
    with RawConn(sock=s) as c:
        c.send("GET /noverify/x HTTP/1.1\r\nHost: a.test\r\n\r\n")
        r = c.read_response()
    assert r.status == 200, r
    assert r.json()["origin"] == "secure"


def test_plain_http_on_tls_listener_is_not_served(env, pki):
    gw, o, _ = env
    with RawConn(gw.port) as c:
        c.send("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
        try:
            data = c.read_to_close()
        except OSError:
            data = b""
    assert b"X-Origin" not in data
