"""The live service's tables: arrivals of fixes per source (how late the feed is), and the
notification outbox with every send attempt (see :mod:`geomonitor.app.notify`).

A notification moves ``pending`` -> ``sending`` (claimed, committed before the mail server
is spoken to) -> ``sent``; a failed attempt puts it back to ``pending`` with a later
``next_attempt_at``; a permanent refusal makes it ``failed``; a candidate retracted before
its mail went makes it ``cancelled``; evidence too old to be news makes it ``skipped``.
Every attempt is a row of ``notification_attempts``.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import numpy as np

#: A notification's columns, in order.
NOTIFICATION_COLUMNS = (
    "id",
    "candidate_id",
    "purpose",
    "recipient",
    "severity",
    "queued_at",
    "state",
    "attempts",
    "next_attempt_at",
    "sent_at",
    "message_id",
    "last_error",
)
ARRIVAL_COLUMNS = (
    "source",
    "received_at",
    "fixes",
    "first_ts",
    "last_ts",
    "lag_p50_ms",
    "lag_p95_ms",
)


class NotifyTables:
    """Arrivals and notifications (a part of :class:`~geomonitor.store.domain.Store`)."""

    db: sqlite3.Connection

    # ------------------------------------------------------------------ arrivals
    def note_arrival(self, source: str, received_at: int, ts: np.ndarray) -> None:
        """Record that ``ts`` (event times of fixes) arrived from ``source`` at
        ``received_at`` (the receiving clock): the feed's lag is measured from these."""
        if len(ts) == 0:
            return
        lag = received_at - ts.astype(np.int64)
        p50, p95 = np.percentile(lag, [50, 95], method="inverted_cdf").tolist()
        self.db.execute(
            "INSERT INTO arrivals (source, received_at, fixes, first_ts, last_ts, lag_p50_ms, "
            "lag_p95_ms) VALUES (?,?,?,?,?,?,?)",
            (source, received_at, len(ts), int(ts.min()), int(ts.max()), int(p50), int(p95)),
        )

    def arrivals(self, since: int | None = None, until: int | None = None) -> list[dict[str, Any]]:
        """Arrival rows received in ``[since, until)``, oldest first."""
        q = f"SELECT {', '.join(ARRIVAL_COLUMNS)} FROM arrivals WHERE received_at >= ? "
        q += "AND received_at < ? ORDER BY received_at, seq"
        args = (since if since is not None else -(2**62), until if until is not None else 2**62)
        return [dict(zip(ARRIVAL_COLUMNS, r, strict=True)) for r in self.db.execute(q, args)]

    # ------------------------------------------------------------------ the outbox
    def meta_value(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (key, value),
        )

    def candidate_events_after(
        self, seq: int, limit: int = 1000
    ) -> list[tuple[int, str, str, str | None]]:
        """``(seq, candidate id, action, body)`` of candidate changes after ``seq``."""
        return list(
            self.db.execute(
                "SELECT seq, candidate_id, action, body FROM candidate_events WHERE seq > ? "
                "ORDER BY seq LIMIT ?",
                (seq, limit),
            )
        )

    def queue_notification(
        self,
        candidate_id: str,
        purpose: str,
        recipient: str,
        severity: str,
        at: int,
        message_id: str,
        state: str = "pending",
    ) -> bool:
        """Queue one mail (once per candidate, purpose and recipient); whether it is new."""
        cur = self.db.execute(
            "INSERT INTO notifications (candidate_id, purpose, recipient, severity, queued_at, "
            "state, next_attempt_at, message_id) VALUES (?,?,?,?,?,?,?,?) "
            "ON CONFLICT(candidate_id, purpose, recipient) DO NOTHING",
            (candidate_id, purpose, recipient, severity, at, state, at, message_id),
        )
        return cur.rowcount == 1

    def notifications(
        self, state: str | None = None, candidate_id: str | None = None
    ) -> list[dict[str, Any]]:
        q = f"SELECT {', '.join(NOTIFICATION_COLUMNS)} FROM notifications"
        cond, args = [], []
        if state is not None:
            cond.append("state=?")
            args.append(state)
        if candidate_id is not None:
            cond.append("candidate_id=?")
            args.append(candidate_id)
        if cond:
            q += " WHERE " + " AND ".join(cond)
        q += " ORDER BY id"
        return [dict(zip(NOTIFICATION_COLUMNS, r, strict=True)) for r in self.db.execute(q, args)]

    def due_notifications(self, now: int, limit: int = 100) -> list[dict[str, Any]]:
        """Mail to send now: pending and due, or claimed by a sender that never finished
        (``sending``: it died between claiming and recording the answer)."""
        q = (
            f"SELECT {', '.join(NOTIFICATION_COLUMNS)} FROM notifications WHERE "
            "(state='pending' AND next_attempt_at <= ?) OR state='sending' ORDER BY id LIMIT ?"
        )
        return [
            dict(zip(NOTIFICATION_COLUMNS, r, strict=True))
            for r in self.db.execute(q, (now, limit))
        ]

    def unacknowledged_mail(self) -> list[dict[str, Any]]:
        """First mails sent whose candidate is still ``new`` on the desk (no review, or a
        review in state new) and has no escalation yet: what escalation looks at."""
        cols = ", ".join(f"n.{c}" for c in NOTIFICATION_COLUMNS)
        q = (
            f"SELECT {cols} FROM notifications n WHERE n.state='sent' AND n.purpose='first' "
            "AND NOT EXISTS (SELECT 1 FROM notifications e WHERE e.candidate_id=n.candidate_id "
            "AND e.purpose='escalation') AND NOT EXISTS (SELECT 1 FROM reviews r WHERE "
            "r.candidate_id=n.candidate_id AND r.state != 'new') ORDER BY n.id"
        )
        return [dict(zip(NOTIFICATION_COLUMNS, r, strict=True)) for r in self.db.execute(q)]

    def claim_notification(self, nid: int, at: int) -> None:
        self.db.execute(
            "UPDATE notifications SET state='sending', attempts=attempts+1 WHERE id=?", (nid,)
        )

    def finish_notification(
        self,
        nid: int,
        at: int,
        outcome: str,
        error: str | None = None,
        retry_at: int | None = None,
    ) -> None:
        """Record an attempt's outcome: ``sent``, ``failed`` (permanent), ``retry`` (back to
        pending until ``retry_at``), ``cancelled`` or ``skipped``."""
        if outcome == "sent":
            self.db.execute(
                "UPDATE notifications SET state='sent', sent_at=?, last_error=NULL WHERE id=?",
                (at, nid),
            )
        elif outcome == "retry":
            self.db.execute(
                "UPDATE notifications SET state='pending', next_attempt_at=?, last_error=? "
                "WHERE id=?",
                (retry_at, error, nid),
            )
        else:
            self.db.execute(
                "UPDATE notifications SET state=?, last_error=? WHERE id=?", (outcome, error, nid)
            )
        self.db.execute(
            "INSERT INTO notification_attempts (notification_id, at, outcome, error) "
            "VALUES (?,?,?,?)",
            (nid, at, outcome, error),
        )

    def notification_attempts(self, nid: int) -> list[dict[str, Any]]:
        return [
            {"at": at, "outcome": o, "error": e}
            for at, o, e in self.db.execute(
                "SELECT at, outcome, error FROM notification_attempts WHERE notification_id=? "
                "ORDER BY seq",
                (nid,),
            )
        ]
