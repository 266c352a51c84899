"""The desk's API as documented: every answer a route can give, its parameters as the code
accepts them, the session cookie and CSRF header as security schemes, and ``Allow``
headers that list what a path really supports.

An API tester (schemathesis, ``tests/app/test_desk_api.py``) runs against the document
with every check on: no answer may be a server error or one the document does not list,
and no request the document allows may be refused as malformed.
"""

from __future__ import annotations

import html
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException as StarletteHTTPException

from ...model.text import REFUSED_CHARS
from .review import DISMISS_REASONS, OUTCOMES

REVIEW_ACTIONS = ("ack", "acknowledge", "dismiss", "decide", "note", "reopen")
ACCOUNT_CHANGES = ("disable", "enable")

#: free text as the desk accepts it: no control or bidirectional character
_ALLOWED = "".join(f"\\u{c:04x}" for c in sorted(REFUSED_CHARS))
FREE_TEXT = f"^[^{_ALLOWED}]*$"
#: ... and with something in it besides white space
SOME_TEXT = f"^[^{_ALLOWED}]*[^\\s{_ALLOWED}][^{_ALLOWED}]*$"
USERNAME = r"^[a-z0-9][a-z0-9._-]{1,39}$"
MONTH = r"^[1-9][0-9]{3}-(0[1-9]|1[0-2])$"
DAY = r"^[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
CLOCK = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
#: a date (``2026-11-21``, midnight UTC), a time with its offset (RFC 3339), or empty
#: (no bound: what the queue's filter form sends when left blank)
WHEN: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "format": "date"},
        {"type": "string", "format": "date-time"},
        {"type": "string", "maxLength": 0},
    ]
}


class _Choice(Convertor[str]):
    """A path segment that is one of a few words (so other words route elsewhere)."""

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


class _ReviewAction(_Choice):
    regex = "|".join(re.escape(w) for w in REVIEW_ACTIONS)


class _AccountChange(_Choice):
    regex = "|".join(re.escape(w) for w in ACCOUNT_CHANGES)


register_url_convertor("review_action", _ReviewAction())
register_url_convertor("account_change", _AccountChange())


class ErrorBody(BaseModel):
    """Why a request was refused, in one line."""

    error: str


_WHY = {
    303: "Done: see the page named by Location",
    400: "The request is malformed (one line says what)",
    401: "Not logged in (no session, or it ended); a page shows the login form",
    403: "The role does not allow it, or the CSRF token is missing or wrong",
    404: "No such candidate, subject, district or account that this user may see",
    405: "The method is not one this path supports (Allow lists those)",
    409: "The workflow refuses it in the candidate's state, or it exists already",
    413: "The request body is over 64 KiB (refused before it is read)",
    422: "A parameter or field is not what the document describes",
    429: "Too many failed logins: Retry-After says when to try again",
}
_HTML = {"text/html": {"schema": {"type": "string"}}}
_JSON_ERROR = {"application/json": {"schema": ErrorBody.model_json_schema()}}
_LOCATION = {"Location": {"description": "where to go", "schema": {"type": "string"}}}
_RETRY = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}


def _answer(code: int, kind: str) -> dict[str, Any]:
    out: dict[str, Any] = {"description": _WHY[code]}
    if code == 303:
        out["headers"] = _LOCATION
    elif kind == "json" or code in (413, 422):
        out["content"] = _JSON_ERROR
    elif code == 401 and kind == "form":  # no cookie at all: refused unread, in JSON
        out["content"] = {**_HTML, **_JSON_ERROR}
    else:
        out["content"] = _HTML
    if code == 429:
        out["headers"] = _RETRY
    return out


def answers(*codes: int, json: bool = False, form: bool = False) -> dict[int | str, Any]:
    """The ``responses`` of a route besides its success: ``codes``, and what any route can
    answer (a body that cannot be parsed; not logged in: 401, with the login form on a
    page; a body too large; a field not as described). ``json``: an API route; ``form``:
    a form's post."""
    kind = "json" if json else "form" if form else "page"
    return {c: _answer(c, kind) for c in sorted({*codes, 400, 401, 413, 422})}


#: a form's success: see the page named by Location
REDIRECTED = {303: {"description": _WHY[303], "headers": _LOCATION}}


def document(app: FastAPI) -> None:
    """Add the security schemes to the OpenAPI document: the session cookie everywhere
    but the login, the CSRF header on every call that changes something."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(title=app.title, version=app.version, description=app.description,
                          routes=app.routes)  # fmt: skip
        doc.setdefault("components", {})["securitySchemes"] = {
            "session": {"type": "apiKey", "in": "cookie", "name": "gm_session",
                        "description": "the session cookie set by POST /login"},
            "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token",
                     "description": "the session's CSRF token (GET /api/session); forms "
                     "may send it as the field csrf instead"},
        }  # fmt: skip
        for path, ops in doc["paths"].items():
            for method, op in ops.items():
                if path in ("/login", "/api/openapi.json"):
                    op["security"] = []
                elif method == "get":
                    op["security"] = [{"session": []}]
                else:
                    op["security"] = [{"session": [], "csrf": []}]
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": why_invalid(exc)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        """No such path, or not this method: JSON under /api/, a page elsewhere."""
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed(app, request.url.path))
        detail = exc.detail if isinstance(exc.detail, str) else "refused"
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": detail}, status_code=exc.status_code, headers=headers)
        page = (
            f"<!doctype html><html lang='en'><meta charset='utf-8'><title>{exc.status_code}"
            f"</title><p>{html.escape(detail)}: <a href='/'>the queue</a></p></html>"
        )
        return HTMLResponse(page, status_code=exc.status_code, headers=headers)


def why_invalid(exc: RequestValidationError) -> str:
    """One line for the first problem: the field and what is wrong, never its value (it
    may be personal data); a control character is named by its code."""
    e = exc.errors()[0]
    where = ".".join(str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path"))
    value = e.get("input")
    if e.get("type") == "string_pattern_mismatch" and isinstance(value, str):
        bad = next((REFUSED_CHARS[ord(c)] for c in value if ord(c) in REFUSED_CHARS), None)
        what = (f"holds the control character {bad} (not allowed in text)" if bad
                else "is not in the form this field takes")  # fmt: skip
    else:
        what = str(e.get("msg", "invalid")).splitlines()[0][:200]
    return f"{where or 'request'}: {what}"


def allowed(app: FastAPI, path: str) -> list[str]:
    """Every method some route supports at ``path``."""
    out: set[str] = set()
    for r in app.routes:
        regex = getattr(r, "path_regex", None)
        if regex is not None and regex.match(path):
            out |= set(getattr(r, "methods", None) or ()) - {"HEAD"}
    return sorted(out)


#: the review outcome and reason a form may send (empty: none)
OUTCOME_FIELD = "^(" + "|".join(OUTCOMES) + ")?$"
REASON_FIELD = "^(" + "|".join(DISMISS_REASONS) + ")?$"
