"""What the desk's pages show besides the templates: a candidate's episode history in event
time, the month the audit opens on, the curfew map's night picker, and the confirmation a
decision asks for."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, StringConstraints

from ...model.errors import InputError
from ...model.times import MS_PER_DAY, UK, from_datetime, parse_ts, to_datetime
from ...store.domain import Store
from ..audit.report import local_month
from .openapi import FREE_TEXT
from .review import DISMISS_REASONS, MAX_NOTE, OUTCOMES, Desk, NotFound

#: evidence rows on the candidate page (every one is in the JSON API)
EVIDENCE_ROWS = 500
#: a decision's first post: the page that asks to confirm it
TO_CONFIRM: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "an outcome not yet recorded: the page asks to confirm it "
        "(post again with confirmed=yes)",
        "content": {"text/html": {}},
    }
}
#: the time of a curfew check when only a night is chosen (UK local)
NIGHT_CHECK = "23:00"


def local_instant(day: str, clock: str) -> int:
    """A UK local date and clock time as an instant (refused if not a real date)."""
    try:
        d = date.fromisoformat(day)
    except ValueError:
        raise InputError(f"night {day!r}: not a date") from None
    hh, mm = (int(x) for x in clock.split(":"))
    return from_datetime(datetime(d.year, d.month, d.day, hh, mm, tzinfo=UK))


def local_day_iso(ms: int) -> str:
    return to_datetime(ms).astimezone(UK).strftime("%Y-%m-%d")


def local_clock(ms: int) -> str:
    return to_datetime(ms).astimezone(UK).strftime("%H:%M")


def latest_month(st: Store, now: int) -> str:
    """The month the audit opens on: the latest with fixes, not after now (the current
    month when there are none)."""
    last = st.latest_fix_at()
    return local_month(min(last, now) if last is not None else now)


def episode_history(hist: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """An episode's changes for the page: when the evidence said it (event time) and when
    the service recorded it, both in epoch ms."""
    return [{**h, "evidence_at": parse_ts(h["evidence_at"]) if h.get("evidence_at") else None,
             "recorded_at": parse_ts(h["recorded_at"])} for h in hist]  # fmt: skip


def night_picker(templates: Jinja2Templates, district: str | None, night: str | None,
                 clock: str | None, now: int) -> tuple[int, str]:  # fmt: skip
    """The instant of a curfew check (the night and clock chosen, UK local; else now) and
    the form that chooses another, with the night before and after."""
    at = local_instant(night, clock or NIGHT_CHECK) if night else now
    form = templates.get_template("curfew_picker.html").render(
        district=district or "", night=local_day_iso(at), clock=local_clock(at),
        prev=local_day_iso(at - MS_PER_DAY), next=local_day_iso(at + MS_PER_DAY),
        now=not night)  # fmt: skip
    return at, form


class Action(BaseModel):
    """A review action through the API."""

    outcome: Literal[OUTCOMES] | None = None  # type: ignore[valid-type]
    reason: Literal[DISMISS_REASONS] | None = None  # type: ignore[valid-type]
    text: Annotated[str, StringConstraints(max_length=MAX_NOTE, pattern=FREE_TEXT)] | None = None


def apply_action(desk: Desk, cid: str, action: str, body: Action) -> Any:
    if action in ("ack", "acknowledge"):
        return desk.acknowledge(cid)
    if action == "dismiss":
        return desk.dismiss(cid, body.reason, body.text)
    if action == "decide":
        return desk.decide(cid, body.outcome or "", body.reason, body.text)
    if action == "note":
        return desk.note(cid, body.text or "")
    if action == "reopen":
        return desk.reopen(cid, body.text or body.reason or "")
    raise NotFound(f"no action {action}")
