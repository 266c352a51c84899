"""Authorised absences recorded and cancelled (from the command line and the desk): checked,
written with an entry in the consultation log, and everything judged again at once, so a
candidate the absence covers is retracted (saying which absence) and one it would have
raised is recorded as authorised, whichever came first: the phone call or the fixes."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from ..engine import EngineConfig
from ..io.replay import rejudge
from ..model.errors import InputError
from ..model.orders import Absence
from ..model.text import free_text
from ..model.times import MS_PER_DAY, UK, from_datetime, parse_ts
from ..store.domain import Store
from ..store.rows import CandidateWrite

#: The longest absence one authorisation covers (longer ones are a variation of the order).
MAX_DAYS = 14
MAX_TEXT = 300


def parse_local(text: str | None, what: str) -> int:
    """An instant from an ISO 8601 time with a zone, or a UK local date and time
    (``2026-11-17 19:30`` or ``2026-11-17T19:30``)."""
    if not text:
        raise InputError(f"{what}: missing (a time such as 2026-11-17 19:30)")
    try:
        return parse_ts(text)
    except Exception:
        pass
    try:
        local = datetime.fromisoformat(text.replace(" ", "T"))
    except ValueError:
        raise InputError(f"{what}: not a time such as 2026-11-17 19:30 ({text!r})") from None
    if local.tzinfo is not None:
        raise InputError(f"{what}: not a time such as 2026-11-17 19:30 ({text!r})")
    return from_datetime(local.replace(tzinfo=UK))


def record(
    store: Store,
    subject: str,
    starts: int,
    ends: int,
    authorised_by: str,
    reason: str,
    by: str,
    origin: str,
    now: int,
    destination: tuple[float, float] | None = None,
    radius_m: float | None = None,
    config: EngineConfig | None = None,
    judge: bool = True,
) -> tuple[Absence, CandidateWrite]:
    """Record an absence and judge again (unless ``judge`` is false: the caller will).
    Raises :class:`InputError` naming the field."""
    reg = store.current_registry()
    subj = reg.subjects.get(subject)
    if subj is None:
        raise InputError(f"subject: no subject {subject}")
    if ends <= starts:
        raise InputError("to: the absence must end after it starts")
    if ends - starts > MAX_DAYS * MS_PER_DAY:
        raise InputError(f"to: longer than {MAX_DAYS} days (vary the order instead)")
    who = free_text(authorised_by, "authorised by", MAX_TEXT)
    why = free_text(reason, "reason", MAX_TEXT)
    if not who:
        raise InputError("authorised by: say who authorised it")
    if len(why) < 3:
        raise InputError("reason: say why, in at least 3 characters")
    lat = lon = None
    if destination is not None:
        lat, lon = destination
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise InputError("destination: expected LAT,LON in degrees")
        radius_m = 100.0 if radius_m is None else radius_m
        if radius_m <= 0:
            raise InputError("radius: expected a positive number of metres")
    elif radius_m is not None:
        raise InputError("radius: a radius needs a destination")
    with store.transaction():
        a = Absence(store.next_absence_id(), subject, starts, ends, who, why, lat, lon, radius_m)
        store.add_absence(a, now, by)
        store.audit(now, by, "absence_recorded", a.id, origin, a.describe(),
                    district=subj.district, subjects=[subject])  # fmt: skip
        w = CandidateWrite()
        if judge:
            _, w, _ = rejudge(store, config, ("absence", a.id, a.describe()))
    return a, w


def import_file(
    store: Store, path: Path, by: str, origin: str, now: int, config: EngineConfig | None = None
) -> tuple[list[Absence], CandidateWrite]:
    """Record every absence of a JSON-lines file (``subject``, ``from``, ``to``,
    ``authorised_by``, ``reason``, optional ``destination`` {lat, lon} and ``radius_m``)
    in one transaction, then judge again once. A bad line refuses the whole file, naming
    the line and the field."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror})") from None
    out: list[Absence] = []
    with store.transaction():
        for n, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise InputError("expected an object")
                dest = row.get("destination")
                where = None if dest is None else (float(dest["lat"]), float(dest["lon"]))
                a, _ = record(
                    store, str(row.get("subject", "")), parse_local(row.get("from"), "from"),
                    parse_local(row.get("to"), "to"), str(row.get("authorised_by", "")),
                    str(row.get("reason", "")), by, origin, now, where, row.get("radius_m"),
                    judge=False,
                )  # fmt: skip
            except InputError as e:
                raise InputError(f"{path.name} line {n}: {e}") from None
            except (ValueError, TypeError, KeyError) as e:
                raise InputError(f"{path.name} line {n}: {e}") from None
            out.append(a)
        _, w, _ = rejudge(store, config)  # each change names the absence behind it
    return out, w


def cancel(
    store: Store,
    absence_id: str,
    reason: str,
    by: str,
    origin: str,
    now: int,
    config: EngineConfig | None = None,
) -> tuple[Absence, CandidateWrite]:
    """Cancel an absence (recorded in error, or withdrawn) and judge again."""
    why = free_text(reason, "reason", MAX_TEXT)
    if len(why) < 3:
        raise InputError("reason: say why, in at least 3 characters")
    with store.transaction():
        a = store.cancel_absence(absence_id, now, by, why)
        subj = store.current_registry().subjects.get(a.subject_id)
        store.audit(now, by, "absence_cancelled", a.id, origin, why,
                    district=subj.district if subj else None, subjects=[a.subject_id])  # fmt: skip
        _, w, _ = rejudge(store, config, ("absence", a.id, f"{a.describe()}; cancelled: {why}"))
    return a, w
