"""The desk's subject page, and authorised absences recorded and cancelled from it (desk
and supervisor roles): the conditions as in force with the order's variations, what absences
kept off the desk, and the minutes late per month."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ...model.errors import InputError
from ...model.registry import FAR_FUTURE, in_force
from ...store.domain import Store
from ..absences import cancel, parse_local, record
from ..lateness import lateness_of
from .openapi import SOME_TEXT, answers
from .review import Conflict, Desk, NotAllowed, NotFound, queue_of

if TYPE_CHECKING:
    from .accounts import Session

#: a local date and time as a browser's datetime-local field sends it
LOCAL_TIME = (
    r"^[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]$"
)
DEGREES = r"^(-?[0-9]{1,3}(\.[0-9]{1,10})?)?$"
METRES = r"^([0-9]{1,5}(\.[0-9]{1,3})?)?$"


def _number(text: str, what: str) -> float | None:
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise InputError(f"{what}: expected a number") from None


def _refused(web: Any, request: Request, s: Session, csrf: str, what: str) -> Response | None:
    """The answer to a form without its CSRF token; :class:`NotAllowed` for a role that may
    not do ``what``; None when the form may go on."""
    if not web.csrf_ok(s, csrf, request):
        return web.page(request, "error.html", s, status=403,  # type: ignore[no-any-return]
                        message="missing CSRF token")  # fmt: skip
    if not s.user.may("absences"):
        raise NotAllowed(f"{s.user.username} ({s.user.role}) may not {what}")
    return None


def _theirs(st: Store, s: Session, sid: str, missing: str) -> None:
    """:class:`NotFound` unless ``sid`` is a subject of the user's district."""
    subj = st.current_registry().subjects.get(sid)
    if subj is None or not s.user.sees(subj.district):
        raise NotFound(missing)


def subject_routes(app: FastAPI, web: Any) -> None:
    """Add the routes to ``app``; ``web`` is the desk's :class:`~.web.Web`."""

    @app.get("/subjects/{sid}", response_class=HTMLResponse, responses=answers(404))
    def subject_page(request: Request, sid: str) -> Response:
        def go(st: Store, s: Session, desk: Desk) -> Response:
            reg = st.current_registry()
            subj = reg.subjects.get(sid)
            if subj is None or not s.user.sees(subj.district):
                raise NotFound(f"no subject {sid}")
            theirs = [it for it in desk.items() if it.candidate.subject_id == sid]
            wears = [(f.tag_id, f.fitted_at) for f in reg.fittings
                     if f.subject_id == sid and f.removed_at is None]  # fmt: skip
            items = queue_of(theirs)
            decided = [it for it in theirs if it.state not in ("new", "acknowledged")]
            conds = []
            for o, c in reg.conditions():
                if o.subject_id == sid:
                    a, b = in_force(o, c)
                    conds.append((o, c, a, None if b >= FAR_FUTURE else b))
            variations = [v for o in reg.orders.values() if o.subject_id == sid
                          for v in o.variations]  # fmt: skip
            if desk.consult is not None:
                desk.consult.about([sid], [subj.district])
            name = reg.districts[subj.district].name
            return web.page(
                request, "subject.html", s, sid=sid, items=items, decided=decided,
                district=name, conditions=conds, wears=wears, variations=variations,
                absences=st.absence_rows(sid), authorised=st.authorised_of(sid),
                lateness=lateness_of(st, sid), may_absence=s.user.may("absences"),
            )  # fmt: skip

        return web.with_desk(request, go)

    @app.post("/subjects/{sid}/absences", response_class=RedirectResponse, status_code=303,
              responses=answers(403, 404, 409, form=True))  # fmt: skip
    def absence_add(
        request: Request,
        sid: str,
        starts: str = Form(pattern=LOCAL_TIME),
        ends: str = Form(pattern=LOCAL_TIME),
        authorised_by: str = Form(min_length=1, max_length=300, pattern=SOME_TEXT),
        reason: str = Form(min_length=3, max_length=300, pattern=SOME_TEXT),
        lat: str = Form("", pattern=DEGREES),
        lon: str = Form("", pattern=DEGREES),
        radius: str = Form("", pattern=METRES),
        csrf: str = Form("", max_length=200),
    ) -> Response:
        """Record an authorised absence (UK local times); everything is judged again."""

        def go(st: Store, s: Session, desk: Desk) -> Response:
            refused = _refused(web, request, s, csrf, "record absences")
            if refused is not None:
                return refused
            _theirs(st, s, sid, f"no subject {sid}")
            try:
                y, x = _number(lat, "latitude"), _number(lon, "longitude")
                if (y is None) != (x is None):
                    raise InputError("destination: give both latitude and longitude, or neither")
                record(st, sid, parse_local(starts, "from"), parse_local(ends, "to"),
                       authorised_by, reason, s.user.username, desk.origin,
                       desk.now, None if y is None or x is None else (y, x),
                       _number(radius, "radius"))  # fmt: skip
            except InputError as e:  # well formed, but not an absence that can be recorded
                raise Conflict(str(e)) from None
            return RedirectResponse(f"/subjects/{sid}#absences", status_code=303)

        return web.with_desk(request, go)

    @app.post("/absences/{aid}/cancel", response_class=RedirectResponse, status_code=303,
              responses=answers(403, 404, 409, form=True))  # fmt: skip
    def absence_cancel(
        request: Request,
        aid: str,
        reason: str = Form(min_length=3, max_length=300, pattern=SOME_TEXT),
        csrf: str = Form("", max_length=200),
    ) -> Response:
        """Cancel an authorised absence; everything is judged again."""

        def go(st: Store, s: Session, desk: Desk) -> Response:
            refused = _refused(web, request, s, csrf, "cancel absences")
            if refused is not None:
                return refused
            rows = {r["id"]: r for r in st.absence_rows()}
            sid = rows[aid]["subject_id"] if aid in rows else ""
            _theirs(st, s, sid, f"no absence {aid}")
            try:
                cancel(st, aid, reason, s.user.username, desk.origin, desk.now)
            except InputError as e:  # cancelled already
                raise Conflict(str(e)) from None
            return RedirectResponse(f"/subjects/{sid}#absences", status_code=303)

        return web.with_desk(request, go)
