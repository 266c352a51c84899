"""The embedded store: one SQLite file in WAL mode.

Holds the registry with its history, the fixes (they are evidence), ANPR reads, breach
candidates with the history of every change, rejected records with their reasons, and a log
of runs. The schema version is SQLite's ``user_version``; :data:`MIGRATIONS` brings any older
file up to date when it is opened.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import sqlite3
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from ..model.errors import InputError, StoreError
from ..model.fix import Fix, FixBatch
from ..model.orders import VARIATION_TYPES
from ..model.read import Read
from ..model.registry import Registry
from ..model.registry_load import registry_from_entities
from ..model.rejection import Rejection
from .auditlog import AuditTables, rekey
from .candidates import CandidateTables, dumps
from .desk import DeskTables
from .inventory import InventoryTables
from .notify import NotifyTables
from .orders import OrderTables
from .retention import RetentionTables
from .rows import RegistryLoad, fix_batch
from .schema import AUDIT_REKEY, MIGRATIONS, SCHEMA_VERSION, split_sql
from .zones import ZoneCoverTables

DEFAULT_DB = "geomonitor.db"
DB_ENV = "GEOMONITOR_DB"


def default_db_path() -> Path:
    """``$GEOMONITOR_DB`` if set, else ``geomonitor.db`` in the working folder."""
    return Path(os.environ.get(DB_ENV) or DEFAULT_DB)


def now_text() -> str:
    # Wall-clock time of a store operation (an audit fact, never an event time).
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


#: An order's own fields: a change to any of them must come as a variation.
_ORDER_TERMS = ("conditions", "starts", "ends", "subject", "type")


def check_variation(oid: str, old: dict[str, Any], new: dict[str, Any]) -> None:
    """Refuse a change to an order that does not come as a new variation (type, reason,
    when it takes effect), and any change to a variation already recorded."""
    before = {v.get("id"): v for v in old.get("variations") or [] if isinstance(v, dict)}
    after = {v.get("id"): v for v in new.get("variations") or [] if isinstance(v, dict)}
    for vid, v in before.items():
        if vid not in after:
            raise InputError(f"order {oid}: variation {vid} was removed (variations are kept)")
        if after[vid] != v:
            raise InputError(f"order {oid}: variation {vid} was changed (add a correction instead)")
    terms = [t for t in _ORDER_TERMS if old.get(t) != new.get(t)]
    if terms and len(after) == len(before):
        raise InputError(
            f"order {oid}: {', '.join(terms)} changed without a variation; add one to "
            f"'variations' with its type ({', '.join(VARIATION_TYPES)}), reason and the time "
            "it takes effect"
        )


class StorePermissionWarning(UserWarning):
    """A store that other users of the machine can read (it holds location histories)."""


class Store(
    CandidateTables,
    InventoryTables,
    DeskTables,
    AuditTables,
    NotifyTables,
    RetentionTables,
    OrderTables,
    ZoneCoverTables,
):
    """A geomonitor SQLite database.

    Parameters
    ----------
    path
        The database file; migrated if needed.
    create
        Create the file if it does not exist (only commands that load data do; a read
        command pointed at a missing file must not leave an empty store behind). A new
        store, and its WAL files (SQLite gives them the same mode), is readable by its
        owner only (0600); an existing one readable by others is warned about.
    """

    def __init__(self, path: str | Path, create: bool = True):
        self.path = Path(path)
        if not self.path.exists():
            if not create:
                raise StoreError(
                    f"no store at {self.path}: create one with "
                    f"'geomonitor registry load FILE --db {self.path}'"
                )
            if not self.path.parent.is_dir():
                raise StoreError(
                    f"cannot create the store {self.path}: no folder {self.path.parent}"
                )
            try:
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600))
            except OSError as e:
                raise StoreError(f"cannot create the store {self.path} ({e.strerror})") from None
        elif self.path.is_dir():
            raise StoreError(f"{self.path} is a folder, not a store")
        elif self.path.stat().st_mode & 0o077:
            warnings.warn(
                f"{self.path} is readable by other users of this machine; it holds location "
                f"histories: chmod 600 {self.path}",
                StorePermissionWarning,
                stacklevel=2,
            )
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            self._setup()
        except sqlite3.DatabaseError as e:
            raise StoreError(f"cannot open the store {self.path} ({e})") from None

    def _setup(self) -> None:
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.execute("PRAGMA cache_size=-131072")  # 128 MiB: fixes arrive in any key order
        self._migrate()

    @contextmanager
    def writer(self, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
        """Hold the store's writer lock (one replay at a time: a second one would warm its
        engine up from a store the first is still changing). Waits for the holder, calling
        ``on_wait`` once first; the lock goes with the process if it dies."""
        lock = Path(str(self.path) + ".lock")
        fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if on_wait is not None:
                    on_wait()
                fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ schema
    @property
    def schema_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        v = self.schema_version
        if v > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema version {v}; this geomonitor knows up to "
                f"{SCHEMA_VERSION}. Upgrade geomonitor."
            )
        for i in range(v, SCHEMA_VERSION):
            with self.transaction():
                for stmt in split_sql(MIGRATIONS[i]):
                    self.db.execute(stmt)
                if i + 1 == AUDIT_REKEY:
                    self._audit_tip = rekey(self.db, self.audit_key())
                    self.db.execute(
                        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE ON audit_log "
                        "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
                    )
                self.db.execute(f"PRAGMA user_version={i + 1}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic unit of work; nested calls join the outer transaction."""
        if self.db.in_transaction:
            yield self.db
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            self._audit_tip = None
            raise
        self.db.execute("COMMIT")
        self.write_audit_checkpoint()

    # ------------------------------------------------------------------ registry
    def load_registry(self, registry: Registry, source: str | None = None) -> RegistryLoad:
        """Store a validated registry. Idempotent: loading the same content again is a no-op;
        loading an edited one records a new version and keeps the old rows as history."""
        new = {k: dumps(v) for k, v in registry.entities.items()}
        with self.transaction():
            cur = {
                (k, i): c
                for k, i, c in self.db.execute(
                    "SELECT kind, id, content FROM registry_entities WHERE version_to IS NULL"
                )
            }
            added = [k for k in new if k not in cur]
            changed = [k for k in new if k in cur and cur[k] != new[k]]
            removed = [k for k in cur if k not in new]
            for k in changed:
                if k[0] == "order":
                    check_variation(k[1], orjson.loads(cur[k]), registry.entities[k])
            last = self.db.execute("SELECT MAX(version) FROM registry_versions").fetchone()[0]
            self.sync_inventory(registry, int(datetime.now(UTC).timestamp() * 1000))
            if last is not None and not (added or changed or removed):
                return RegistryLoad(int(last), 0, 0, 0)
            version = (last or 0) + 1
            sha = hashlib.sha256("\n".join(f"{k}\t{new[k]}" for k in sorted(new)).encode())
            self.db.execute(
                "INSERT INTO registry_versions VALUES (?,?,?,?,?,?,?)",
                (
                    version,
                    now_text(),
                    source,
                    sha.hexdigest(),
                    len(added),
                    len(changed),
                    len(removed),
                ),
            )
            self.db.executemany(
                "UPDATE registry_entities SET version_to=? "
                "WHERE kind=? AND id=? AND version_to IS NULL",
                [(version, k, i) for k, i in changed + removed],
            )
            self.db.executemany(
                "INSERT INTO registry_entities VALUES (?,?,?,NULL,?)",
                [(k, i, version, new[(k, i)]) for k, i in added + changed],
            )
            self.bump_judging()
        orders = any(k[0] == "order" for k in added + changed + removed)
        return RegistryLoad(version, len(added), len(changed), len(removed), orders)

    def registry_removals(self, registry: Registry) -> list[tuple[str, str]]:
        """Subjects, orders and fittings in the store that ``registry`` would remove."""
        new = registry.entities.keys()
        return [
            (kind, i)
            for kind, i in self.db.execute(
                "SELECT kind, id FROM registry_entities WHERE version_to IS NULL AND kind IN "
                "('subject', 'order', 'fitting') ORDER BY kind, id"
            )
            if (kind, i) not in new
        ]

    def registry_version(self) -> int | None:
        v = self.db.execute("SELECT MAX(version) FROM registry_versions").fetchone()[0]
        return None if v is None else int(v)

    def current_registry(self) -> Registry:
        """The registry as last loaded (raises :class:`StoreError` if none was)."""
        if self.registry_version() is None:
            raise StoreError(
                f"no registry in {self.path}: load one with 'geomonitor registry load FILE'"
            )
        rows = self.db.execute(
            "SELECT kind, id, content FROM registry_entities WHERE version_to IS NULL"
        )
        return registry_from_entities({(k, i): orjson.loads(c) for k, i, c in rows})

    def registry_history(self) -> list[dict[str, Any]]:
        out = []
        for row in self.db.execute(
            "SELECT version, loaded_at, source, sha256, added, changed, removed "
            "FROM registry_versions ORDER BY version"
        ):
            v = dict(
                zip(
                    ("version", "loaded_at", "source", "sha256", "added", "changed", "removed"),
                    row,
                    strict=True,
                )
            )
            v["entities"] = [
                self._variations_in({"kind": k, "id": i, "change": ch}, row[0])
                for k, i, ch in self.db.execute(
                    "SELECT kind, id, CASE WHEN EXISTS (SELECT 1 FROM registry_entities p "
                    "WHERE p.kind=e.kind AND p.id=e.id AND p.version_to=e.version_from) "
                    "THEN 'changed' ELSE 'added' END FROM registry_entities e "
                    "WHERE version_from=? UNION ALL SELECT kind, id, 'removed' "
                    "FROM registry_entities e WHERE version_to=? AND NOT EXISTS (SELECT 1 "
                    "FROM registry_entities n WHERE n.kind=e.kind AND n.id=e.id "
                    "AND n.version_from=e.version_to) ORDER BY 1, 2",
                    (row[0], row[0]),
                )
            ]
            out.append(v)
        return out

    def _variations_in(self, entity: dict[str, Any], version: int) -> dict[str, Any]:
        """An order's variations first recorded in this version (type, reason, effective)."""
        if entity["kind"] != "order" or entity["change"] == "removed":
            return entity
        rows = self.db.execute(
            "SELECT version_from, content FROM registry_entities WHERE kind='order' AND id=? "
            "AND version_from<=? ORDER BY version_from DESC LIMIT 2",
            (entity["id"], version),
        ).fetchall()
        now = orjson.loads(rows[0][1]).get("variations") or []
        before = orjson.loads(rows[1][1]).get("variations") or [] if len(rows) > 1 else []
        known = {v.get("id") for v in before if isinstance(v, dict)}
        new = [v for v in now if isinstance(v, dict) and v.get("id") not in known]
        if new:
            entity["variations"] = [
                {k: v.get(k) for k in ("id", "type", "reason", "effective")} for v in new
            ]
        return entity

    # ------------------------------------------------------------------ fixes
    def insert_fixes(self, fixes: list[Fix]) -> int:
        """Store fixes; returns how many were new or replaced a worse copy."""
        return self.insert_batch(FixBatch.from_fixes(list(fixes)))

    def insert_batch(self, batch: FixBatch) -> int:
        """Store a batch of fixes; returns how many were new or replaced a worse copy.

        A fix already held for the same tag and instant is kept unless the new copy ranks
        better (see :func:`geomonitor.fix.rank_of`), so the stored evidence does not depend
        on arrival order.

        """
        if len(batch) == 0:
            return 0
        before = self.db.total_changes
        self.db.executemany(
            "INSERT INTO fixes VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT(tag_id, ts) DO UPDATE SET lat=excluded.lat, lon=excluded.lon, "
            "x=excluded.x, y=excluded.y, accuracy_m=excluded.accuracy_m, "
            "battery_pct=excluded.battery_pct, strap=excluded.strap, "
            "charging=excluded.charging, source=excluded.source, rank=excluded.rank, "
            "extra=excluded.extra WHERE excluded.rank < fixes.rank",
            zip(
                batch.tag_id.tolist(),
                batch.ts.tolist(),
                batch.lat.tolist(),
                batch.lon.tolist(),
                batch.x.tolist(),
                batch.y.tolist(),
                batch.accuracy_m.tolist(),
                batch.battery_pct,
                batch.strap,
                [None if c is None else int(c) for c in batch.charging],
                batch.source,
                batch.rank.tolist(),
                [None if e is None else dumps(e) for e in batch.extra],
                strict=True,
            ),
        )
        return self.db.total_changes - before

    def latest_fix_at(self) -> int | None:
        """The event time of the latest stored fix (None when there are none): one index
        seek per registry tag (fixes are keyed by tag and time, and only registry tags
        are stored), not a read of every fix."""
        q = "SELECT MAX(ts) FROM fixes WHERE tag_id=?"
        got = [r[0] for t in self.current_registry().tags
               for r in self.db.execute(q, (t,)) if r[0] is not None]  # fmt: skip
        return max(got) if got else None

    def fix_span_of(self, tags: list[str]) -> tuple[int, int] | None:
        """The event times of the earliest and the latest stored fix of these tags (two
        index seeks each); None when they have none."""
        q = "SELECT MIN(ts), MAX(ts) FROM fixes WHERE tag_id=?"
        got = [r for t in tags for r in self.db.execute(q, (t,)) if r[0] is not None]
        return (min(a for a, _ in got), max(b for _, b in got)) if got else None

    def has_fixes(self) -> bool:
        return self.db.execute("SELECT 1 FROM fixes LIMIT 1").fetchone() is not None

    def fix_count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM fixes").fetchone()[0])

    def iter_fix_batches(
        self, size: int = 200_000, only_wanted: bool = False
    ) -> Iterator[FixBatch]:
        """Every stored fix, as batches in (tag, time) order: for warming an engine up."""
        where = " WHERE tag_id IN (SELECT tag_id FROM wanted_tags)" if only_wanted else ""
        cur = self.db.execute(
            "SELECT tag_id, ts, lat, lon, x, y, accuracy_m, rank, battery_pct, strap, charging "
            f"FROM fixes{where} ORDER BY tag_id, ts"
        )
        while True:
            rows = cur.fetchmany(size)
            if not rows:
                return
            yield fix_batch(rows)

    def fixes_of_tag(self, tag_id: str, start: int, end: int) -> list[dict[str, Any]]:
        cols = ("tag_id", "ts", "lat", "lon", "accuracy_m", "battery_pct", "strap", "source")
        return [
            dict(zip(cols, r, strict=True))
            for r in self.db.execute(
                f"SELECT {', '.join(cols)} FROM fixes WHERE tag_id=? AND ts BETWEEN ? AND ? "
                "ORDER BY ts",
                (tag_id, start, end),
            )
        ]

    # ------------------------------------------------------------------ ANPR
    def insert_reads(self, reads: Iterable[Read]) -> int:
        before = self.db.total_changes
        self.db.executemany(
            "INSERT OR IGNORE INTO anpr_reads VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                (
                    r.read_id,
                    r.camera_id,
                    r.vrm,
                    r.vrm_raw,
                    r.ts,
                    r.lat,
                    r.lon,
                    r.confidence,
                    r.direction,
                    None if r.extra is None else dumps(r.extra),
                )
                for r in reads
            ),
        )
        return self.db.total_changes - before

    def iter_reads(self, size: int = 100_000) -> Iterator[list[Read]]:
        """Every stored ANPR read, in batches (for warming an engine up)."""
        cur = self.db.execute(
            "SELECT read_id, camera_id, vrm, vrm_raw, ts, lat, lon, confidence, direction "
            "FROM anpr_reads ORDER BY ts, read_id"
        )
        while True:
            rows = cur.fetchmany(size)
            if not rows:
                return
            yield [Read(*row) for row in rows]

    def reads_of_vehicles(self, vrms: Iterable[str], after_row: int = 0) -> tuple[list[Read], int]:
        """Stored reads of these (normalised) plates stored after row ``after_row``, and
        the last row there is now (a stream consumer's bookmark)."""
        last = int(self.db.execute("SELECT COALESCE(MAX(rowid), 0) FROM anpr_reads").fetchone()[0])
        plates = sorted(set(vrms))
        if not plates or last <= after_row:
            return [], last
        marks = ",".join("?" * len(plates))
        rows = self.db.execute(
            "SELECT read_id, camera_id, vrm, vrm_raw, ts, lat, lon, confidence, direction "
            f"FROM anpr_reads WHERE rowid > ? AND rowid <= ? AND vrm IN ({marks}) "
            "ORDER BY ts, read_id",
            [after_row, last, *plates],
        ).fetchall()
        return [Read(*r) for r in rows], last

    def read_count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM anpr_reads").fetchone()[0])

    # ------------------------------------------------------------------ rejections
    def insert_rejections(self, rejections: Iterable[Rejection]) -> None:
        now = now_text()
        self.db.executemany(
            "INSERT INTO rejected (kind, source, locator, reason, field, message, raw, "
            "recorded_at) VALUES (?,?,?,?,?,?,?,?)",
            (
                (r.kind, r.source, r.locator, r.reason, r.field, r.message, r.raw, now)
                for r in rejections
            ),
        )

    def rejections(self, reason: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        cols = (
            "id",
            "kind",
            "source",
            "locator",
            "reason",
            "field",
            "message",
            "raw",
            "recorded_at",
        )
        q = f"SELECT {', '.join(cols)} FROM rejected"
        args: tuple = ()
        if reason:
            q += " WHERE reason=?"
            args = (reason,)
        q += " ORDER BY id LIMIT ?"
        return [dict(zip(cols, r, strict=True)) for r in self.db.execute(q, (*args, limit))]

    def rejection_counts(self) -> dict[str, int]:
        return dict(
            self.db.execute(
                "SELECT reason, COUNT(*) FROM rejected GROUP BY reason ORDER BY 2 DESC"
            ).fetchall()
        )

    def iter_fix_batches_of(
        self,
        tags: list[str],
        size: int = 200_000,
        start: int | None = None,
        end: int | None = None,
    ) -> Iterator[FixBatch]:
        """Like :meth:`iter_fix_batches`, for some tags only (and ``[start, end)`` only)."""
        if start is not None or end is not None:
            lo, hi = start if start is not None else -(2**62), end if end is not None else 2**62
            cols = "tag_id, ts, lat, lon, x, y, accuracy_m, rank, battery_pct, strap, charging"
            for tag in sorted(set(tags)):
                rows = self.db.execute(
                    f"SELECT {cols} FROM fixes WHERE tag_id=? AND ts>=? AND ts<? ORDER BY ts",
                    (tag, lo, hi),
                ).fetchall()
                for k in range(0, len(rows), size):
                    yield fix_batch(rows[k : k + size])
            return
        self.db.execute("CREATE TEMP TABLE IF NOT EXISTS wanted_tags (tag_id TEXT PRIMARY KEY)")
        self.db.execute("DELETE FROM wanted_tags")
        self.db.executemany("INSERT OR IGNORE INTO wanted_tags VALUES (?)", [(t,) for t in tags])
        yield from self.iter_fix_batches(size, only_wanted=True)

    def reads_after(self, after_row: int, size: int = 200_000) -> tuple[list[Read], int]:
        """Stored reads after row ``after_row`` (at most ``size``), and the last row read."""
        rows = self.db.execute(
            "SELECT rowid, read_id, camera_id, vrm, vrm_raw, ts, lat, lon, confidence, "
            "direction FROM anpr_reads WHERE rowid > ? ORDER BY rowid LIMIT ?",
            (after_row, size),
        ).fetchall()
        if not rows:
            return [], after_row
        return [Read(*r[1:]) for r in rows], int(rows[-1][0])

    # ------------------------------------------------------------------ runs
    def start_run(self, command: str) -> int:
        cur = self.db.execute(
            "INSERT INTO runs (command, started_at) VALUES (?,?)", (command, now_text())
        )
        return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, summary: dict[str, Any]) -> None:
        self.db.execute(
            "UPDATE runs SET finished_at=?, summary=? WHERE id=?",
            (now_text(), dumps(summary), run_id),
        )
