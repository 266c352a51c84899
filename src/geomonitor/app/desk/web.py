"""The web desk: server-rendered pages and a JSON API over the review workflow.

``geomonitor desk --db DB`` serves it on 127.0.0.1. Sessions are HTTP-only, secure,
SameSite=Strict cookies; every form carries a CSRF token (the API takes it in the
``X-CSRF-Token`` header); every page is sent with a content security policy that allows
nothing from elsewhere. A candidate of another district is "not found", on a page and in
the API alike.
"""

from __future__ import annotations

import re
import secrets
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from ...model.candidate import severity
from ...model.errors import InputError
from ...model.text import distance, duration, kind_words, local_seconds, local_short, local_time
from ...model.times import MS_PER_DAY, parse_ts
from ...store.domain import Store
from ..audit.report import month_bounds, monthly, render
from ..consult import ROUTES, WRITE, Consultation
from ..evidence import evidence_of
from ..health import health, timeline_rows, timelines
from ..maps.alert import alert_map
from ..maps.base import Tiles
from ..maps.curfew import curfew_map
from . import shown
from .accounts import (
    MIN_PASSWORD,
    LoginRefused,
    Session,
    TooManyAttempts,
    add_user,
    login,
    logout,
    same_token,
    session_of,
    set_disabled,
)
from .limits import BodyLimit
from .openapi import (
    ACCOUNT_CHANGES,
    CLOCK,
    DAY,
    FREE_TEXT,
    MONTH,
    OUTCOME_FIELD,
    REASON_FIELD,
    REVIEW_ACTIONS,
    USERNAME,
    WHEN,
    answers,
    document,
)
from .packs import pack_route
from .review import (
    ALL,
    DISMISS_REASONS,
    MAX_NOTE,
    OUTCOMES,
    ROLES,
    STATES,
    Conflict,
    Desk,
    NotAllowed,
    NotFound,
    User,
    queue_of,
)
from .shown import EVIDENCE_ROWS, TO_CONFIRM, Action, apply_action
from .subject import subject_routes

COOKIE, LOGIN_CSRF = "gm_session", "gm_login"
PAGE_CSP = (
    "default-src 'none'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'self'; connect-src 'self'"
)
#: maps and reports: inline scripts and styles of their own, nothing fetched from anywhere
DOC_CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data:; font-src data:; frame-ancestors 'self'; base-uri 'none'"
)


def _now() -> int:
    return int(time.time() * 1000)


class Web:
    """What every route shares: the store, templates, the session, the page makers."""

    def __init__(self, db: Path, tiles: Tiles | None = None):
        self.db = db
        #: the force's tile server for the maps (allowed by the maps' content policy)
        self.tiles = tiles
        self.doc_csp = DOC_CSP if tiles is None else DOC_CSP.replace(
            "img-src data:", f"img-src data: {tiles.origin}"
        )  # fmt: skip
        self.templates = Jinja2Templates(
            directory=str(Path(__file__).resolve().parent.parent / "templates" / "desk")
        )
        self.templates.env.globals.update(
            local_time=local_time,
            local_short=local_short,
            duration=duration,
            severity=severity,
            district_name=self.district_name,
            kind_words=kind_words,
            local_seconds=local_seconds,
            distance=distance,
            local_iso=lambda text: local_time(parse_ts(text)) if text else "",
        )

    def district_name(self, code: str) -> str:
        if code == ALL:
            return "all districts"
        with self.store() as st:
            d = st.current_registry().districts.get(code)
        return d.name if d else code

    def store(self) -> Store:
        return Store(self.db, create=False)

    @staticmethod
    def origin(request: Request) -> str:
        return request.client.host if request.client else "unknown"

    def page(self, request: Request, name: str, s: Session | None, status: int = 200,
             **ctx: Any) -> HTMLResponse:  # fmt: skip
        nonce = secrets.token_urlsafe(16)
        resp = self.templates.TemplateResponse(
            request, name, {"session": s, "nonce": nonce, **ctx}, status_code=status
        )
        resp.headers["Content-Security-Policy"] = PAGE_CSP.format(nonce=nonce)
        return resp

    def doc(self, html: str) -> HTMLResponse:
        resp = HTMLResponse(html)
        resp.headers["Content-Security-Policy"] = self.doc_csp
        return resp

    @staticmethod
    def csrf_ok(s: Session, token: str | None, request: Request | None = None) -> bool:
        """The form's ``csrf`` field, or the ``X-CSRF-Token`` header, is the session's."""
        header = request.headers.get("X-CSRF-Token") if request is not None else None
        return same_token(s.csrf, token or header)

    def login_form(self, request: Request, status: int = 200, error: str | None = None) -> Response:
        token = secrets.token_urlsafe(24)
        resp = self.page(request, "login.html", None, status=status, csrf=token, error=error)
        resp.set_cookie(LOGIN_CSRF, token, httponly=True, secure=True, samesite="strict")
        return resp

    def with_desk(self, request: Request, fn: Callable[[Store, Session, Desk], Response],
                  api: bool = False) -> Response:  # fmt: skip
        """Run ``fn`` for the logged-in user; errors become the right status. What the
        route consults (:data:`~geomonitor.app.consult.ROUTES`) is recorded once, allowed
        or refused."""
        route = request.scope.get("route")
        kind = ROUTES[(request.method, getattr(route, "path_format", ""))]
        with self.store() as st:
            s = session_of(st, request.cookies.get(COOKIE), _now())
            if s is None:  # 401: a page shows the login form where it was asked for
                if api:
                    return JSONResponse({"error": "log in first"}, status_code=401)
                return self.login_form(request, 401, "log in first")
            now = _now()
            consult = None
            if kind is not None:
                consult = Consultation(kind, s.user.username, self.origin(request),
                                       s.user.district, target=_target(request))  # fmt: skip
            desk = Desk(st, s.user, self.origin(request), now, consult)
            status = 400
            try:
                resp = fn(st, s, desk)
                if consult is not None and kind is not WRITE and resp.status_code < 400:
                    consult.record(st, now)
                return resp
            except NotFound as e:
                status, message = 404, str(e)
            except NotAllowed as e:
                status, message = 403, str(e)
            except Conflict as e:
                status, message = 409, str(e)
            except InputError as e:
                message = str(e)
            if consult is not None and status in (403, 404):
                consult.record(st, now, refused=message)
            if api:
                return JSONResponse({"error": message}, status_code=status)
            return self.page(request, "error.html", s, status=status, message=message)


def _target(request: Request) -> str | None:
    """What a request is about, for the log: its path's ids, or its query."""
    ids = [str(v) for k, v in request.path_params.items() if k not in ("action", "what")]
    return " ".join(ids) or (str(request.url.query)[:200] or None)


def server_config(db: Path, host: str, port: int, trusted_proxies: tuple[str, ...] = (),
                  tiles: Tiles | None = None) -> Any:  # fmt: skip
    """How uvicorn serves the desk. A client's address is the socket's: ``X-Forwarded-For``
    is believed only from the proxies named (a reverse proxy in front of the desk), never
    from anyone else, so no client can choose the address recorded or the login limit's."""
    import uvicorn

    return uvicorn.Config(
        create_app(db, tiles),
        host=host,
        port=port,
        log_level="warning",
        proxy_headers=bool(trusted_proxies),
        forwarded_allow_ips=",".join(trusted_proxies) if trusted_proxies else "",
        server_header=False,
    )


def create_app(db: Path, tiles: Tiles | None = None) -> FastAPI:
    """The desk over the store at ``db`` (one connection per request); its maps draw the
    streets of ``tiles`` when given."""
    app = FastAPI(
        title="geomonitor desk",
        description="The monitoring desk's review workflow. Every call needs a session "
        "(log in on /login); calls that change anything need the X-CSRF-Token header.",
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    web = Web(db, tiles)

    @app.middleware("http")
    async def headers(request: Request, call_next: Callable) -> Response:
        resp: Response = await call_next(request)
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "no-referrer")
        resp.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        resp.headers.setdefault("Cache-Control", "no-store")
        return resp

    _login_routes(app, web)
    _pages(app, web)
    _subject_and_accounts(app, web)
    _documents(app, web)
    pack_route(app, web)
    subject_routes(app, web)
    _health(app, web)
    _api(app, web)
    document(app)
    for r in app.routes:  # one place says what each route consults: none may be missing
        for m in getattr(r, "methods", None) or ():
            if m != "HEAD" and (m, getattr(r, "path_format", "")) not in ROUTES:
                raise RuntimeError(f"{m} {getattr(r, 'path', r)}: not in consult.ROUTES")
    return BodyLimit(app)  # type: ignore[return-value]


def _login_routes(app: FastAPI, web: Web) -> None:
    @app.get("/login", response_class=HTMLResponse, responses=answers())
    def login_page(request: Request) -> Response:
        return web.login_form(request)

    @app.post("/login", response_class=RedirectResponse, status_code=303,
              responses=answers(403, 429))  # fmt: skip
    def login_post(request: Request, username: str = Form("", max_length=200),
                   password: str = Form("", max_length=1000),
                   csrf: str = Form("", max_length=200)) -> Response:  # fmt: skip
        if not same_token(request.cookies.get(LOGIN_CSRF), csrf):
            return web.page(request, "error.html", None, status=403,
                            message="the form expired or did not come from this site")  # fmt: skip
        with web.store() as st:
            try:
                s = login(st, username.strip().lower(), password, web.origin(request), _now())
            except TooManyAttempts as e:
                resp = web.login_form(request, 429, str(e))
                resp.headers["Retry-After"] = str(e.wait_s)
                return resp
            except LoginRefused as e:
                return web.login_form(request, 401, str(e))
        done = RedirectResponse("/", status_code=303)
        done.set_cookie(COOKIE, s.token, httponly=True, secure=True, samesite="strict",
                        max_age=8 * 3600)  # fmt: skip
        done.delete_cookie(LOGIN_CSRF)
        return done

    @app.post("/logout", response_class=RedirectResponse, status_code=303,
              responses=answers(403, form=True))  # fmt: skip
    def logout_post(request: Request, csrf: str = Form("", max_length=200)) -> Response:
        def go(st: Store, s: Session, desk: Desk) -> Response:
            if not web.csrf_ok(s, csrf, request):
                return web.page(request, "error.html", s, status=403, message="missing CSRF token")
            logout(st, s.token)
            resp = RedirectResponse("/login", status_code=303)
            resp.delete_cookie(COOKIE)
            return resp

        return web.with_desk(request, go)


def _filters(request: Request) -> dict[str, Any]:
    q = request.query_params
    f: dict[str, Any] = {k: (q.get(k) or None) for k in ("district", "kind", "state")}
    for k in ("since", "until"):
        v = q.get(k) or None
        f[k] = _when(v, k) if v else None
    return f


def _when(value: str, name: str) -> int:
    """A date (midnight UTC) or an RFC 3339 time with its offset, as epoch ms."""
    t = value.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", t):
        t += "T00:00:00Z"
    t = re.sub(r"(?<=\d)[tT ](?=\d)", "T", t).replace("z", "Z").replace("Z", "+00:00")
    t = re.sub(r":60(?=(\.\d+)?([+-]\d))", ":59", t)  # a leap second: the one before
    try:
        dt = datetime.fromisoformat(t)
    except ValueError:
        raise InputError(f"{name}: not a date (2026-11-21) or a time with its offset "
                         "(2026-11-21T22:00:00Z)") from None  # fmt: skip
    if dt.tzinfo is None:
        raise InputError(f"{name}: a time needs its offset (Z or +01:00)")
    try:
        return int(dt.timestamp() * 1000)
    except (OverflowError, ValueError):  # within a day of year 1 or 9999: before or after all
        return -(2**62) if dt.year < 1970 else 2**62


def _district_filter(st: Store, district: str | None) -> str | None:
    """A district filter as a code; an unknown one matches nothing (never everything)."""
    if not district:
        return None
    return st.current_registry().district_code(district) or "-"


def _pages(app: FastAPI, web: Web) -> None:
    @app.get("/", response_class=HTMLResponse, responses=answers(400))
    def queue_page(request: Request) -> Response:
        def go(st: Store, s: Session, desk: Desk) -> Response:
            f = _filters(request)
            seen = desk.items()
            items = desk.saw(queue_of(seen, _district_filter(st, f["district"]), f["kind"],
                                      f["state"], f["since"], f["until"]))  # fmt: skip
            names = {c: d.name for c, d in st.current_registry().districts.items()}
            kinds = sorted({it.candidate.kind for it in seen})
            return web.page(request, "queue.html", s, items=items, names=names, kinds=kinds,
                            raw=dict(request.query_params), states=STATES)  # fmt: skip

        return web.with_desk(request, go)

    @app.get("/candidates/{cid}", response_class=HTMLResponse, responses=answers(404))
    def candidate_page(request: Request, cid: str) -> Response:
        def go(st: Store, s: Session, desk: Desk) -> Response:
            it = desk.get(cid)
            reg = st.current_registry()
            d = reg.districts.get(it.district)
            return web.page(
                request, "candidate.html", s, it=it, reviews=st.review_history(cid),
                history=shown.episode_history(st.candidate_history(cid)), outcomes=OUTCOMES,
                reasons=DISMISS_REASONS, district=d.name if d else it.district,
                evidence=evidence_of(st, it.candidate.evidence[:EVIDENCE_ROWS]),
                timeline=[timeline_rows(tl) for tl in timelines(st, cid).values()],
            )  # fmt: skip

        return web.with_desk(request, go)

    @app.post("/candidates/{cid}/{action:review_action}", response_class=RedirectResponse,
              status_code=303, responses={**answers(403, 404, 409, form=True),
                                          **TO_CONFIRM})  # fmt: skip
    def candidate_action(request: Request, cid: str, action: Literal[REVIEW_ACTIONS],  # type: ignore[valid-type]
                         csrf: str = Form("", max_length=200),
                         outcome: str = Form("", pattern=OUTCOME_FIELD),
                         reason: str = Form("", pattern=REASON_FIELD),
                         text: str = Form("", max_length=MAX_NOTE, pattern=FREE_TEXT),
                         confirmed: str = Form("", pattern="^(yes)?$")) -> Response:  # fmt: skip
        def go(st: Store, s: Session, desk: Desk) -> Response:
            if not web.csrf_ok(s, csrf, request):
                return web.page(request, "error.html", s, status=403, message="missing CSRF token")
            body = Action(outcome=outcome or None, reason=reason or None, text=text or None)
            if action == "decide" and confirmed != "yes":  # an outcome is asked for twice
                it, _, note = desk.check_decision(cid, outcome, reason or None, text or None)
                return web.page(request, "confirm.html", s, it=it, outcome=outcome,
                                reason=reason, text=note)  # fmt: skip
            apply_action(desk, cid, action, body)
            return RedirectResponse(f"/candidates/{cid}", status_code=303)

        return web.with_desk(request, go)


def _subject_and_accounts(app: FastAPI, web: Web) -> None:
    @app.get("/accounts", response_class=HTMLResponse, responses=answers(403))
    def accounts_page(request: Request) -> Response:
        def go(st: Store, s: Session, desk: Desk) -> Response:
            return web.page(request, "accounts.html", s, users=manageable(st, s.user),
                            roles=list(ROLES))  # fmt: skip

        return web.with_desk(request, go)

    @app.post("/accounts", response_class=RedirectResponse, status_code=303,
              responses=answers(403, 409, form=True))  # fmt: skip
    def accounts_add(request: Request, username: str = Form(pattern=USERNAME),
                     role: Literal[tuple(ROLES)] = Form(),  # type: ignore[valid-type]
                     password: str = Form(min_length=MIN_PASSWORD, max_length=1000),
                     csrf: str = Form("", max_length=200)) -> Response:  # fmt: skip
        def go(st: Store, s: Session, desk: Desk) -> Response:
            if not web.csrf_ok(s, csrf, request):
                return web.page(request, "error.html", s, status=403, message="missing CSRF token")
            if not s.user.may("accounts"):
                raise NotAllowed(f"{s.user.username} ({s.user.role}) may not manage accounts")
            add_user(st, username.strip().lower(), password, role, s.user.district,
                     s.user.username, desk.now, desk.origin)  # fmt: skip
            return RedirectResponse("/accounts", status_code=303)

        return web.with_desk(request, go)

    @app.post("/accounts/{username}/{what:account_change}", response_class=RedirectResponse,
              status_code=303, responses=answers(403, 404, 409, form=True))  # fmt: skip
    def accounts_toggle(request: Request, username: str,
                        what: Literal[ACCOUNT_CHANGES],  # type: ignore[valid-type]
                        csrf: str = Form("", max_length=200)) -> Response:  # fmt: skip
        def go(st: Store, s: Session, desk: Desk) -> Response:
            if not web.csrf_ok(s, csrf, request):
                return web.page(request, "error.html", s, status=403, message="missing CSRF token")
            if not s.user.may("accounts"):
                raise NotAllowed(f"{s.user.username} ({s.user.role}) may not manage accounts")
            if username == s.user.username:
                raise Conflict(f"cannot {what} your own account")
            theirs = {u["username"]: u for u in manageable(st, s.user)}
            if username not in theirs:
                raise NotFound(f"no account {username}")
            set_disabled(st, username, what == "disable", s.user.username, desk.origin,
                         desk.now, theirs[username]["district"])  # fmt: skip
            return RedirectResponse("/accounts", status_code=303)

        return web.with_desk(request, go)

    @app.get("/audit", response_class=HTMLResponse, responses=answers(403))
    def audit_page(request: Request) -> Response:
        def go(st: Store, s: Session, desk: Desk) -> Response:
            rows = desk.audit_log()
            return web.page(request, "audit.html", s, rows=rows, chain_ok=st.audit_verify().ok)

        return web.with_desk(request, go)


def _health(app: FastAPI, web: Web) -> None:
    """The service's health for supervisors (:mod:`geomonitor.app.health`)."""

    @app.get("/health", response_class=HTMLResponse, responses=answers(403))
    def health_page(request: Request, days: int = 1) -> Response:
        def go(st: Store, s: Session, desk: Desk) -> Response:
            if not s.user.may("audit"):
                raise NotAllowed(f"{s.user.username} ({s.user.role}) may not read the health page")
            span = min(max(days, 1), 31)
            scope = None if s.user.district == ALL else s.user.district
            h = health(st, desk.now - span * MS_PER_DAY, desk.now, desk.now, scope)
            return web.page(request, "health.html", s, h=h, days=span)

        return web.with_desk(request, go)


def _documents(app: FastAPI, web: Web) -> None:
    """Maps and the monthly report: self-contained pages of their own."""

    @app.get("/candidates/{cid}/map", response_class=HTMLResponse, responses=answers(404))
    def candidate_map(request: Request, cid: str) -> Response:
        def go(st: Store, s: Session, desk: Desk) -> Response:
            desk.get(cid)
            with tempfile.TemporaryDirectory() as tmp:
                path = alert_map(st, cid, Path(tmp) / "m.html", offline=True, tiles=web.tiles)
                return web.doc(path.read_text(encoding="utf-8"))

        return web.with_desk(request, go)

    @app.get("/reports/audit", response_class=HTMLResponse, responses=answers(403))
    def audit_report(request: Request,
                     month: str | None = Query(None, pattern=MONTH)) -> Response:  # fmt: skip
        def go(st: Store, s: Session, desk: Desk) -> Response:
            if not s.user.may("audit"):
                raise NotAllowed(f"{s.user.username} ({s.user.role}) may not read the tag audit")
            m = month or shown.latest_month(st, desk.now)
            month_bounds(m)  # a month that is not one is refused before anything is read
            audit = monthly(st, m, now=desk.now)
            if s.user.district != ALL:
                audit = audit.of_district(web.district_name(s.user.district))
            if desk.consult is not None:
                desk.consult.about(districts=[s.user.district])
            return web.doc(render(audit, st, desk.now))

        return web.with_desk(request, go)

    @app.get("/maps/curfew", response_class=HTMLResponse, responses=answers(404))
    def curfew_page(request: Request, district: str | None = None,
                    night: str | None = Query(None, pattern=DAY),
                    clock: str | None = Query(None, pattern=CLOCK)) -> Response:  # fmt: skip
        """The curfew check of a district: now, or the night and time chosen (local)."""

        def go(st: Store, s: Session, desk: Desk) -> Response:
            code = s.user.district
            if code == ALL:
                code = st.current_registry().district_code(district or "") or ""
            elif district and st.current_registry().district_code(district) != code:
                raise NotFound(f"no district {district}")
            if not code or code == ALL:  # force-wide and none chosen: choose one
                if district:
                    raise NotFound(f"no district {district}")
                names = sorted(d.name for d in st.current_registry().districts.values())
                return web.page(request, "choose.html", s, names=names)
            if desk.consult is not None:
                desk.consult.about((x.id for x in st.current_registry().subjects.values()
                                    if x.district == code), [code])  # fmt: skip
            at, form = shown.night_picker(web.templates, district, night, clock, desk.now)
            with tempfile.TemporaryDirectory() as tmp:
                path = curfew_map(st, code, at, Path(tmp) / "c.html", offline=True,
                                  tiles=web.tiles, picker=form)  # fmt: skip
                return web.doc(path.read_text(encoding="utf-8"))

        return web.with_desk(request, go)


def _api(app: FastAPI, web: Web) -> None:
    @app.get("/api/candidates", responses=answers(400, json=True))
    def api_queue(request: Request, district: str | None = None, kind: str | None = None,
                  state: str | None = None,
                  since: str | None = Query(None, json_schema_extra=WHEN),
                  until: str | None = Query(None, json_schema_extra=WHEN)) -> Response:  # fmt: skip
        """The queue, with the page's filters (the page polls it to refresh)."""

        def go(st: Store, s: Session, desk: Desk) -> Response:
            f = _filters(request)
            items = desk.saw(desk.queue(_district_filter(st, f["district"]), f["kind"],
                                        f["state"], f["since"], f["until"]))  # fmt: skip
            return JSONResponse([it.to_json() for it in items])

        return web.with_desk(request, go, api=True)

    @app.get("/api/candidates/{cid}", responses=answers(404, json=True))
    def api_candidate(request: Request, cid: str) -> Response:
        def go(st: Store, s: Session, desk: Desk) -> Response:
            it = desk.get(cid)
            return JSONResponse({**it.to_json(), "review_history": st.review_history(cid)})

        return web.with_desk(request, go, api=True)

    @app.post("/api/candidates/{cid}/{action:review_action}",
              responses=answers(403, 404, 409, json=True))  # fmt: skip
    def api_action(request: Request, cid: str,
                   action: Literal[REVIEW_ACTIONS],  # type: ignore[valid-type]
                   body: Action) -> Response:  # fmt: skip
        def go(st: Store, s: Session, desk: Desk) -> Response:
            if not web.csrf_ok(s, request.headers.get("X-CSRF-Token")):
                return JSONResponse({"error": "missing CSRF token"}, status_code=403)
            return JSONResponse(apply_action(desk, cid, action, body).to_json())

        return web.with_desk(request, go, api=True)

    @app.get("/api/session", responses=answers(json=True))
    def api_session(request: Request) -> Response:
        def go(st: Store, s: Session, desk: Desk) -> Response:
            u = s.user
            return JSONResponse({"username": u.username, "role": u.role, "district": u.district,
                                 "csrf": s.csrf})  # fmt: skip

        return web.with_desk(request, go, api=True)


def manageable(st: Store, user: User) -> list[dict[str, Any]]:
    """The accounts a supervisor manages: those of their district (all, force-wide)."""
    if not user.may("accounts"):
        raise NotAllowed(f"{user.username} ({user.role}) may not manage accounts")
    return [u for u in st.users() if user.district == ALL or u["district"] == user.district]
