"""Request bodies to model inputs, without a server: multipart parts copied out once and byte-exact whatever they
hold, base64 through the fast and the tolerant path, JSON through the one-pass path with the careful path's errors."""

from __future__ import annotations

import base64
import os
import random

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("python_multipart")

from edge_infer.serve.errors import HTTPError  # noqa: E402
from edge_infer.serve.parsing import decode_base64, multipart_parts, parse_body  # noqa: E402


def _multipart(fields: dict[str, bytes], boundary: bytes = b"b0undary") -> tuple[str, bytes]:
    body = b"".join(b"--" + boundary + b'\r\nContent-Disposition: form-data; name="' + name.encode()
                    + b'"; filename="f"\r\n\r\n' + data + b"\r\n" for name, data in fields.items())  # fmt: skip
    return f"multipart/form-data; boundary={boundary.decode()}", body + b"--" + boundary + b"--\r\n"


def test_multipart_parts_are_byte_exact() -> None:
    rng = random.Random(7)
    tricky = [b"", b"\r", b"\r\n--b0und", b"\r\n--b0undar\r\n--b0undaryX", os.urandom(70_000)]
    tricky += [bytes(rng.choice(b"\r\n-ab0") for _ in range(5000)) for _ in range(20)]  # boundary-like runs
    for data in tricky:
        ctype, body = _multipart({"file": data, "other": data[::-1]})
        got = {p.name: p.data for p in multipart_parts(ctype, body)}
        assert got == {"file": data, "other": data[::-1]}
    req = httpx.Request("POST", "http://x", files={"file": ("a.jpg", tricky[-1], "image/jpeg")}, data={"top_k": "3"})
    parsed = parse_body(req.headers["content-type"], req.read(), kind="image", batch=False, max_items=4)
    assert parsed.items == (tricky[-1],) and parsed.names == ("a.jpg",) and parsed.top_k == 3


def test_base64_fast_and_tolerant_paths() -> None:
    data = os.urandom(3001)
    b64 = base64.b64encode(data).decode()
    for text in (b64, b64.rstrip("="), "\n".join(b64[i : i + 76] for i in range(0, len(b64), 76)),
                 f"data:image/jpeg;base64,{b64}"):  # fmt: skip
        assert decode_base64(text, "image") == data
    for bad, words in (("!!!", "not valid base64"), ("", "empty"), ("data:image/jpeg,abc", "data URL")):
        with pytest.raises(HTTPError, match=words):
            decode_base64(bad, "image")


def test_json_one_pass_and_careful_errors() -> None:
    b64 = base64.b64encode(b"\xff\xd8 jpeg-ish").decode()
    one = parse_body("application/json", f'{{"image": "{b64}", "top_k": 2, "name": "n"}}'.encode(), kind="image",
                     batch=False, max_items=4)  # fmt: skip
    assert one.items == (b"\xff\xd8 jpeg-ish",) and one.top_k == 2 and one.names == ("n",)
    rows = parse_body("application/json", b'{"features": [[1, 2.5], {"a": 3}]}', kind="features", batch=True,
                      max_items=4)  # fmt: skip
    assert rows.items == ([1.0, 2.5], {"a": 3.0})
    cases = [  # what the careful path says, however the fast path failed
        (b'{"features": [1, NaN]}', "features", 422, "NaN"),
        (b"{not json", "image", 400, "not valid JSON"),
        (b'{"features": [1.0]}', "image", 422, "image model"),
        (b'{"image": "aGk="}', "features", 422, "tabular model"),
        (b'{"image": 5}', "image", 422, "image"),
    ]
    for body, kind, status, words in cases:
        with pytest.raises(HTTPError, match=words) as err:
            parse_body("application/json", body, kind=kind, batch=False, max_items=4)  # type: ignore[arg-type]
        assert err.value.status == status
