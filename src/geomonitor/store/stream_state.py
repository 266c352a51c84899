"""What the Kafka consumers keep in the store beside the domain tables: their offsets
(committed with the results they produced), the watermark of event time, which partition
brought which tag, the outbox of output messages, the co-location follower's fix log and
its lease.

Every method runs on the store's connection, inside the caller's transaction where one is
open, so offsets, results and output messages commit together.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable

from ..model.errors import StreamError
from ..model.fix import FixBatch
from .domain import Store, now_text
from .rows import fix_batch

#: A follower that has not committed for this long is taken to be gone.
FOLLOWER_LEASE_S = 60.0


class LeaseHeld(StreamError):
    """Another process holds a single-writer lease of the store (the co-location
    follower's, the notification sender's)."""


class StreamState:
    """The stream consumers' bookkeeping in a :class:`~geomonitor.store.domain.Store`."""

    def __init__(self, store: Store):
        self.store = store

    def watermark(self, group_id: str, topic: str) -> int | None:
        """The latest event time any consumer of the group has matched (see
        :meth:`geomonitor.engine.Engine.advance`)."""
        row = self.store.db.execute(
            "SELECT value FROM meta WHERE key=?", (f"watermark/{group_id}/{topic}",)
        ).fetchone()
        return None if row is None else int(row[0])

    def raise_watermark(self, group_id: str, topic: str, now: int) -> None:
        key = f"watermark/{group_id}/{topic}"
        old = self.watermark(group_id, topic)
        if old is None or now > old:
            self.store.db.execute(
                "INSERT INTO meta VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                (key, str(now)),
            )

    def store_id(self) -> str:
        """A random id made once per database: prefixes output event ids."""
        row = self.store.db.execute("SELECT value FROM meta WHERE key='store_id'").fetchone()
        if row is not None:
            return str(row[0])
        with self.store.transaction():
            self.store.db.execute(
                "INSERT OR IGNORE INTO meta VALUES ('store_id', ?)", (os.urandom(6).hex(),)
            )
        return str(
            self.store.db.execute("SELECT value FROM meta WHERE key='store_id'").fetchone()[0]
        )

    def offsets(self, group_id: str, topic: str) -> dict[int, int]:
        """Next offset to consume per partition, as committed with the results."""
        return dict(
            self.store.db.execute(
                "SELECT partition, next_offset FROM stream_offsets WHERE group_id=? AND topic=?",
                (group_id, topic),
            ).fetchall()
        )

    def save_offset(self, group_id: str, topic: str, partition: int, nxt: int) -> None:
        self.store.db.execute(
            "INSERT INTO stream_offsets VALUES (?,?,?,?,?) ON CONFLICT(group_id, topic, "
            "partition) DO UPDATE SET next_offset=excluded.next_offset, "
            "updated_at=excluded.updated_at",
            (group_id, topic, partition, nxt, now_text()),
        )

    def note_tag_partitions(self, topic: str, partition: int, tags: Iterable[str]) -> None:
        self.store.db.executemany(
            "INSERT INTO tag_partitions VALUES (?,?,?) ON CONFLICT(topic, tag_id) "
            "DO UPDATE SET partition=excluded.partition",
            [(topic, t, partition) for t in tags],
        )

    def tags_on_partitions(self, topic: str, partitions: Iterable[int]) -> list[str]:
        parts = sorted(set(partitions))
        if not parts:
            return []
        marks = ",".join("?" * len(parts))
        return [
            t
            for (t,) in self.store.db.execute(
                f"SELECT tag_id FROM tag_partitions WHERE topic=? AND partition IN ({marks}) "
                "ORDER BY tag_id",
                [topic, *parts],
            )
        ]

    # ------------------------------------------------------------------ co-location follower
    def follow_tags(self, tags: Iterable[str]) -> int:
        """Log from now on the fixes stored for these tags (and no others); returns the log
        position now. Call inside the transaction that reads the fixes already stored, so
        that none falls between the two."""
        self.store.db.execute("DELETE FROM colocation_tags")
        self.store.db.executemany(
            "INSERT OR IGNORE INTO colocation_tags VALUES (?)", [(t,) for t in tags]
        )
        return self.fix_log_position()

    def fix_log_position(self) -> int:
        row = self.store.db.execute("SELECT COALESCE(MAX(seq), 0) FROM fix_log").fetchone()
        return int(row[0])

    def logged_fixes(self, after: int) -> tuple[FixBatch, int]:
        """The fixes (as stored now) logged after position ``after``, and the position of
        the last; the log up to ``after`` is dropped (it has been followed)."""
        self.store.db.execute("DELETE FROM fix_log WHERE seq <= ?", (after,))
        last = self.fix_log_position()
        self.store.db.execute(
            "CREATE TEMP TABLE IF NOT EXISTS wanted_fixes (tag_id TEXT, ts INTEGER, "
            "PRIMARY KEY (tag_id, ts))"
        )
        self.store.db.execute("DELETE FROM wanted_fixes")
        self.store.db.execute(
            "INSERT OR IGNORE INTO wanted_fixes SELECT tag_id, ts FROM fix_log "
            "WHERE seq > ? AND seq <= ?",
            (after, last),
        )
        rows = self.store.db.execute(
            "SELECT f.tag_id, f.ts, f.lat, f.lon, f.x, f.y, f.accuracy_m, f.rank, "
            "f.battery_pct, f.strap, f.charging FROM wanted_fixes w JOIN fixes f "
            "ON f.tag_id = w.tag_id AND f.ts = w.ts ORDER BY f.tag_id, f.ts"
        ).fetchall()
        return fix_batch(rows), last

    def add_outbox(self, owner: str, rows: Iterable[tuple[str, bytes | None, bytes, str]]) -> None:
        """Queue output messages (topic, key, value, headers as JSON) in this transaction."""
        self.store.db.executemany(
            "INSERT INTO outbox (owner, topic, key, value, headers) VALUES (?,?,?,?,?)",
            [(owner, *r) for r in rows],
        )

    def claim_corrections(self, owner: str, topic: str) -> int:
        """Take over the candidate corrections a re-judging outside the consumers queued
        (owner ``rejudge``, see :func:`geomonitor.io.replay.rejudge`): they become this
        owner's, on its candidates topic, published with its own. Returns how many."""
        with self.store.transaction():
            return self.store.db.execute(
                "UPDATE outbox SET owner=?, topic=? WHERE owner='rejudge' AND published=0",
                (owner, topic),
            ).rowcount

    def pending_outbox(self, owner: str) -> list[tuple[int, str, bytes | None, bytes, str]]:
        return self.store.db.execute(
            "SELECT seq, topic, key, value, headers FROM outbox WHERE owner=? AND published=0 "
            "ORDER BY seq",
            (owner,),
        ).fetchall()

    def mark_published(self, done: Iterable[tuple[int, int | None, int | None]]) -> None:
        """Mark outbox rows (seq, partition, offset) as published."""
        with self.store.transaction():
            self.store.db.executemany(
                "UPDATE outbox SET published=1, out_partition=?, out_offset=? WHERE seq=?",
                [(p, o, seq) for seq, p, o in done],
            )

    def published_marks(self, topic: str, owner: str | None = None) -> dict[int, int]:
        """Highest offset known published per partition of ``topic``: by this store, or by
        one ``owner`` (whose unmarked messages, sent after its marked ones, can only lie
        beyond its own marks: another owner's later marks say nothing about them)."""
        q = (
            "SELECT out_partition, MAX(out_offset) FROM outbox WHERE topic=? AND "
            "published=1 AND out_partition IS NOT NULL"
        )
        args: list[str] = [topic]
        if owner is not None:
            q += " AND owner=?"
            args.append(owner)
        return dict(self.store.db.execute(q + " GROUP BY out_partition", args).fetchall())

    # ------------------------------------------------------------------ single-writer leases
    def take_lease(self, group_id: str, holder: str) -> None:
        """One co-location follower per store and group: a second one would publish every
        change twice. Inside the caller's transaction; raises :class:`LeaseHeld`."""
        self.take_named_lease(
            f"follower/{group_id}", holder, f"another co-location follower is running on "
            f"this store for group {group_id!r}",
        )  # fmt: skip

    def release_lease(self, group_id: str, holder: str) -> None:
        """Give the follower's lease up (see :meth:`release_named_lease`)."""
        self.release_named_lease(f"follower/{group_id}", holder)

    def take_named_lease(self, key: str, holder: str, refusal: str) -> None:
        """Hold (or renew) the lease ``key`` for ``holder``, unless another live holder
        renewed it less than :data:`FOLLOWER_LEASE_S` ago: then :class:`LeaseHeld` with
        ``refusal``. Inside the caller's transaction."""
        row = self.store.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        if row is not None:
            other, at = row[0].rsplit(" ", 1)
            if other != holder and time.time() - float(at) < FOLLOWER_LEASE_S and _alive(other):
                raise LeaseHeld(f"{refusal} (or stopped less than {FOLLOWER_LEASE_S:.0f} s ago)")
        self.store.db.execute(
            "INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (key, f"{holder} {time.time()}"),
        )

    def release_named_lease(self, key: str, holder: str) -> None:
        """Give the lease ``key`` up, if ``holder`` has it (a process refused at start must
        not free the running one's)."""
        with self.store.transaction():
            row = self.store.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
            if row is not None and row[0].rsplit(" ", 1)[0] == holder:
                self.store.db.execute("DELETE FROM meta WHERE key=?", (key,))


def lease_holder(tag: object) -> str:
    """This process's name as a lease holder: ``pid@host/tag``."""
    return f"{os.getpid()}@{os.uname().nodename}/{id(tag)}"


def _alive(holder: str) -> bool:
    """Whether a lease holder (``pid@host/...``) may still be running: a process on
    another host is taken to be; one on this host is asked."""
    pid, _, rest = holder.partition("@")
    if rest.split("/", 1)[0] != os.uname().nodename:
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True
