"""The candidate and device-event tables of the store, with the history of every change
to a candidate (opened, updated, closed, reopened, retracted) and the links between a
retracted candidate and the one that superseded it."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import orjson

from ..model.candidate import Candidate
from ..model.orders import Cause
from ..model.times import iso, parse_ts
from .rows import CandidateWrite

#: Why a candidate is judged differently: (subject, order, opened, closed) -> cause or None.
CauseOf = Callable[[str, str, int, int | None], Cause | None]


def _cause_text(
    cause: CauseOf, subject: str, order: str, opened: int, closed: int | None
) -> str | None:
    got = cause(subject, order, opened, closed)
    return None if got is None else got[2]


def dumps(obj: Any) -> str:
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS).decode()


def _now() -> str:
    # Wall-clock time of a store operation (an audit fact, never an event time).
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class CandidateTables:
    """Candidates and device events (a part of :class:`~geomonitor.store.domain.Store`)."""

    db: sqlite3.Connection

    def apply_candidates(
        self,
        upserts: Iterable[Candidate],
        retracted: Iterable[str] = (),
        only_changed: bool = False,
        cause: CauseOf | None = None,
    ) -> CandidateWrite:
        """Write candidate changes and record every transition in the candidate history
        (a candidate first seen already closed is recorded as opened, then closed); with
        ``only_changed``, upserts equal to what is stored are skipped (several stream
        consumers may reach the same candidate).

        A retracted candidate keeps its last content in the history; when a candidate of
        the same subject, order, condition and kind over an overlapping time comes in the
        same write, each names the other (``superseded by`` / ``supersedes``). With
        ``cause`` (after the rules changed: an absence recorded, an order varied), each
        retraction and replacement records why (:func:`geomonitor.model.orders.cause_of`).
        """
        w = CandidateWrite()
        now = _now()
        ups = list(upserts)
        gone = self._retracted_rows(retracted)
        successor = _successors(gone, ups)
        supersedes: dict[str, list[str]] = {}
        for rid, sid in successor.items():
            supersedes.setdefault(sid, []).append(rid)
        events: list[tuple[str, str, str, str | None, str | None, str | None]] = []
        for c in ups:
            row = self.db.execute(
                "SELECT status, body FROM candidates WHERE id=?", (c.id,)
            ).fetchone()
            body = dumps(c.to_json())
            if only_changed and row is not None and row[1] == body:
                continue
            link = ",".join(sorted(supersedes.get(c.id, []))) or None
            if row is None:
                actions = ["opened"] + (["closed"] if c.status == "closed" else [])
                w.opened += 1
                w.closed += c.status == "closed"
            elif row[0] != c.status:
                actions = ["closed" if c.status == "closed" else "reopened"]
                w.closed += c.status == "closed"
                w.updated += c.status != "closed"
            else:
                actions = ["updated"]
                w.updated += 1
            self.db.execute(
                "INSERT INTO candidates VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE "
                "SET opened_at=excluded.opened_at, closed_at=excluded.closed_at, "
                "status=excluded.status, fix_count=excluded.fix_count, body=excluded.body",
                (
                    c.id,
                    c.kind,
                    c.subject_id,
                    c.order_id,
                    c.condition_id,
                    c.zone_id,
                    c.opened_at,
                    c.closed_at,
                    c.status,
                    c.fix_count,
                    body,
                ),
            )
            why = None
            if cause is not None:
                why = _cause_text(cause, c.subject_id, c.order_id, c.opened_at, c.closed_at)
            for k, action in enumerate(actions):
                events.append((c.id, action, now, body, link if k == 0 else None, why))
            w.events.append((c.id, c.subject_id, actions[0], body))
        for cid, (subject, body) in gone.items():
            self.db.execute("DELETE FROM candidates WHERE id=?", (cid,))
            w.retracted += 1
            why = None
            if cause is not None:
                b = orjson.loads(body)
                why = _cause_text(
                    cause, subject, b["order_id"], parse_ts(b["opened_at"]),
                    parse_ts(b["closed_at"]) if b.get("closed_at") else None,
                )  # fmt: skip
            events.append((cid, "retracted", now, body, successor.get(cid), why))
            w.events.append((cid, subject, "retracted", None))
        self.db.executemany(
            "INSERT INTO candidate_events (candidate_id, action, recorded_at, body, link, cause) "
            "VALUES (?,?,?,?,?,?)",
            events,
        )
        return w

    def _retracted_rows(self, ids: Iterable[str]) -> dict[str, tuple[str, str]]:
        """Subject and stored body of each candidate about to be retracted."""
        out = {}
        for cid in ids:
            row = self.db.execute(
                "SELECT subject_id, body FROM candidates WHERE id=?", (cid,)
            ).fetchone()
            if row is not None:
                out[cid] = (row[0], row[1])
        return out

    def sync_candidates(
        self,
        current: list[Candidate],
        subjects: set[str] | None = None,
        kinds: set[str] | None = None,
        cause: CauseOf | None = None,
    ) -> CandidateWrite:
        """Make the stored candidates equal ``current`` (after an engine warm-up); with
        ``subjects`` or ``kinds``, only the candidates of those subjects or kinds. The
        candidates kept of a subject whose data the retention schedule removed are left as
        they are (the engine no longer judges that subject)."""
        retired = {s for (s,) in self.db.execute("SELECT subject_id FROM retired_subjects")}
        stored = {
            i: b
            for i, subj, k, b in self.db.execute(
                "SELECT id, subject_id, kind, body FROM candidates"
            )
            if (subjects is None or subj in subjects)
            and (kinds is None or k in kinds)
            and subj not in retired
        }
        ups = [c for c in current if stored.get(c.id) != dumps(c.to_json())]
        ids = {c.id for c in current}
        gone = sorted(i for i in stored if i not in ids)
        return self.apply_candidates(ups, gone, cause=cause)

    def candidates(
        self, status: str | None = None, subject_id: str | None = None
    ) -> list[Candidate]:
        clause, args = where(status=status, subject_id=subject_id)
        q = f"SELECT body FROM candidates{clause} ORDER BY opened_at, id"
        return [Candidate.from_json(orjson.loads(b)) for (b,) in self.db.execute(q, args)]

    def candidate(self, cid: str) -> Candidate | None:
        row = self.db.execute("SELECT body FROM candidates WHERE id=?", (cid,)).fetchone()
        return None if row is None else Candidate.from_json(orjson.loads(row[0]))

    def candidate_history(self, cid: str) -> list[dict[str, Any]]:
        """Every recorded transition of a candidate, oldest first: ``action``,
        ``evidence_at`` (event time, UTC: when it opened, closed, or its last evidence for
        other changes), ``recorded_at`` (when the service recorded it: wall clock, UTC), and
        ``superseded_by`` (a retraction) or ``supersedes`` (the candidate it replaced)."""
        out = []
        for seq, action, at, body, link, why in self.db.execute(
            "SELECT seq, action, recorded_at, body, link, cause FROM candidate_events "
            "WHERE candidate_id=? ORDER BY seq",
            (cid,),
        ):
            h: dict[str, Any] = {"seq": seq, "action": action}
            if body is not None:
                snap = orjson.loads(body)
                key = {"opened": "opened_at", "closed": "closed_at"}.get(action)
                h["evidence_at"] = snap.get(key or "last_evidence_at") or snap.get(
                    "last_evidence_at"
                )
            h["recorded_at"] = at
            if link and action == "authorised":
                h["absence"] = link
            elif link:
                h["superseded_by" if action == "retracted" else "supersedes"] = link
            if why:
                h["cause"] = why
            out.append(h)
        return out

    def retracted_candidate(self, cid: str) -> tuple[Candidate, str | None] | None:
        """A candidate no longer current: its last content, and what superseded it (None
        when nothing did); None when ``cid`` was never retracted or is current again."""
        if self.db.execute("SELECT 1 FROM candidates WHERE id=?", (cid,)).fetchone():
            return None
        row = self.db.execute(
            "SELECT body, link FROM candidate_events WHERE candidate_id=? AND "
            "action='retracted' ORDER BY seq DESC LIMIT 1",
            (cid,),
        ).fetchone()
        if row is None or row[0] is None:
            return None
        return Candidate.from_json(orjson.loads(row[0])), row[1]

    # ------------------------------------------------------------------ device health
    def apply_device_events(
        self, upserts: Iterable[Any], removed: Iterable[tuple[str, str, int]] = ()
    ) -> None:
        """Write device events (:class:`geomonitor.device.DeviceEvent`) and drop superseded
        ones."""
        now = _now()
        self.db.executemany(
            "INSERT INTO device_events VALUES (?,?,?,?,?,?,?,?) "
            "ON CONFLICT(tag_id, kind, started_at) DO UPDATE SET ended_at=excluded.ended_at, "
            "subject_id=excluded.subject_id, details=excluded.details, "
            "evidence=excluded.evidence, recorded_at=excluded.recorded_at",
            [
                (
                    e.tag_id,
                    e.kind,
                    e.started_at,
                    e.ended_at,
                    e.details.get("subject_id"),
                    dumps({k: v for k, v in e.details.items() if k != "subject_id"}),
                    dumps(e.evidence),
                    now,
                )
                for e in upserts
            ],
        )
        self.db.executemany(
            "DELETE FROM device_events WHERE tag_id=? AND kind=? AND started_at=?", list(removed)
        )

    def device_events(
        self, tag_id: str | None = None, kind: str | None = None
    ) -> list[dict[str, Any]]:
        clause, args = where(tag_id=tag_id, kind=kind)
        q = (
            "SELECT tag_id, kind, started_at, ended_at, subject_id, details, evidence "
            f"FROM device_events{clause} ORDER BY tag_id, started_at, kind"
        )
        out = []
        for t, k, a, b, subj, det, ev in self.db.execute(q, args):
            out.append(
                {
                    "tag_id": t,
                    "kind": k,
                    "started_at": iso(a),
                    "ended_at": iso(b),
                    "subject_id": subj,
                    "details": orjson.loads(det),
                    "evidence_fixes": len(orjson.loads(ev)),
                }
            )
        return out

    def sync_device_events(
        self, current: list[Any], tags: set[str] | None = None
    ) -> tuple[list[Any], list[tuple[str, str, int]]]:
        """Make the stored device events equal ``current`` (after an engine warm-up); with
        ``tags``, only those tags' events. Returns what changed (upserts, removed keys)."""
        stored = {
            (t, k, a): (b, subj, d, ev)
            for t, k, a, b, subj, d, ev in self.db.execute(
                "SELECT tag_id, kind, started_at, ended_at, subject_id, details, evidence "
                "FROM device_events"
            )
            if (tags is None or t in tags) and k != "conflicting_fix"  # (not the engine's)
        }
        ups = [
            e
            for e in current
            if stored.get(e.key)
            != (
                e.ended_at,
                e.details.get("subject_id"),
                dumps({k: v for k, v in e.details.items() if k != "subject_id"}),
                dumps(e.evidence),
            )
        ]
        gone = sorted(stored.keys() - {e.key for e in current})
        self.apply_device_events(ups, gone)
        return ups, gone


def where(**filters: str | None) -> tuple[str, list[str]]:
    """A ``WHERE`` clause (column names are ours, values are bound) for the given filters."""
    used = {k: v for k, v in filters.items() if v}
    if not used:
        return "", []
    return " WHERE " + " AND ".join(f"{k}=?" for k in used), list(used.values())


def _successors(gone: dict[str, tuple[str, str]], ups: list[Candidate]) -> dict[str, str]:
    """For each retracted candidate, the upsert that supersedes it: the same subject, order,
    condition and kind over an overlapping span (the nearest start when several do)."""
    out: dict[str, str] = {}
    for rid, (_, body) in gone.items():
        r = Candidate.from_json(orjson.loads(body))
        r_end = r.closed_at if r.closed_at is not None else 2**62
        best: tuple[int, str] | None = None
        for c in ups:
            if (c.kind, c.subject_id, c.order_id, c.condition_id) != (
                r.kind,
                r.subject_id,
                r.order_id,
                r.condition_id,
            ) or c.id == rid:
                continue
            c_end = c.closed_at if c.closed_at is not None else 2**62
            if c.opened_at <= r_end and r.opened_at <= c_end:
                key = (abs(c.opened_at - r.opened_at), c.id)
                if best is None or key < (best[0], best[1]):
                    best = key
        if best is not None:
            out[rid] = best[1]
    return out
