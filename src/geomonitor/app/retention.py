"""The retention schedule: what is removed, and when, for real.

A subject's positions (their tags' fixes over their fittings, and ANPR reads of their
declared vehicles) are kept :attr:`Schedule.positions_days` after their data ends: the end
of their last order, or the withdrawal of their consent. Longer, within those positions:

* the evidence of a candidate under review (never decided, or reopened) is kept while it is;
* the evidence of a candidate decided with an outcome other than a dismissal is kept
  :attr:`Schedule.evidence_days` after the decision (MOPI reviews);
* nothing of a subject under a legal hold is removed (``retention hold``).

A dismissed candidate goes with the positions. Crime matches are written as files to the
folder the analyst names, never to the store: they follow the force's own schedule for case
material. Rejected records (their raw text may hold a position) are kept
:attr:`Schedule.rejected_days`; output messages already published are removed at every run.

:func:`run` removes what is due (``dry_run``: counts only), scrubs the file so no removed
value is left in it, its free pages or its write-ahead log, marks each subject as retired
(the engine stops judging them, and their fixes are refused if replayed again), and
records the run in the audit log with counts, never values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from ..model.errors import InputError
from ..model.registry import FAR_FUTURE, Registry
from ..model.text import free_text
from ..model.times import MS_PER_DAY, MS_PER_HOUR
from ..store.domain import Store
from ..store.retention import Span, minus
from .desk.review import OUTCOMES

#: around a kept candidate's evidence: the positions just before and after it
EVIDENCE_MARGIN_MS = MS_PER_HOUR
MAX_REASON = 500


@dataclass(frozen=True)
class Schedule:
    """Days each kind of data is kept (the ``[retention]`` table of the TOML)."""

    positions_days: int = 90
    evidence_days: int = 2190
    rejected_days: int = 30


def load_schedule(path: str | Path | None) -> Schedule:
    """The schedule from a TOML file's ``[retention]`` table and ``GEOMONITOR_RETENTION_*``
    variables (defaults when absent); the same file the consumers read."""
    from ..io.kafka.config import load_retention_config

    return Schedule(**load_retention_config(path).model_dump())


@dataclass
class SubjectPlan:
    subject_id: str
    data_end: int
    #: removed before: only what was kept then and is kept no longer goes now
    again: bool = False
    remove_candidates: list[str] = field(default_factory=list)
    #: kept candidates, with why
    keep: dict[str, str] = field(default_factory=dict)
    tag_spans: dict[str, list[Span]] = field(default_factory=dict)
    vrm_spans: dict[str, list[Span]] = field(default_factory=dict)


@dataclass
class Plan:
    at: int
    schedule: Schedule
    due: list[SubjectPlan] = field(default_factory=list)
    #: subjects whose data has ended but are not yet due, held, or kept: why
    not_due: dict[str, str] = field(default_factory=dict)


def data_end(registry: Registry, subject: str, withdrawn: dict[str, int]) -> int | None:
    """When a subject's data ends: consent withdrawn, or their last order's end (None while
    an order runs without an end)."""
    if subject in withdrawn:
        return withdrawn[subject]
    ends = [o.ends for o in registry.orders.values() if o.subject_id == subject]
    if not ends or any(e is None for e in ends):
        return None
    return max(e for e in ends if e is not None)


def plan(store: Store, schedule: Schedule, at: int) -> Plan:
    """What is due at ``at`` (nothing is changed)."""
    reg = store.current_registry()
    withdrawn, holds, retired = store.withdrawals(), store.holds(), store.retired()
    reviews = store.reviews()
    p = Plan(at, schedule)
    for sid in sorted(reg.subjects):
        end = data_end(reg, sid, withdrawn)
        if end is None:
            continue
        if sid in holds:
            p.not_due[sid] = f"legal hold: {holds[sid]['reason']}"
            continue
        if at < end + schedule.positions_days * MS_PER_DAY:
            p.not_due[sid] = "not yet due"
            continue
        # A subject removed before is looked at again: what was kept then (a candidate
        # under review, a decision's evidence) may since have been dismissed or expired.
        sp = SubjectPlan(sid, end, again=sid in retired)
        keep_spans: list[Span] = []
        for cid, opened, closed, current in _candidates_of(store, sid):
            why = _kept(reviews.get(cid), schedule, at, current)
            if why is None:
                sp.remove_candidates.append(cid)
                continue
            sp.keep[cid] = why
            until = closed if closed is not None else at
            keep_spans.append((opened - EVIDENCE_MARGIN_MS, until + EVIDENCE_MARGIN_MS))
        for f in reg.fittings:
            if f.subject_id == sid:
                hi = f.removed_at if f.removed_at is not None else FAR_FUTURE
                sp.tag_spans.setdefault(f.tag_id, []).extend(minus((f.fitted_at, hi), keep_spans))
        starts = [o.starts for o in reg.orders.values() if o.subject_id == sid]
        for o, c in reg.conditions("declared_vehicles"):
            if o.subject_id == sid and c.declared is not None:
                for vrm in c.declared.vrms:
                    sp.vrm_spans[vrm] = minus((min(starts), FAR_FUTURE), keep_spans)
        p.due.append(sp)
    return p


def _candidates_of(store: Store, sid: str) -> list[tuple[str, int, int | None, bool]]:
    """Every candidate of a subject, current or retracted: id, opened, closed, current."""
    out = [(c.id, c.opened_at, c.closed_at, True) for c in store.candidates(subject_id=sid)]
    current = {c[0] for c in out}
    for (cid,) in store.db.execute(
        "SELECT DISTINCT candidate_id FROM candidate_events WHERE body IS NOT NULL AND "
        "json_extract(body, '$.subject_id')=?",
        (sid,),
    ):
        if cid not in current:
            gone = store.retracted_candidate(cid)
            opened, closed = (gone[0].opened_at, gone[0].closed_at) if gone else (0, 0)
            out.append((cid, opened, closed, False))
    return out


def _kept(review: dict[str, Any] | None, schedule: Schedule, at: int,
          current: bool) -> str | None:  # fmt: skip
    """Why a candidate's evidence is kept (None: it is not). A retracted one (later
    evidence withdrew it) is no longer under review; its decision's evidence still is."""
    state = (review or {}).get("state", "new")
    if state in ("new", "acknowledged"):
        return "under review" if current else None
    if state in OUTCOMES and state != "dismissed":
        decided = (review or {}).get("decided_at") or 0
        if at < decided + schedule.evidence_days * MS_PER_DAY:
            return f"decided: {state}"
    return None


def run(store: Store, schedule: Schedule, at: int, by: str, origin: str,
        dry_run: bool = False) -> tuple[Plan, dict[str, int]]:  # fmt: skip
    """Remove what is due at ``at``; the plan and the counts removed (or due, dry)."""
    p = plan(store, schedule, at)
    counts: dict[str, int] = {}

    def add(got: dict[str, int]) -> None:
        for k, v in got.items():
            counts[k] = counts.get(k, 0) + v

    store.db.execute("PRAGMA secure_delete=ON")  # freed pages are zeroed, not left behind
    with store.transaction():
        store.allow_removal(True)
        for sp in p.due:
            add(store.remove_positions(sp.tag_spans, sp.vrm_spans, dry_run))
            add(store.remove_candidates(sp.remove_candidates, dry_run))
            add({"device_events": store.remove_device_events(sp.subject_id, dry_run)})
            add({"absences": store.remove_absences(sp.subject_id, dry_run)})
            if not dry_run:
                store.retire(sp.subject_id, sp.data_end, at)
        before = datetime.fromtimestamp((at - schedule.rejected_days * MS_PER_DAY) / 1000, UTC)
        add({"rejected": store.remove_rejected_before(
            before.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), dry_run)})  # fmt: skip
        add({"outbox": store.remove_published(dry_run)})
        store.allow_removal(False)
        again = sum(sp.again for sp in p.due)
        summary = {"subjects": len(p.due) - again, "looked_at_again": again, **counts}
        store.audit(at, by, "retention_dry_run" if dry_run else "retention_run", None, origin,
                    orjson.dumps(summary).decode(), district="all",
                    subjects=[sp.subject_id for sp in p.due])  # fmt: skip
    if not dry_run:
        failed = store.scrub()
        if failed is not None:
            counts["not_rewritten"] = 1
            with store.transaction():
                store.audit(at, by, "retention_not_rewritten", None, origin, failed[:200],
                            district="all")  # fmt: skip
    return p, counts


def hold(store: Store, subject: str, reason: str, by: str, origin: str, at: int) -> None:
    """Put a subject's data under a legal hold (nothing of it is removed until released)."""
    reason = free_text(reason, "reason", MAX_REASON)
    if not reason:
        raise InputError("a legal hold needs a reason (--reason)")
    subj = store.current_registry().subjects.get(subject)
    if subj is None:
        raise InputError(f"no subject {subject}")
    with store.transaction():
        store.set_hold(subject, reason, at, by)
        store.audit(at, by, "legal_hold", subject, origin, reason, district=subj.district,
                    subjects=[subject])  # fmt: skip


def release(store: Store, subject: str, reason: str, by: str, origin: str, at: int) -> None:
    reason = free_text(reason, "reason", MAX_REASON)
    if not reason:
        raise InputError("releasing a legal hold needs a reason (--reason)")
    subj = store.current_registry().subjects.get(subject)
    with store.transaction():
        if not store.release_hold(subject):
            raise InputError(f"{subject} is not under a legal hold")
        store.audit(at, by, "legal_hold_released", subject, origin, reason,
                    district=subj.district if subj else None, subjects=[subject])  # fmt: skip
