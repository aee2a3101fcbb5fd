"""The report's Prometheus client against a loopback HTTP server: what it sends, and every way an answer fails."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from exporter.report import logo
from exporter.report.errors import BadAnswer, PrometheusHTTPError, Unreachable, UsageError
from exporter.report.prometheus import Options, Prometheus


class Server:
    def __init__(self) -> None:
        self.status = 200
        self.body: bytes = b""
        self.requests: list[tuple[dict[str, str], str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                outer.requests.append((dict(self.headers), self.rfile.read(length).decode()))
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def answer(self, status: int, body: object) -> None:
        self.status = status
        self.body = body if isinstance(body, bytes) else json.dumps(body).encode()


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    thread = threading.Thread(target=s.httpd.serve_forever, daemon=True)
    thread.start()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


MATRIX = {"status": "success", "data": {"resultType": "matrix", "result": [
    {"metric": {"__name__": "avepoint_up", "customer_id": "c1"}, "values": [[10, "1"], [20, "NaN"]]}]}}  # fmt: skip


def test_raw_samples_with_a_bearer_token_from_a_file(server: Server, tmp_path: Path) -> None:
    (tmp_path / "token").write_text("tok-123\n")
    server.answer(200, MATRIX)
    prom = Prometheus(Options(url=server.url + "/", bearer_token_file=str(tmp_path / "token")))
    (series,) = prom.samples('avepoint_up{customer_id="c1"}', 0.0, 100.0)
    assert series.labels["customer_id"] == "c1" and series.samples[0] == (10.0, 1.0)
    headers, body = server.requests[0]
    assert headers["Authorization"] == "Bearer tok-123"
    assert "query=avepoint_up%7Bcustomer_id%3D%22c1%22%7D%5B100s%5D" in body and "time=100.000" in body


def test_basic_auth_password_from_a_file(server: Server, tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("pa55\n")
    server.answer(200, {"status": "success", "data": {"resultType": "vector", "result": []}})
    prom = Prometheus(Options(url=server.url, username="me", password_file=str(tmp_path / "pw")))
    assert prom.instant("up", 1.0) == []
    assert server.requests[0][0]["Authorization"] == "Basic bWU6cGE1NQ=="


def test_an_error_envelope_is_quoted_and_the_url_loses_its_user_info(server: Server) -> None:
    server.answer(400, {"status": "error", "errorType": "bad_data", "error": "parse error at char 3"})
    prom = Prometheus(Options(url=server.url.replace("http://", "http://user:hunter2@") + "/?token=secret"))
    with pytest.raises(PrometheusHTTPError) as caught:
        prom.samples("up", 0.0, 10.0)
    message = str(caught.value)
    assert "HTTP 400, bad_data: parse error at char 3" in message and caught.value.status == 400
    assert "hunter2" not in message and "secret" not in message and "user" not in message


@pytest.mark.parametrize(
    ("status", "body", "error", "text"),
    [
        (503, b"Service Unavailable", PrometheusHTTPError, "HTTP 503 for api/v1/query: Service Unavailable"),
        (401, b"Unauthorized", PrometheusHTTPError, "HTTP 401, credentials refused"),
        (200, b"<html>not json</html>", BadAnswer, "not Prometheus' HTTP API JSON"),
        (200, {"status": "success", "data": {"resultType": "vector", "result": []}}, BadAnswer, "range matrix"),
        (200, {"status": "success", "data": {"resultType": "matrix", "result": [{"values": 3}]}}, BadAnswer, "matrix"),
    ],
)
def test_answers_that_are_not_results(server: Server, status: int, body: object, error: type, text: str) -> None:
    server.answer(status, body)
    with pytest.raises(error, match=text.replace("(", r"\(")):
        Prometheus(Options(url=server.url)).samples("up", 0.0, 10.0)


def test_nothing_listening_is_unreachable() -> None:
    with pytest.raises(Unreachable, match=r"Prometheus at http://127.0.0.1:9: cannot connect"):
        Prometheus(Options(url="http://127.0.0.1:9", timeout=2)).samples("up", 0.0, 1.0)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"url": "ftp://x"}, "not an http(s) URL"),
        ({"url": "http://x", "password_file": "/nonexistent"}, "needs --prometheus.username"),
        ({"url": "http://x", "username": "a", "bearer_token_file": "/t"}, "are exclusive"),
        ({"url": "http://x", "username": "a", "password_file": "/nonexistent/pw"}, "cannot read /nonexistent/pw"),
        ({"url": "http://x", "key_file": "/k"}, "needs --prometheus.tls.cert-file"),
        ({"url": "http://x", "ca_file": "/nonexistent/ca.pem"}, "no such file"),
    ],
)
def test_bad_flags_are_usage_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Prometheus(Options(**options))


def test_logo_types_and_size(tmp_path: Path) -> None:
    svg = tmp_path / "logo.svg"
    svg.write_text('<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"></svg>')
    assert logo.load(str(svg)).startswith("data:image/svg+xml;base64,")
    jpeg = tmp_path / "logo.jpg"
    jpeg.write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 10)
    assert logo.load(str(jpeg)).startswith("data:image/jpeg;base64,")
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * logo.MAX_BYTES)
    with pytest.raises(UsageError, match="more than 256 KiB"):
        logo.load(str(big))
    named = tmp_path / "fake.png"
    named.write_text("GIF? no: text")
    with pytest.raises(UsageError, match="is not a PNG, JPEG, GIF or SVG image"):
        logo.load(str(named))
    with pytest.raises(UsageError, match="cannot read"):
        logo.load(str(tmp_path / "missing.png"))


def test_a_range_query_keeps_under_prometheus_point_limit(server: Server) -> None:
    server.answer(200, MATRIX)
    (series,) = Prometheus(Options(url=server.url)).range("avepoint_up", 0.0, 31 * 86400.0, 60.0)
    assert series.last != series.last  # NaN, as Prometheus sent it
    form = parse_qs(server.requests[0][1])
    # A month at one minute would be 44,641 points: the step grows to stay within 11,000.
    assert (form["step"], form["start"], form["end"]) == (["244"], ["0.000"], ["2678400.000"])
