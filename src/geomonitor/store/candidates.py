"""The candidate and device-event tables of the store, with the history of every change
to a candidate (opened, updated, closed, reopened, retracted) and the links between a
retracted candidate and the one that superseded it."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import orjson

from ..model.candidate import Candidate
from ..model.times import iso
from .rows import CandidateWrite


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
    ) -> CandidateWrite:
        """Write candidate changes and record each in the candidate history; with
        ``only_changed``, upserts equal to what is stored are skipped (several stream
        consumers may reach the same candidate)."""
        w = CandidateWrite()
        now = _now()
        events: list[tuple[str, str, str, str | None]] = []
        for c in upserts:
            row = self.db.execute(
                "SELECT status, body FROM candidates WHERE id=?", (c.id,)
            ).fetchone()
            body = dumps(c.to_json())
            if only_changed and row is not None and row[1] == body:
                continue
            if row is None:
                action = "opened"
                w.opened += 1
                if c.status == "closed":
                    w.closed += 1
            elif row[0] != c.status and c.status == "closed":
                action = "closed"
                w.closed += 1
            else:
                action = "updated"
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
            events.append((c.id, action, now, body))
            w.events.append((c.id, c.subject_id, action, body))
        for cid in retracted:
            row = self.db.execute("SELECT subject_id FROM candidates WHERE id=?", (cid,)).fetchone()
            if row is not None:
                self.db.execute("DELETE FROM candidates WHERE id=?", (cid,))
                w.retracted += 1
                events.append((cid, "retracted", now, None))
                w.events.append((cid, row[0], "retracted", None))
        self.db.executemany(
            "INSERT INTO candidate_events (candidate_id, action, recorded_at, body) "
            "VALUES (?,?,?,?)",
            events,
        )
        return w

    def sync_candidates(
        self,
        current: list[Candidate],
        subjects: set[str] | None = None,
        kinds: set[str] | None = None,
    ) -> CandidateWrite:
        """Make the stored candidates equal ``current`` (after an engine warm-up); with
        ``subjects`` or ``kinds``, only the candidates of those subjects or kinds."""
        stored = {
            i: b
            for i, subj, k, b in self.db.execute(
                "SELECT id, subject_id, kind, body FROM candidates"
            )
            if (subjects is None or subj in subjects) and (kinds is None or k in kinds)
        }
        ups = [c for c in current if stored.get(c.id) != dumps(c.to_json())]
        ids = {c.id for c in current}
        gone = sorted(i for i in stored if i not in ids)
        return self.apply_candidates(ups, gone)

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
        return [
            {"seq": s, "action": a, "recorded_at": t}
            for s, a, t in self.db.execute(
                "SELECT seq, action, recorded_at FROM candidate_events WHERE candidate_id=? "
                "ORDER BY seq",
                (cid,),
            )
        ]

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
            if tags is None or t in tags
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
