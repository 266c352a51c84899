"""The monitoring desk's tables (a part of :class:`~geomonitor.store.domain.Store`): each
candidate's review state and its append-only history, accounts and sessions, and login
attempts (the audit log is :mod:`geomonitor.store.auditlog`)."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any


class DeskTables:
    db: sqlite3.Connection

    # ------------------------------------------------------------------ reviews
    def review(self, cid: str) -> dict[str, Any] | None:
        cols = ("candidate_id", "state", "outcome", "reason", "decided_at", "updated_at",
                "updated_by")  # fmt: skip
        row = self.db.execute(f"SELECT {', '.join(cols)} FROM reviews WHERE candidate_id=?", (cid,))
        got = row.fetchone()
        return None if got is None else dict(zip(cols, got, strict=True))

    def reviews(self) -> dict[str, dict[str, Any]]:
        cols = ("candidate_id", "state", "outcome", "reason", "decided_at", "updated_at",
                "updated_by")  # fmt: skip
        return {
            r[0]: dict(zip(cols, r, strict=True))
            for r in self.db.execute(f"SELECT {', '.join(cols)} FROM reviews")
        }

    def save_review(
        self,
        cid: str,
        at: int,
        actor: str,
        action: str,
        state: str,
        outcome: str | None,
        reason: str | None,
        note: str | None,
        decided_at: int | None,
    ) -> None:
        """Record one review action: the candidate's review state and a history row."""
        self.db.execute(
            "INSERT INTO reviews (candidate_id, state, outcome, reason, decided_at, updated_at, "
            "updated_by) VALUES (?,?,?,?,?,?,?) ON CONFLICT(candidate_id) DO UPDATE SET "
            "state=excluded.state, outcome=excluded.outcome, reason=excluded.reason, "
            "decided_at=excluded.decided_at, updated_at=excluded.updated_at, "
            "updated_by=excluded.updated_by",
            (cid, state, outcome, reason, decided_at, at, actor),
        )
        self.db.execute(
            "INSERT INTO review_events (candidate_id, at, actor, action, state, outcome, reason, "
            "note) VALUES (?,?,?,?,?,?,?,?)",
            (cid, at, actor, action, state, outcome, reason, note),
        )

    def review_history(self, cid: str) -> list[dict[str, Any]]:
        cols = ("at", "actor", "action", "state", "outcome", "reason", "note")
        q = f"SELECT {', '.join(cols)} FROM review_events WHERE candidate_id=? ORDER BY seq"
        return [dict(zip(cols, r, strict=True)) for r in self.db.execute(q, (cid,))]

    def last_changed(self, cid: str | None = None) -> dict[str, int]:
        """When each candidate (or only ``cid``) last changed (new evidence), as epoch ms."""
        q = "SELECT candidate_id, MAX(recorded_at) FROM candidate_events"
        rows = self.db.execute(
            q + " WHERE candidate_id=? GROUP BY candidate_id" if cid else q + " GROUP BY 1",
            (cid,) if cid else (),
        )
        return {c: int(datetime.fromisoformat(w).timestamp() * 1000) for c, w in rows}

    # ------------------------------------------------------------------ accounts
    def user(self, username: str) -> dict[str, Any] | None:
        cols = ("username", "password_hash", "role", "district", "created_at", "created_by",
                "disabled", "os_account")  # fmt: skip
        row = self.db.execute(f"SELECT {', '.join(cols)} FROM users WHERE username=?", (username,))
        got = row.fetchone()
        return None if got is None else dict(zip(cols, got, strict=True))

    def users(self) -> list[dict[str, Any]]:
        cols = ("username", "role", "district", "created_at", "created_by", "disabled",
                "os_account")  # fmt: skip
        q = f"SELECT {', '.join(cols)} FROM users ORDER BY username"
        return [dict(zip(cols, r, strict=True)) for r in self.db.execute(q)]

    def add_user(self, username: str, password_hash: str, role: str, district: str, at: int,
                 by: str) -> None:  # fmt: skip
        self.db.execute(
            "INSERT INTO users (username, password_hash, role, district, created_at, created_by) "
            "VALUES (?,?,?,?,?,?)",
            (username, password_hash, role, district, at, by),
        )

    def set_password_hash(self, username: str, password_hash: str) -> None:
        self.db.execute(
            "UPDATE users SET password_hash=? WHERE username=?", (password_hash, username)
        )

    def set_disabled(self, username: str, disabled: bool) -> None:
        self.db.execute("UPDATE users SET disabled=? WHERE username=?", (int(disabled), username))

    def user_count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM users").fetchone()[0])

    # ------------------------------------------------------------------ sessions and logins
    def add_session(self, token_hash: str, username: str, csrf: str, at: int, expires: int) -> None:
        self.db.execute(
            "INSERT INTO sessions VALUES (?,?,?,?,?)", (token_hash, username, csrf, at, expires)
        )

    def session(self, token_hash: str, now: int) -> dict[str, Any] | None:
        row = self.db.execute(
            "SELECT username, csrf, expires_at FROM sessions WHERE token_hash=? AND expires_at>?",
            (token_hash, now),
        ).fetchone()
        return None if row is None else {"username": row[0], "csrf": row[1], "expires_at": row[2]}

    def end_session(self, token_hash: str) -> None:
        self.db.execute("DELETE FROM sessions WHERE token_hash=?", (token_hash,))

    def end_sessions_of(self, username: str) -> int:
        """End every session of an account (when it is disabled); returns how many."""
        return self.db.execute("DELETE FROM sessions WHERE username=?", (username,)).rowcount

    def start_login(self, name_key: str, origin: str, at: int) -> int:
        """Record an attempt before its password is checked (it counts as failed until
        :meth:`finish_login` says otherwise); returns its number."""
        cur = self.db.execute(
            "INSERT INTO login_attempts (name_key, origin, at, ok) VALUES (?,?,?,NULL)",
            (name_key, origin, at),
        )
        return int(cur.lastrowid or 0)

    def finish_login(self, seq: int, ok: bool) -> None:
        self.db.execute("UPDATE login_attempts SET ok=? WHERE seq=?", (int(ok), seq))

    def login_failures(self, name_key: str, origin: str, since: int) -> dict[str, tuple[int, int]]:
        """Attempts since ``since`` not known to have succeeded (failed or still being
        checked), each with the latest one's time: for this name from this address
        (``pair``), for this name from anywhere (``name``), and the distinct names tried
        from this address (``origin``)."""
        fail = "at>=? AND (ok IS NULL OR ok=0)"
        q = "SELECT COUNT(*), MAX(at) FROM login_attempts WHERE "
        pair = self.db.execute(
            q + f"name_key=? AND origin=? AND {fail}", (name_key, origin, since)
        ).fetchone()
        name = self.db.execute(q + f"name_key=? AND {fail}", (name_key, since)).fetchone()
        org = self.db.execute(
            f"SELECT COUNT(DISTINCT name_key), MAX(at) FROM login_attempts WHERE origin=? "
            f"AND {fail}",
            (origin, since),
        ).fetchone()
        return {k: (int(r[0]), int(r[1] or 0)) for k, r in
                (("pair", pair), ("name", name), ("origin", org))}  # fmt: skip

    def bind_os_account(self, username: str, os_account: str | None) -> None:
        self.db.execute("UPDATE users SET os_account=? WHERE username=?", (os_account, username))
