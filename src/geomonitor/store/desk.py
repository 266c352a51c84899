"""The monitoring desk's tables (a part of :class:`~geomonitor.store.domain.Store`): each
candidate's review state and its append-only history, accounts and sessions, login
attempts, and the audit log.

The audit log is append-only twice over: triggers refuse any update or delete, and each
row carries the SHA-256 of its content and of the row before it, so a row changed or
removed by going around the triggers breaks the chain (:meth:`DeskTables.audit_chain_ok`).
"""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import datetime
from typing import Any

GENESIS = "0" * 64


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

    # ------------------------------------------------------------------ audit log
    def audit(self, at: int, actor: str, action: str, target: str | None, origin: str,
              detail: str | None = None) -> None:  # fmt: skip
        """Append one entry to the audit log (who, when, what, from where)."""
        prev = self.db.execute("SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
        prev_hash = prev[0] if prev else GENESIS
        digest = _entry_hash(prev_hash, at, actor, action, target, origin, detail)
        self.db.execute(
            "INSERT INTO audit_log (at, actor, action, target, origin, detail, prev_hash, hash) "
            "VALUES (?,?,?,?,?,?,?,?)",
            (at, actor, action, target, origin, detail, prev_hash, digest),
        )

    def audit_log(self, limit: int = 500, target: str | None = None) -> list[dict[str, Any]]:
        cols = ("seq", "at", "actor", "action", "target", "origin", "detail")
        q = f"SELECT {', '.join(cols)} FROM audit_log"
        args: tuple = ()
        if target is not None:
            q += " WHERE target=?"
            args = (target,)
        q += " ORDER BY seq DESC LIMIT ?"
        return [dict(zip(cols, r, strict=True)) for r in self.db.execute(q, (*args, limit))]

    def audit_chain_ok(self) -> bool:
        """Whether every audit entry is as written and none is missing in between."""
        prev = GENESIS
        q = "SELECT at, actor, action, target, origin, detail, prev_hash, hash FROM audit_log "
        for at, actor, action, target, origin, detail, p, h in self.db.execute(q + "ORDER BY seq"):
            if p != prev or h != _entry_hash(p, at, actor, action, target, origin, detail):
                return False
            prev = h
        return True

    # ------------------------------------------------------------------ accounts
    def user(self, username: str) -> dict[str, Any] | None:
        cols = ("username", "password_hash", "role", "district", "created_at", "created_by",
                "disabled")  # fmt: skip
        row = self.db.execute(f"SELECT {', '.join(cols)} FROM users WHERE username=?", (username,))
        got = row.fetchone()
        return None if got is None else dict(zip(cols, got, strict=True))

    def users(self) -> list[dict[str, Any]]:
        cols = ("username", "role", "district", "created_at", "created_by", "disabled")
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

    def note_login(self, username: str, origin: str, at: int, ok: bool) -> None:
        self.db.execute(
            "INSERT INTO login_attempts VALUES (?,?,?,?)", (username, origin, at, int(ok))
        )

    def failed_logins(self, username: str, origin: str, since: int) -> tuple[int, int, int]:
        """Failures since ``since`` for this user name, from this origin, and the latest."""
        by_user = self.db.execute(
            "SELECT COUNT(*), MAX(at) FROM login_attempts WHERE username=? AND at>=? AND ok=0",
            (username, since),
        ).fetchone()
        by_origin = self.db.execute(
            "SELECT COUNT(*), MAX(at) FROM login_attempts WHERE origin=? AND at>=? AND ok=0",
            (origin, since),
        ).fetchone()
        latest = max(by_user[1] or 0, by_origin[1] or 0)
        return int(by_user[0]), int(by_origin[0]), int(latest)


def _entry_hash(prev: str, *fields: object) -> str:
    text = "\x1f".join("" if f is None else str(f) for f in (prev, *fields))
    return hashlib.sha256(text.encode()).hexdigest()
