"""Requests at the edges, through a live Envoy on the rendered config (no service behind
it: its upstream port is closed, so a request the gateway lets through is the family's
503, or the campaign family's 502): oversized request lines and headers, methods a route
does not serve, and JSON bodies read strictly. Every family, every route
(docs/gateway.md, "Requests at the edges")."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gateway import edges, envoy_config
from tests.gateway.test_gateway_config import UUID_RE, _concrete, live_gateway, needs_envoy

pytestmark = needs_envoy


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from live_gateway(tmp_path_factory)

FAMILIES = {family.name: family for family in envoy_config.FAMILIES}
# (family, concrete path, methods it serves) of every documented route and asset.
ROUTES = [
    (family, _concrete(path), methods)
    for family in envoy_config.FAMILIES
    for path, methods in (*((a.path, ("GET", "HEAD")) for a in family.assets), *family.routes)
]
UPSTREAM_DOWN = {"campaign": 502}  # what a request that reached the (closed) upstream gets


def _raw_get(base: str, target: str, headers: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """A GET over a plain socket: httpx refuses URLs over 64 KiB."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"GET " + target.encode() + b" HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n"
                     + headers + b"\r\n")
        data = b""
        while b"\r\n\r\n" not in data and (chunk := sock.recv(65536)):
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        fields = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:])}
        # Up to the announced length: Envoy may keep the socket open a while after it.
        while len(body) < int(fields.get("content-length", "0")) and (chunk := sock.recv(65536)):
            body += chunk
    return int(lines[0].split()[1]), fields, body


def _expected(family: envoy_config.Family, status: int, body: dict[str, Any], request_id: str,
              method: str = "GET") -> dict[str, Any]:
    """The family's local reply for `status`, with the answer's own timestamp."""
    slots = envoy_config.Slots(timestamp=body.get("meta", {}).get("timestamp", ""), request_id=request_id,
                               method=method)
    return family.reply_for(status).body(family.envelope, slots)


def _assert_request_id(headers: Any, body: dict[str, Any]) -> str:
    request_id = headers["x-request-id"]
    assert UUID_RE.match(request_id)
    # In the body too wherever the family's envelope has a place for it (the voucher and
    # affiliate documents' envelopes have none).
    in_body = body.get("meta", {}).get("requestId") or body.get("request_id") or body.get("requestId")
    assert in_body in (request_id, None)
    return request_id


# --------------------------------------------------------------------------- 431


@pytest.mark.parametrize("shape", ["long url", "one huge header", "too many header fields"])
def test_oversized_request_lines_and_headers_are_the_familys_431_on_every_route(gateway: str, shape: str) -> None:
    for family, path, _methods in ROUTES:
        if shape == "long url":
            status, headers, raw = _raw_get(gateway, f"{path}?filler={'a' * 70_000}")
        elif shape == "one huge header":
            status, headers, raw = _raw_get(gateway, path, b"X-Filler: " + b"a" * 70_000 + b"\r\n")
        else:
            many = b"".join(b"X-Filler-%d: 1\r\n" % i for i in range(edges.MAX_REQUEST_HEADERS_COUNT + 1))
            status, headers, raw = _raw_get(gateway, path, many)
        assert status == 431, (path, raw)
        assert headers["content-type"] == "application/json"
        body = json.loads(raw)
        request_id = _assert_request_id(headers, body)
        assert body == _expected(family, 431, body, request_id), path


def test_over_http2_an_oversized_header_block_is_the_familys_431_on_every_route(gateway: str) -> None:
    """The same band over HTTP/2 (h2, prior knowledge): a 70 kB header block is the
    family's 431 envelope with a request id. curl cannot send it (nghttp2 caps a header
    block it sends at 64 KiB and resets the stream itself); h2 has no such cap."""
    with httpx.Client(http1=False, http2=True, base_url=gateway) as client:
        for family, path, _methods in ROUTES:
            answer = client.get(path, headers={"x-filler": "a" * 70_000})
            assert answer.http_version == "HTTP/2"
            assert answer.status_code == 431, (path, answer.text)
            assert answer.headers["content-type"] == "application/json"
            body = answer.json()
            request_id = _assert_request_id(answer.headers, body)
            assert body == _expected(family, 431, body, request_id), path


def test_over_http2_a_header_block_over_the_codecs_limit_ends_the_connection(gateway: str) -> None:
    """Over 128 KiB the HTTP/2 codec refuses the header block before a request exists:
    a GOAWAY (COMPRESSION_ERROR), no HTTP answer (docs/gateway.md)."""
    with httpx.Client(http1=False, http2=True, base_url=gateway) as client:
        with pytest.raises(httpx.RemoteProtocolError, match="error_code:9"):
            client.get("/v1/analytics/vouchers/v_1/trends", headers={"x-filler": "a" * 140_000})


def test_headers_up_to_the_documented_limit_are_served(gateway: str) -> None:
    """Just under 60 KiB (names and values, path included) and 100 header fields: the
    request reaches the (closed) upstream."""
    path = "/v1/analytics/vouchers/v_1/trends"
    status, _, raw = _raw_get(gateway, f"{path}?filler={'a' * (edges.MAX_REQUEST_HEADERS_BYTES - 1000)}")
    assert status == 503, raw
    # Host, Connection and the three the gateway adds (x-request-id, x-forwarded-*).
    many = b"".join(b"X-Filler-%d: 1\r\n" % i for i in range(edges.MAX_REQUEST_HEADERS_COUNT - 5))
    status, _, raw = _raw_get(gateway, path, many)
    assert status == 503, raw


def test_over_the_codec_limit_the_generic_431_keeps_a_request_id(gateway: str) -> None:
    """Over 128 KiB of request line and headers the HTTP codec refuses the request before
    its path is known: the gateway's generic body, with a generated request id."""
    limit = edges.CODEC_MAX_REQUEST_HEADERS_KB * 1024
    for target, extra in ((f"/v1/affiliate/analytics?filler={'a' * limit}", b""),
                          ("/partner/v1/instances/analytics", b"X-Filler: " + b"a" * limit + b"\r\n")):
        status, headers, raw = _raw_get(gateway, target, extra)
        assert status == 431
        body = json.loads(raw)
        assert body == {"error": "Request Header Fields Too Large", "requestId": headers["x-request-id"],
                        "status": 431}
        assert UUID_RE.match(body["requestId"])


def test_outside_the_families_an_oversized_request_is_the_generic_431(gateway: str) -> None:
    status, headers, raw = _raw_get(gateway, f"/elsewhere?filler={'a' * 70_000}")
    assert status == 431
    assert json.loads(raw) == {"error": "Request Header Fields Too Large", "requestId": headers["x-request-id"],
                               "status": 431}


# --------------------------------------------------------------------------- 405

UNSERVED = ["QUERY", "PROPFIND", "FOO", "SEARCH", "MKCOL", "LOCK", "DELETE", "PUT", "PATCH", "GET", "POST"]
VARIANTS = {
    "no body, no content-type": {},
    "JSON body": {"content": b'{"a": 1}', "headers": {"content-type": "application/json"}},
    "body without content-type": {"content": b'{"a": 1}'},
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_any_method_a_route_does_not_serve_is_the_familys_405_with_allow(gateway: str, variant: str) -> None:
    """Unknown tokens (QUERY, PROPFIND, FOO...) as DELETE or PUT: a QUERY without
    Content-Type, which Envoy refuses before routing, included."""
    with httpx.Client(base_url=gateway) as client:
        for family, path, methods in ROUTES:
            for method in (m for m in UNSERVED if m not in methods):
                response = client.request(method, path, **VARIANTS[variant])
                assert response.status_code == 405, (method, path, response.text)
                assert response.headers["allow"] == ", ".join(methods), (method, path)
                body = response.json()
                request_id = _assert_request_id(response.headers, body)
                assert body == _expected(family, 405, body, request_id, method), (method, path)


def test_a_query_without_content_type_on_an_unknown_path_is_the_familys_404(gateway: str) -> None:
    for family in envoy_config.FAMILIES:
        response = httpx.request("QUERY", f"{gateway}{family.prefix}no/such/path")
        assert response.status_code == 404, response.text
        body = response.json()
        assert body == _expected(family, 404, body, _assert_request_id(response.headers, body), "QUERY")


# --------------------------------------------------------------------------- JSON bodies

# Every route with a JSON body, from the descriptor: (family, path, repeated-field paths).
JSON_ROUTES = [
    (family, path, arrays.split())
    for family in envoy_config.FAMILIES
    for path, methods in family.routes
    if "POST" in methods
    for arrays in [edges._json_bodies(envoy_config.DEFAULT_DESCRIPTOR).get(("POST", path))]
    if arrays is not None
]


def test_every_post_route_is_a_json_body_route() -> None:
    posts = {path for family in envoy_config.FAMILIES for path, methods in family.routes if "POST" in methods}
    assert {path for _, path, _ in JSON_ROUTES} == posts
    assert any(arrays for _, _, arrays in JSON_ROUTES)


def _refusal(family: envoy_config.Family, response: httpx.Response) -> tuple[str, str]:
    """(field, code) of the family's bad-body reply, checked to be that reply otherwise."""
    base = next(r for r in family.replies() if r.details_prefix == "grpc_json_transcode_failure")
    assert response.status_code == base.reply_status, response.text
    body = response.json()
    _assert_request_id(response.headers, body)
    if family.envelope == "affiliate":
        assert body["error"]["code"] == base.error
        ((field, _messages),) = body["error"]["details"].items()
        return field, "affiliate"
    if family.envelope == "voucher":
        assert body["error"]["code"] == base.error
        (entry,) = body["error"]["details"]["fields"]
    elif family.envelope in ("exports", "webhooks"):  # the resource APIs' envelope
        assert body["error"]["code"] == base.error
        (entry,) = body["error"]["fields"]
    else:
        assert (body["code"] if family.envelope == "landing" else body["error"]) == base.error
        (entry,) = body["fields"]
    return entry["field"], entry["code"]


@pytest.fixture(scope="module")
def http(gateway: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway) as client:
        yield client


def _post(http: httpx.Client, path: str, content: bytes, content_type: str | None = "application/json") -> httpx.Response:
    headers = {"content-type": content_type} if content_type else {}
    return http.post(_concrete(path), content=content, headers=headers)


def _passed(family: envoy_config.Family, response: httpx.Response) -> bool:
    """The gateway let the request through to the (closed) upstream."""
    return response.status_code == UPSTREAM_DOWN.get(family.name, 503)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                                          "application/xml", None])
def test_a_body_not_sent_as_json_is_the_familys_bad_body(http: httpx.Client, content_type: str | None) -> None:
    for family, path, _ in JSON_ROUTES:
        response = _post(http, path, b"{}", content_type)
        if content_type == "text/plain" and path in family.browser_paths:
            # What navigator.sendBeacon sends: the tracker's fallback.
            assert _passed(family, response), response.text
            continue
        field, code = _refusal(family, response)
        assert field == "content-type" and code in ("unsupported_media_type", "affiliate"), path


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8", "APPLICATION/JSON",
                                          "application/vnd.partner+json"])
def test_json_media_types_are_accepted(http: httpx.Client, content_type: str) -> None:
    for family, path, _ in JSON_ROUTES:
        assert _passed(family, _post(http, path, b'{"unknown": [1, -2.5e3, true, null, "\\u00e9"]}',
                                     content_type)), path


@pytest.mark.parametrize("raw", [b"", b"{", b'{"a": 1,}', b'{"a": [1,]}', b"{'a': 1}", b'{"a": 1} x', b'{"a": 01}',
                                 b'{"a": "\\x"}', b'{"a": "\x01"}', b"[1]", b'"text"', b"42", b"null",
                                 b'{"a": NaN}', b"{/* c */}", b"{\"a\": " + b"[" * 100 + b"]" * 100 + b"}"])
def test_a_body_that_is_not_a_json_object_is_the_familys_bad_body(http: httpx.Client, raw: bytes) -> None:
    """Strict JSON (RFC 8259): the transcoder alone took an empty body, trailing commas
    and deep nesting."""
    for family, path, _ in JSON_ROUTES:
        field, code = _refusal(family, _post(http, path, raw))
        assert field == "body" and code in ("invalid_json", "affiliate"), (path, raw)


def _placed(spec: str, value: str) -> list[tuple[str, bytes]]:
    """(the field's path as written, a body holding `value` there) for each JSON name of
    the repeated field `spec`, inside a second element of each repeated message around it."""
    *outer, leaf = spec.split(".")
    out = []
    for name in leaf.removesuffix(":string").split("|"):
        inner: Any = json.loads(f'{{"{name}": {value}}}')
        written = name
        for segment in reversed(outer):
            outer_name = segment.removesuffix("[]").split("|")[0]
            many = segment.endswith("[]")
            inner = {outer_name: [{"ok": 1}, inner] if many else inner}
            written = f"{outer_name}[1].{written}" if many else f"{outer_name}.{written}"
        out.append((written, json.dumps(inner).encode()))
    return out


@pytest.mark.parametrize("value", ['"v_1"', "5", '{"a": 1}', "true"])
def test_a_repeated_field_given_something_else_than_an_array_is_refused(http: httpx.Client, value: str) -> None:
    """The transcoder took a string for a repeated string and an object for a repeated
    message as a one-element list. Each repeated field, nested ones included, under
    either of its JSON names."""
    checked = 0
    for family, path, arrays in JSON_ROUTES:
        for spec in arrays:
            for written, body in _placed(spec, value):
                field, code = _refusal(family, _post(http, path, body))
                assert field == written and code in ("invalid_type", "affiliate"), (path, spec)
                checked += 1
    assert checked >= 8


@pytest.mark.parametrize("value", ["[1]", '["a", {"b": 1}]', '["a", null]', '["a", ["b"]]', '["a", true]'])
def test_an_array_of_strings_holding_something_else_is_refused(http: httpx.Client, value: str) -> None:
    checked = 0
    for family, path, arrays in JSON_ROUTES:
        for spec in (s for s in arrays if s.endswith(":string")):
            for written, body in _placed(spec, value):
                index = json.loads(value).index(next(v for v in json.loads(value) if not isinstance(v, str)))
                field, code = _refusal(family, _post(http, path, body))
                assert field == f"{written}[{index}]" and code in ("invalid_type", "affiliate"), (path, spec)
                checked += 1
    assert checked >= 4


def test_arrays_and_null_in_repeated_fields_pass(http: httpx.Client) -> None:
    for family, path, arrays in JSON_ROUTES:
        for spec in arrays:
            if "." not in spec:
                for value in ("[]", "null", *(['["a", ""]'] if spec.endswith(":string") else [])):
                    body = f'{{"{spec.split("|")[0].removesuffix(":string")}": {value}}}'.encode()
                    assert _passed(family, _post(http, path, body)), (path, body)


def test_a_body_over_the_size_limit_is_still_413(http: httpx.Client) -> None:
    for family, path, _ in JSON_ROUTES:
        response = _post(http, path, b"{" + b" " * envoy_config.MAX_REQUEST_BODY_BYTES + b"}", "text/plain")
        assert response.status_code == 413, (path, response.text)
