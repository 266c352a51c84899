"""Limits the desk applies to a request before anything reads it.

:class:`BodyLimit` wraps the whole application (outside every route and every parser): a
body declared or found larger than :data:`MAX_BODY` is refused with 413 as soon as that is
known, without being read to its end or parsed; and a request that would change something
(any method but GET, HEAD and OPTIONS) without a session cookie is refused with 401 before
its body is read at all, except the login form.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

#: the largest body the desk accepts: a note is at most 4,000 characters (up to 16 KB of
#: UTF-8, three times that form-encoded), every other form is far smaller
MAX_BODY = 64 * 1024
SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
OPEN = frozenset({"/login"})

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


async def _refuse(send: Send, status: int, text: str) -> None:
    body = orjson.dumps({"error": text})
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"), (b"connection", b"close")]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """ASGI middleware: the request size limit and the session check before the body."""

    def __init__(self, app: Any, max_body: int = MAX_BODY, cookie: str = "gm_session"):
        self.app, self.max_body, self.cookie = app, max_body, cookie

    def __getattr__(self, name: str) -> Any:  # the FastAPI app's routes, openapi, ...
        return getattr(self.app, name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_body
            except ValueError:
                await _refuse(send, 400, "a Content-Length that is not a number")
                return
            if too_big:
                await _refuse(send, 413, f"the request body is over {self.max_body} bytes")
                return
        method, path = scope.get("method", "GET"), scope.get("path", "")
        if method not in SAFE and path not in OPEN:
            cookies = headers.get(b"cookie", b"").decode("latin-1")
            if f"{self.cookie}=" not in cookies:
                await _refuse(send, 401, "log in first")
                return
        seen = 0
        started = refused = False

        async def limited() -> Message:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_body:
                    # answered here and now; the application sees the client gone and
                    # whatever it would answer is dropped
                    refused = True
                    if not started:
                        await _refuse(send, 413, f"the request body is over {self.max_body} bytes")
                    return {"type": "http.disconnect"}
            return msg

        async def sending(msg: Message) -> None:
            nonlocal started
            if refused:
                return
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        await self.app(scope, limited, sending)
