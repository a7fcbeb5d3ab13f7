"""How an HTTP client sends the photo to the shim, one row per request form, and the stages each answer reports.

    call, close = FORMS["multipart"].open(url, data, path, clients=8)
    status, stages = call(client_index)          # stages: read, queue, parse, predict, encode, preprocess, ...

| form | client | body |
|---|---|---|
| ``multipart`` | httpx, one keep-alive client per client thread | the photo in the multipart field ``file`` |
| ``raw`` | httpx, keep-alive | the photo's bytes, ``Content-Type: image/jpeg`` |
| ``json`` | httpx, keep-alive | ``{"image": "<base64>"}`` (encoded once, before timing) |
| ``tutorial`` | ``requests.post(url, files={"file": open(path, "rb")})``: a new connection per call | multipart ``file`` |
| ``health`` | httpx, keep-alive | none: ``GET /health``, the framework's floor (no body, no model) |
| ``socket`` | a plain keep-alive socket, the request built once | the photo's bytes, ``Content-Type: image/jpeg`` |
| ``socket-multipart`` | a plain keep-alive socket, the request built once | the photo in the multipart field ``file`` |
| ``session`` | ``requests.Session``, keep-alive, one per client thread | multipart ``file`` |
| ``stdlib`` | ``http.client.HTTPConnection``, keep-alive, one per client thread | multipart ``file``, built per call |
| ``remote`` | the project's own client, ``RemotePredictor`` (one per client thread), as ``bench --via http`` calls it | multipart ``file`` and ``top_k`` |

The ``socket`` rows are the floor of a client: one ``sendall`` of prebuilt bytes and a read of the answer (0.3 ms
of CPU on the busy 2-core machine, reading the answer's JSON included, against 0.2 ms for the native ``wrk`` and
1.6-2 ms for httpx); against the httpx rows they show the Python client's share of the round trip (docs/serve.md).

The tutorial row is the classic benchmark client of web tutorials, unchanged: what most users measure first.
"""

from __future__ import annotations

import base64
import importlib
import json
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_infer.registry import Registry

Stages = dict[str, float]
Call = Callable[[int], tuple[int, Stages]]  # client index -> (HTTP status, stage timings in ms)
Opened = tuple[Call, Callable[[], None]]  # the call and what closes its clients


def answer_stages(status: int, body: Mapping[str, Any], server_timing: str | None) -> Stages:
    """The stages a 200 answer reports, in ms: the server's (``server_timings_ms`` and the ``Server-Timing``
    header: read, queue, parse, predict, encode), the prediction's own split of ``predict`` (``preprocess``,
    ``inference``, and ``decode`` where the predictor reports it) and ``server`` = the server's whole time (the
    header's total, else the body's)."""
    if status != 200:
        return {}
    server = {k: float(v) for k, v in (body.get("server_timings_ms") or {}).items()}
    header = parse_server_timing(server_timing)
    stages = {k: v for k, v in {**server, **header}.items() if k != "total"}
    stages.update({k: float(v) for k, v in (body.get("timings_ms") or {}).items() if k != "total"})
    total = header.get("total", server.get("total"))
    if total is not None:
        stages["server"] = total
    return stages


def parse_server_timing(value: str | None) -> Stages:
    """``read;dur=0.12, queue;dur=0.03`` -> ``{"read": 0.12, "queue": 0.03}`` (entries without a duration skipped)."""
    out: Stages = {}
    for entry in (value or "").split(","):
        name, _, params = entry.strip().partition(";")
        for param in params.split(";"):
            key, _, dur = param.strip().partition("=")
            if key == "dur" and name:
                try:
                    out[name] = float(dur)
                except ValueError:
                    pass
    return out


def _client_library(module: str) -> Any:
    """``httpx`` or ``requests`` for the forms that send with them (the ``dev`` extra; the project's own client
    needs neither)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        from edge_infer.errors import BackendUnavailableError

        raise BackendUnavailableError(f"the {module} request forms", module, "dev") from exc


@dataclass(frozen=True, kw_only=True)
class RequestForm:
    """One way to send the photo: ``open(url, data, path, clients)`` returns the call and its closer."""

    name: str
    description: str
    open: Callable[[str, bytes, Path, int], Opened]


def _httpx_form(
    request: Callable[[bytes], dict[str, Any]], method: str = "POST", route: str = "/predict"
) -> Callable[[str, bytes, Path, int], Opened]:
    """A form sent by httpx: one keep-alive client per client thread, ``request(data)`` the keyword arguments of
    ``client.request`` (built once)."""

    def open_(url: str, data: bytes, _path: Path, clients: int) -> Opened:
        httpx = _client_library("httpx")
        pool = [httpx.Client(base_url=url, timeout=120) for _ in range(clients)]
        kwargs = request(data)

        def call(i: int) -> tuple[int, Stages]:
            r = pool[i].request(method, route, **kwargs)
            return r.status_code, answer_stages(r.status_code, _json(r), r.headers.get("server-timing"))

        def close() -> None:
            for c in pool:
                c.close()

        return call, close

    return open_


def _tutorial(url: str, _data: bytes, path: Path, _clients: int) -> Opened:
    requests = _client_library("requests")

    def call(_: int) -> tuple[int, Stages]:
        with open(path, "rb") as f:
            r = requests.post(url + "/predict", files={"file": f})
        return r.status_code, answer_stages(r.status_code, _json(r), r.headers.get("server-timing"))

    return call, lambda: None


def _session(url: str, data: bytes, _path: Path, clients: int) -> Opened:
    requests = _client_library("requests")
    pool = [requests.Session() for _ in range(clients)]

    def call(i: int) -> tuple[int, Stages]:
        r = pool[i].post(url + "/predict", files={"file": ("photo.jpg", data, "image/jpeg")}, timeout=120)
        return r.status_code, answer_stages(r.status_code, _json(r), r.headers.get("server-timing"))

    def close() -> None:
        for s in pool:
            s.close()

    return call, close


def _stdlib(url: str, data: bytes, _path: Path, clients: int) -> Opened:
    """``http.client.HTTPConnection`` with keep-alive, the multipart body built on each call (as a client does);
    once more on a new connection when the server closed the kept one while idle."""
    import http.client

    host, _, port = url.removeprefix("http://").partition(":")
    conns = [http.client.HTTPConnection(host, int(port), timeout=120) for _ in range(clients)]

    def call(i: int) -> tuple[int, Stages]:
        content_type, body = _multipart(data)
        for attempt in range(2):
            try:
                conns[i].request("POST", "/predict", body=body, headers={"Content-Type": content_type})
                r = conns[i].getresponse()
                raw = r.read()
                break
            except (http.client.RemoteDisconnected, ConnectionError):
                conns[i].close()
                if attempt:
                    raise
        try:
            answer = json.loads(raw)
        except ValueError:
            answer = {}
        return r.status, answer_stages(r.status, answer if isinstance(answer, dict) else {},
                                       r.getheader("server-timing"))  # fmt: skip

    def close() -> None:
        for c in conns:
            c.close()

    return call, close


def remote_form(connect: Callable[[str], Any]) -> Callable[[str, bytes, Path, int], Opened]:
    """A form sent by a ``RemotePredictor`` (``connect(url)`` returns one): one per client thread, each call the
    request ``run()`` and ``predict()`` make (``_image_request``: multipart ``file`` and ``top_k``), the answer's
    stages read from its body (``server_timings_ms``, the prediction's ``timings_ms``)."""

    def open_(url: str, data: bytes, _path: Path, clients: int) -> Opened:
        pool = [connect(url) for _ in range(clients)]

        def call(i: int) -> tuple[int, Stages]:
            return 200, answer_stages(200, pool[i]._image_request([(data, "photo.jpg")], 5, batch=False), None)

        def close() -> None:
            for p in pool:
                p.close()

        return call, close

    return open_


def _connect_remote(url: str) -> Any:
    from edge_infer.serve.client import RemotePredictor

    return RemotePredictor.connect(url, timeout_s=120)


class _Connection:
    """One plain keep-alive HTTP/1.1 connection that sends a prebuilt request and reads the answer (the shim's
    answers carry a Content-Length); reconnects when the server closed it while idle (its keep-alive timeout), as any
    keep-alive client does."""

    def __init__(self, host: str, port: int) -> None:
        self.address = (host, port)
        self.sock: socket.socket | None = None
        self.reader: Any = None

    def _connect(self) -> None:
        self.close()
        self.sock = socket.create_connection(self.address)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = self.sock.makefile("rb")

    def exchange(self, request: bytes) -> tuple[int, dict[str, str], bytes]:
        for _ in range(2):
            if self.sock is None:
                self._connect()
            assert self.sock is not None
            try:
                self.sock.sendall(request)
                status_line = self.reader.readline()
            except ConnectionError:
                status_line = b""
            if status_line:
                break
            self.close()  # closed by the server while idle: once more on a new connection
        else:
            raise ConnectionError(f"{self.address}: the server closed the connection without an answer")
        try:
            status = int(status_line.split()[1])
        except (IndexError, ValueError) as exc:
            raise ConnectionError(f"not an HTTP answer: {status_line[:80]!r}") from exc
        headers: dict[str, str] = {}
        while (line := self.reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        body = self.reader.read(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers, body

    def close(self) -> None:
        if self.sock is not None:
            self.reader.close()
            self.sock.close()
        self.sock = self.reader = None


def _socket_form(body: Callable[[bytes], tuple[str, bytes]]) -> Callable[[str, bytes, Path, int], Opened]:
    """A form sent over one plain keep-alive socket per client thread: the whole request (``body(data)``: its
    Content-Type and bytes) is built once, each call is one ``sendall`` and a read of the answer."""

    def open_(url: str, data: bytes, _path: Path, clients: int) -> Opened:
        host, _, port = url.removeprefix("http://").partition(":")
        content_type, payload = body(data)
        request = (f"POST /predict HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {content_type}\r\n"
                   f"Content-Length: {len(payload)}\r\n\r\n").encode("ascii") + payload  # fmt: skip
        conns = [_Connection(host, int(port)) for _ in range(clients)]

        def call(i: int) -> tuple[int, Stages]:
            status, headers, raw = conns[i].exchange(request)
            try:
                answer = json.loads(raw)
            except ValueError:
                answer = {}
            return status, answer_stages(status, answer if isinstance(answer, dict) else {},
                                         headers.get("server-timing"))  # fmt: skip

        def close() -> None:
            for conn in conns:
                conn.close()

        return call, close

    return open_


def _multipart(data: bytes) -> tuple[str, bytes]:
    """(Content-Type, body) of a multipart form with ``data`` as the JPEG in the field ``file``."""
    from edge_infer.serve.transport import multipart_body

    return multipart_body({}, [("file", ("photo.jpg", data, "image/jpeg"))])


def _json(r: Any) -> dict[str, Any]:
    try:
        body = r.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _json_body(data: bytes) -> dict[str, Any]:
    body = json.dumps({"image": base64.b64encode(data).decode("ascii")}).encode()
    return {"content": body, "headers": {"Content-Type": "application/json"}}


FORMS: Registry[str, RequestForm] = Registry("request form")
for _form in (
    RequestForm(name="multipart", description="httpx keep-alive, multipart field `file`",
                open=_httpx_form(lambda data: {"files": {"file": ("photo.jpg", data, "image/jpeg")}})),
    RequestForm(name="raw", description="httpx keep-alive, raw body as image/jpeg",
                open=_httpx_form(lambda data: {"content": data, "headers": {"Content-Type": "image/jpeg"}})),
    RequestForm(name="json", description="httpx keep-alive, JSON {\"image\": base64}", open=_httpx_form(_json_body)),
    RequestForm(name="tutorial", description="requests.post(url, files={'file': open(path, 'rb')}), a connection "
                "per call", open=_tutorial),
    RequestForm(name="health", description="httpx keep-alive, GET /health: the framework's floor",
                open=_httpx_form(lambda _: {}, "GET", "/health")),
    RequestForm(name="socket", description="plain keep-alive socket, prebuilt raw image/jpeg request: the floor of a "
                "client", open=_socket_form(lambda data: ("image/jpeg", data))),
    RequestForm(name="socket-multipart", description="plain keep-alive socket, prebuilt multipart request (field "
                "`file`)", open=_socket_form(_multipart)),
    RequestForm(name="session", description="requests.Session keep-alive, multipart field `file`", open=_session),
    RequestForm(name="stdlib", description="http.client.HTTPConnection keep-alive, multipart field `file` built per "
                "call", open=_stdlib),
    RequestForm(name="remote", description="the project's RemotePredictor, multipart field `file` (+ top_k)",
                open=remote_form(_connect_remote)),
):  # fmt: skip
    FORMS.register(_form.name, _form)
