"""Edges a real gunicorn answers: bodies over the limit get 413 (never a reset, chunked or not), and requests gunicorn
refuses before the app (bad headers, too many or too large) get the collector's JSON envelope, not HTML."""

from __future__ import annotations

import http.client
import json
import socket
import urllib.error
import urllib.request

import pytest

from tests.collect.test_collector import ev
from tests.collect.test_collector_gunicorn import _gunicorn

BIG = b'{"a": "' + b"x" * 20_000_000 + b'"}'  # 20x MAX_CONTENT_LENGTH: more than the socket buffers hold


def _chunked(data: bytes, size: int = 65_536) -> bytes:
    parts = [b"%x\r\n%s\r\n" % (len(data[i : i + size]), data[i : i + size]) for i in range(0, len(data), size)]
    return b"".join(parts) + b"0\r\n\r\n"


def _exchange(base: str, raw: bytes) -> tuple[int, str, dict]:
    """Send `raw` as is; (status, content type, JSON body) of the answer."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(raw)
        resp = http.client.HTTPResponse(sock)
        resp.begin()
        return resp.status, resp.getheader("Content-Type"), json.loads(resp.read())


@pytest.mark.parametrize("worker_class", ["gevent", "gthread"])
def test_bodies_over_the_limit_get_413_never_a_reset(settings, private_redis, worker_class):
    with _gunicorn(private_redis, worker_class) as (base, _, _):
        for path in ("/v1/track", "/v1/track/batch", "/segment/v1/batch"):
            # urllib sends all of it, then reads, on a connection it asked to close: the case that was reset.
            req = urllib.request.Request(base + path, data=BIG, headers={"Content-Type": "application/json"})
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(req, timeout=30)
            assert (refused.value.code, json.loads(refused.value.read())["code"]) == (413, "payload_too_large"), path

        host, port = base.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            for path in ("/v1/track", "/v1/track/batch", "/segment/v1/batch"):
                conn.putrequest("POST", path)
                conn.putheader("Content-Type", "application/json")
                conn.putheader("Transfer-Encoding", "chunked")
                conn.endheaders(_chunked(BIG[:1_200_000]))
                resp = conn.getresponse()
                assert (resp.status, json.loads(resp.read())["code"]) == (413, "payload_too_large"), path
            # The same connection goes on: the refused bodies were read to their end.
            conn.request("POST", "/v1/track", json.dumps(ev(sessionId="edges")), {"Content-Type": "application/json"})
            assert conn.getresponse().status == 202
        finally:
            conn.close()


def test_requests_gunicorn_refuses_get_the_json_envelope(settings, private_redis):
    head = b"POST /v1/track HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    cases = [
        (head + b"X-A: a\x00b\r\nContent-Length: 2\r\n\r\n{}", 400, "malformed_http"),
        (head + b"X-A: a\rb\r\nContent-Length: 2\r\n\r\n{}", 400, "malformed_http"),
        (
            head + b"".join(b"X-%d: a\r\n" % i for i in range(200)) + b"Content-Length: 2\r\n\r\n{}",
            431,
            "headers_too_large",
        ),
        (head + b"X-A: " + b"a" * 9000 + b"\r\nContent-Length: 2\r\n\r\n{}", 431, "headers_too_large"),
        (b"POST /v1/track?" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri_too_long"),
    ]
    with _gunicorn(private_redis, "gevent") as (base, _, _):
        for raw, status, code in cases:
            answer = _exchange(base, raw)
            assert answer[:2] == (status, "application/json"), raw[:80]
            assert answer[2]["code"] == code and answer[2]["message"]
