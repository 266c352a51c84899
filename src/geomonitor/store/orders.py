"""Authorised absences, the candidates they kept off the desk, and the counter of changes to
what the engine judges by (a part of :class:`~geomonitor.store.domain.Store`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import orjson

from ..model.candidate import Candidate
from ..model.errors import InputError
from ..model.orders import Absence
from ..model.times import iso

_COLS = (
    "id, subject_id, starts, ends, lat, lon, radius_m, authorised_by, reason, recorded_at, "
    "recorded_by, cancelled_at, cancelled_by, cancel_reason"
)


def _absence(row: tuple) -> Absence:
    return Absence(row[0], row[1], row[2], row[3], row[7], row[8], row[4], row[5], row[6])


class OrderTables:
    """Absences and what they authorised."""

    db: sqlite3.Connection

    # ------------------------------------------------------------------ what the engine judges by
    def judging_stamp(self) -> str:
        """Changes whenever what the engine judges by changes (a registry load, an absence
        recorded or cancelled): a running consumer rebuilds when it moves."""
        row = self.db.execute("SELECT value FROM meta WHERE key='judging'").fetchone()
        return "0" if row is None else str(row[0])

    def bump_judging(self) -> None:
        self.db.execute(
            "INSERT INTO meta VALUES ('judging', '1') ON CONFLICT(key) DO UPDATE "
            "SET value=CAST(CAST(value AS INTEGER) + 1 AS TEXT)"
        )

    # ------------------------------------------------------------------ absences
    def add_absence(self, a: Absence, recorded_at: int, by: str) -> None:
        """Record an authorised absence (ids are never reused)."""
        if self.db.execute("SELECT 1 FROM absences WHERE id=?", (a.id,)).fetchone():
            raise InputError(f"absence {a.id} is recorded already")
        self.db.execute(
            f"INSERT INTO absences ({_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,NULL,NULL,NULL)",
            (a.id, a.subject_id, a.starts, a.ends, a.lat, a.lon, a.radius_m, a.authorised_by,
             a.reason, recorded_at, by),
        )  # fmt: skip
        self.bump_judging()

    def next_absence_id(self) -> str:
        n = self.db.execute("SELECT COUNT(*) FROM absences").fetchone()[0]
        return f"A-{int(n) + 1:04d}"

    def cancel_absence(self, absence_id: str, at: int, by: str, reason: str) -> Absence:
        row = self.db.execute(f"SELECT {_COLS} FROM absences WHERE id=?", (absence_id,)).fetchone()
        if row is None:
            raise InputError(f"no absence {absence_id}")
        if row[11] is not None:
            raise InputError(f"absence {absence_id} was cancelled already")
        self.db.execute(
            "UPDATE absences SET cancelled_at=?, cancelled_by=?, cancel_reason=? WHERE id=?",
            (at, by, reason, absence_id),
        )
        # What it kept off the desk is judged again (the history keeps that it was).
        self.db.execute("DELETE FROM authorised WHERE absence_id=?", (absence_id,))
        self.bump_judging()
        return _absence(row)

    def absences_in_force(self) -> tuple[Absence, ...]:
        """Every absence not cancelled, by start."""
        rows = self.db.execute(
            f"SELECT {_COLS} FROM absences WHERE cancelled_at IS NULL ORDER BY starts, id"
        )
        return tuple(_absence(r) for r in rows)

    def absence_rows(self, subject_id: str | None = None) -> list[dict[str, Any]]:
        """Absences as records for people (cancelled ones too), by start."""
        q = f"SELECT {_COLS} FROM absences"
        args: tuple = ()
        if subject_id is not None:
            q, args = q + " WHERE subject_id=?", (subject_id,)
        out = []
        for r in self.db.execute(q + " ORDER BY starts, id", args):
            d = _absence(r).to_json()
            d.update(
                recorded_at=iso(r[9]),
                recorded_by=r[10],
                cancelled_at=iso(r[11]),
                cancelled_by=r[12],
                cancel_reason=r[13],
            )
            out.append(d)
        return out

    # ------------------------------------------------------------------ authorised
    def note_authorised(self, cands: Iterable[Candidate]) -> int:
        """Record candidates an authorised absence kept off the desk (``details`` name the
        absence). Each goes into its history once as ``authorised`` (again only if it
        changed). Returns how many were new or changed."""
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        n = 0
        for c in cands:
            body = orjson.dumps(c.to_json(), option=orjson.OPT_SORT_KEYS).decode()
            row = self.db.execute(
                "SELECT body FROM authorised WHERE candidate_id=?", (c.id,)
            ).fetchone()
            if row is not None and row[0] == body:
                continue
            aid = str(c.details["absence_id"])
            self.db.execute(
                "INSERT INTO authorised VALUES (?,?,?,?,?) ON CONFLICT(candidate_id) DO UPDATE "
                "SET absence_id=excluded.absence_id, body=excluded.body",
                (c.id, c.subject_id, aid, body, now),
            )
            self.db.execute(
                "INSERT INTO candidate_events (candidate_id, action, recorded_at, body, link) "
                "VALUES (?,?,?,?,?)",
                (c.id, "authorised", now, body, aid),
            )
            n += 1
        return n

    def authorised_of(self, subject_id: str) -> list[tuple[Candidate, str]]:
        """What absences kept off the desk for a subject, with the absence of each."""
        rows = self.db.execute(
            "SELECT body, absence_id FROM authorised WHERE subject_id=? ORDER BY candidate_id",
            (subject_id,),
        )
        out = [(Candidate.from_json(orjson.loads(b)), a) for b, a in rows]
        return sorted(out, key=lambda ca: (ca[0].opened_at, ca[0].id))
