"""The HTTP transport of the Python client: keep-alive HTTP/1.1 over the standard library's ``http.client``.

    conn = Connection("http://127.0.0.1:8000", timeout_s=60)
    conn.request("GET", "/health")                                    # -> the answer's JSON, a dict
    conn.request("POST", "/predict", files=[("file", ("a.jpg", data, "image/jpeg"))], data={"top_k": "5"})
    conn.close()

One connection per calling thread (a predictor may be shared by threads), kept open between requests; a kept
connection the server closed while idle is replaced once, on a new connection. The request head and a body of bytes
leave in one write. An unreachable server, a dropped connection, a timeout or a 5xx answer raise ``RemoteError``
naming the URL; a 4xx answer is ``InputError`` with the server's ``detail``.

Why not httpx or requests: the client's own work is part of every round trip it times. Measured against the shim
on one keep-alive connection (2026-12-07, docs/serve.md), the CPU a request costs the calling thread was 0.9 ms with
``http.client`` against 1.9 ms with ``httpx.Client`` and 2.4 ms with ``requests.Session``.
"""

from __future__ import annotations

import http.client
import json as jsonlib
import os
import threading
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

from edge_infer.errors import InputError, RemoteError

FileField = tuple[str, tuple[str, bytes, str]]  # (field name, (file name, bytes, content type))


def multipart_body(fields: Mapping[str, str], files: Sequence[FileField]) -> tuple[str, bytes]:
    """A ``multipart/form-data`` body: the text ``fields``, then the ``files``; returns (Content-Type, body)."""
    boundary = os.urandom(16).hex()
    parts: list[bytes] = []
    for name, value in fields.items():
        parts += [f'--{boundary}\r\nContent-Disposition: form-data; name="{_quote(name)}"\r\n\r\n'.encode(),
                  str(value).encode(), b"\r\n"]  # fmt: skip
    for name, (filename, data, content_type) in files:
        head = (f'--{boundary}\r\nContent-Disposition: form-data; name="{_quote(name)}"; '
                f'filename="{_quote(filename)}"\r\nContent-Type: {content_type}\r\n\r\n')  # fmt: skip
        parts += [head.encode(), data, b"\r\n"]
    parts.append(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", b"".join(parts)


def _quote(value: str) -> str:
    """A name inside a quoted Content-Disposition parameter, escaped as browsers do (WHATWG)."""
    return value.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


class _HTTPConnection(http.client.HTTPConnection):
    """``http.client``'s connection, writing the request head and a body of bytes in one ``send``: two writes make
    the server start on the head alone and wait for the body (0.3 ms more to read it, measured)."""

    _body: bytes | None = None

    def endheaders(self, message_body: Any = None, *, encode_chunked: bool = False) -> None:
        if isinstance(message_body, bytes) and message_body and not encode_chunked:
            self._body, message_body = message_body, None  # sent with the head, by send() below
        try:
            super().endheaders(message_body, encode_chunked=encode_chunked)
        finally:
            self._body = None

    def send(self, data: Any) -> None:
        if self._body is not None:
            data, self._body = bytes(data) + self._body, None
        super().send(data)


class _HTTPSConnection(_HTTPConnection, http.client.HTTPSConnection):
    """The same over TLS."""


class Connection:
    """Keep-alive HTTP/1.1 connections to ``edge-infer serve`` at ``url``, one per calling thread: requests with
    the shim's answers as JSON and its errors as ours."""

    def __init__(self, url: str, *, timeout_s: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RemoteError(f"{url!r} is not an http:// or https:// URL (e.g. http://127.0.0.1:8000)")
        try:
            self._port = parts.port
        except ValueError as exc:
            raise RemoteError(f"{url!r}: {exc}") from exc
        self._host, self._https, self._prefix = parts.hostname, parts.scheme == "https", parts.path
        self._lock = threading.Lock()
        self._connections: dict[threading.Thread, _HTTPConnection] = {}
        self._closed = False

    def request(
        self, method: str, path: str, *, json: Any = None, data: Mapping[str, str] | None = None,
        files: Sequence[FileField] | None = None, content: bytes | None = None,
        headers: Mapping[str, str] | None = None, params: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """One request; the answer's JSON. The body is ``json`` (encoded), ``files`` (multipart, with the text
        fields ``data``) or ``content`` (bytes as they are); ``params`` go in the query string."""
        head = dict(headers or {})
        body: bytes | None = content
        if json is not None:
            body, head["Content-Type"] = jsonlib.dumps(json).encode(), "application/json"
        elif files:
            head["Content-Type"], body = multipart_body(data or {}, files)
        elif data:
            body = urllib.parse.urlencode(data).encode()
            head["Content-Type"] = "application/x-www-form-urlencoded"
        target = self._prefix + path + (f"?{urllib.parse.urlencode(params)}" if params else "")
        status, raw = self._exchange(method, target, body, head, where=f"{self.url}{path}")
        try:
            answer = jsonlib.loads(raw)
        except ValueError:
            answer = {"detail": raw[:200].decode("utf-8", "replace")}
        if status >= 400 and not isinstance(answer, dict):
            answer = {"detail": answer}
        if status >= 500:
            raise RemoteError(f"{self.url}{path}: server error {status}: {answer.get('detail', answer)}")
        if status >= 400:
            raise InputError(f"{self.url}{path} refused the request ({status}): {answer.get('detail', answer)}")
        return answer  # type: ignore[no-any-return]

    def _exchange(
        self, method: str, target: str, body: bytes | None, headers: dict[str, str], *, where: str
    ) -> tuple[int, bytes]:
        """Send the request and read the whole answer on this thread's connection; a kept connection the server
        closed while idle is dropped and the request sent once more on a new one."""
        conn = self._connection(where)
        may_retry = True
        while True:
            reused = conn.sock is not None
            try:
                conn.request(method, target, body=body, headers=headers)
                answer = conn.getresponse()
                raw = answer.read()
            except TimeoutError as exc:
                conn.close()
                raise RemoteError(f"{where}: no answer within {self.timeout_s:g} s") from exc
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                conn.close()
                if reused and may_retry:
                    may_retry = False  # the server's keep-alive timeout closed it: once more on a new connection
                    continue
                raise RemoteError(f"{where}: the server closed the connection without an answer") from exc
            except OSError as exc:
                conn.close()
                raise RemoteError(f"{where}: cannot reach the server ({exc.strerror or exc})") from exc
            except http.client.HTTPException as exc:
                conn.close()
                raise RemoteError(f"{where}: not a valid HTTP answer ({type(exc).__name__}: {exc})") from exc
            if answer.will_close:
                conn.close()  # the server said Connection: close; the next request opens a new one
            return answer.status, raw

    def _connection(self, where: str) -> _HTTPConnection:
        """This thread's connection (opened on its first request); connections of threads that ended are closed."""
        me = threading.current_thread()
        conn = self._connections.get(me)
        if conn is not None:
            return conn
        with self._lock:
            if self._closed:
                raise RemoteError(f"{where}: the client is closed")
            for thread in [t for t in self._connections if not t.is_alive()]:
                self._connections.pop(thread).close()
            cls = _HTTPSConnection if self._https else _HTTPConnection
            conn = self._connections[me] = cls(self._host, self._port, timeout=self.timeout_s)
        return conn

    def close(self) -> None:
        """Close every thread's connection; later requests raise ``RemoteError``."""
        with self._lock:
            self._closed = True
            connections, self._connections = list(self._connections.values()), {}
        for conn in connections:
            conn.close()
