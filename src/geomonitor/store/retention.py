"""What the law lets the store keep (a part of :class:`~geomonitor.store.domain.Store`):
legal holds, withdrawals of consent, subjects whose data the retention schedule removed,
and removal itself, for real.

Removal deletes rows with SQLite's ``secure_delete`` on (freed pages are overwritten with
zeros), then checkpoints the write-ahead log and truncates it, and rewrites the file
(``VACUUM``), so no removed value is left in the file, its free pages or its log.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from ..model.registry import Registry, monitored

#: (from, to) in epoch ms, half-open
Span = tuple[int, int]


def minus(span: Span, keep: Iterable[Span]) -> list[Span]:
    """The parts of ``span`` outside every ``keep`` span."""
    out, lo = [], span[0]
    for a, b in sorted(keep):
        if b <= lo or a >= span[1]:
            continue
        if a > lo:
            out.append((lo, a))
        lo = max(lo, b)
    if lo < span[1]:
        out.append((lo, span[1]))
    return out


class RetentionTables:
    db: sqlite3.Connection

    # ------------------------------------------------------------------ holds, consent
    def holds(self) -> dict[str, dict[str, Any]]:
        q = "SELECT subject_id, reason, at, by FROM legal_holds"
        return {s: {"reason": r, "at": a, "by": b} for s, r, a, b in self.db.execute(q)}

    def set_hold(self, subject: str, reason: str, at: int, by: str) -> None:
        self.db.execute(
            "INSERT INTO legal_holds VALUES (?,?,?,?) ON CONFLICT(subject_id) DO UPDATE SET "
            "reason=excluded.reason, at=excluded.at, by=excluded.by",
            (subject, reason, at, by),
        )

    def release_hold(self, subject: str) -> bool:
        cur = self.db.execute("DELETE FROM legal_holds WHERE subject_id=?", (subject,))
        return cur.rowcount > 0

    def withdrawals(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT subject_id, at FROM withdrawals"))

    def add_withdrawal(self, subject: str, at: int, recorded_at: int, by: str) -> None:
        self.db.execute("INSERT INTO withdrawals VALUES (?,?,?,?)", (subject, at, recorded_at, by))
        self.bump_judging()  # type: ignore[attr-defined]

    def retired(self) -> dict[str, int]:
        """Subjects whose data was removed, with the end of the data removed."""
        return dict(self.db.execute("SELECT subject_id, data_end FROM retired_subjects"))

    def monitored_registry(self) -> Registry:
        """The registry the engine judges by (:func:`~geomonitor.model.registry.monitored`)."""
        retired = set(self.retired())
        reg = monitored(self.current_registry(), self.withdrawals(), retired)  # type: ignore[attr-defined]
        absences = self.absences_in_force()  # type: ignore[attr-defined]
        return replace(reg, absences=tuple(a for a in absences if a.subject_id not in retired))

    def refused_spans(self, registry: Registry) -> dict[str, list[tuple[int, int, str]]]:
        """Per tag, when its fixes are refused on input and why: from a wearer's withdrawal
        of consent to the fitting's end, and over a retired wearer's whole fitting."""
        withdrawn, retired = self.withdrawals(), self.retired()
        out: dict[str, list[tuple[int, int, str]]] = {}
        for f in registry.fittings:
            end = f.removed_at if f.removed_at is not None else 2**62
            if f.subject_id in retired:
                out.setdefault(f.tag_id, []).append((f.fitted_at, end, "retention_expired"))
            elif f.subject_id in withdrawn:
                lo = max(f.fitted_at, withdrawn[f.subject_id])
                if lo < end:
                    out.setdefault(f.tag_id, []).append((lo, end, "consent_withdrawn"))
        return out

    # ------------------------------------------------------------------ removal
    def _remove(self, table: str, where: str, args: tuple, dry: bool) -> int:
        if dry:
            return int(self.db.execute(f"SELECT COUNT(*) FROM {table} WHERE {where}", args)
                       .fetchone()[0])  # fmt: skip
        return self.db.execute(f"DELETE FROM {table} WHERE {where}", args).rowcount

    def remove_positions(self, tag_spans: dict[str, list[Span]], vrm_spans: dict[str, list[Span]],
                         dry: bool) -> dict[str, int]:  # fmt: skip
        """Fixes of tags and reads of vehicles over the given spans, with the fix log's
        rows and the rejected records naming the tags."""
        n = {"fixes": 0, "anpr_reads": 0, "fix_log": 0, "rejected": 0}
        for tag, spans in tag_spans.items():
            for lo, hi in spans:
                args = (tag, lo, hi)
                n["fixes"] += self._remove("fixes", "tag_id=? AND ts>=? AND ts<?", args, dry)
                n["fix_log"] += self._remove("fix_log", "tag_id=? AND ts>=? AND ts<?", args, dry)
            n["rejected"] += self._remove("rejected", "instr(raw, ?) > 0", (tag,), dry)
        for vrm, spans in vrm_spans.items():
            for lo, hi in spans:
                n["anpr_reads"] += self._remove("anpr_reads", "vrm=? AND ts>=? AND ts<?",
                                                (vrm, lo, hi), dry)  # fmt: skip
        return n

    def remove_candidates(self, ids: list[str], dry: bool) -> dict[str, int]:
        """Candidates with their history, review, notes and mail."""
        n = {"candidates": 0, "candidate_events": 0, "review_events": 0, "notifications": 0}
        for cid in ids:
            n["candidates"] += self._remove("candidates", "id=?", (cid,), dry)
            n["candidate_events"] += self._remove("candidate_events", "candidate_id=?", (cid,), dry)
            n["review_events"] += self._remove("review_events", "candidate_id=?", (cid,), dry)
            self._remove("reviews", "candidate_id=?", (cid,), dry)
            mails = "notification_id IN (SELECT id FROM notifications WHERE candidate_id=?)"
            self._remove("notification_attempts", mails, (cid,), dry)
            n["notifications"] += self._remove("notifications", "candidate_id=?", (cid,), dry)
        return n

    def remove_absences(self, subject: str, dry: bool) -> int:
        """The subject's authorised absences and what they kept off the desk."""
        self._remove("authorised", "subject_id=?", (subject,), dry)
        return self._remove("absences", "subject_id=?", (subject,), dry)

    def remove_device_events(self, subject: str, dry: bool) -> int:
        return self._remove("device_events", "subject_id=?", (subject,), dry)

    def remove_published(self, dry: bool) -> int:
        """Output messages already published (the broker holds them; their copies here
        would outlive the data)."""
        return self._remove("outbox", "published=1", (), dry)

    def remove_rejected_before(self, recorded_before: str, dry: bool) -> int:
        return self._remove("rejected", "recorded_at < ?", (recorded_before,), dry)

    def retire(self, subject: str, data_end: int, at: int) -> None:
        self.db.execute(
            "INSERT INTO retired_subjects VALUES (?,?,?) ON CONFLICT(subject_id) DO UPDATE "
            "SET data_end=excluded.data_end, removed_at=excluded.removed_at",
            (subject, data_end, at),
        )
        self.bump_judging()  # type: ignore[attr-defined]

    def allow_removal(self, on: bool) -> None:
        """Let append-only histories be deleted from (inside a retention transaction)."""
        if on:
            self.db.execute("INSERT OR IGNORE INTO retention_active VALUES (1)")
        else:
            self.db.execute("DELETE FROM retention_active")

    def scrub(self) -> str | None:
        """Leave no copy of deleted rows: an emptied write-ahead log and a rewritten file
        (run outside any transaction). Returns why the file could not be rewritten (no
        room for the copy ``VACUUM`` makes), if so: the removed rows' pages were zeroed
        as they were freed (``secure_delete``) and are in the file after the checkpoint,
        but the file keeps its free pages until a later run."""
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        try:
            self.db.execute("VACUUM")
        except sqlite3.OperationalError as e:
            return str(e)
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return None
