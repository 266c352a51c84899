"""The tag inventory's tables (a part of :class:`~geomonitor.store.domain.Store`): every
change to a unit, from commands and registry loads, in one append-only history; each
district's demand; and what the audit reads of the fixes."""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

import numpy as np

from ..model.inventory import TagEvent, UnitState, timeline
from ..model.registry import Registry

_COLS = "tag_id, at, action, district, subject_id, status, reason, actor, source"


def _key(e: TagEvent) -> str:
    return "|".join(
        str(v or "") for v in (e.tag_id, e.action, e.at, e.district, e.subject_id, e.status)
    )


class InventoryTables:
    """Tag events and demand."""

    db: sqlite3.Connection

    def record_tag_events(self, events: Iterable[TagEvent]) -> int:
        """Append changes (one already recorded, same unit, action, time and values, is
        not recorded twice); returns how many were new."""
        now = datetime.now(UTC).isoformat(timespec="seconds")
        before = self.db.total_changes
        self.db.executemany(
            f"INSERT OR IGNORE INTO tag_events ({_COLS}, recorded_at, key) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    e.tag_id,
                    e.at,
                    e.action,
                    e.district,
                    e.subject_id,
                    e.status,
                    e.reason,
                    e.actor,
                    e.source,
                    now,
                    _key(e),
                )
                for e in events
            ],
        )
        return self.db.total_changes - before

    def tag_events(self, tag_id: str | None = None) -> list[TagEvent]:
        """Changes in the order recorded (of one unit, or of all)."""
        q = f"SELECT {_COLS} FROM tag_events"
        args: tuple = ()
        if tag_id is not None:
            q += " WHERE tag_id=?"
            args = (tag_id,)
        return [TagEvent(*row) for row in self.db.execute(q + " ORDER BY seq", args)]

    def tag_history(self, tag_id: str) -> list[dict]:
        """One unit's changes with when each was recorded, in effective-time order."""
        cols = f"{_COLS}, recorded_at"
        rows = self.db.execute(
            f"SELECT {cols} FROM tag_events WHERE tag_id=? ORDER BY at, seq", (tag_id,)
        )
        names = [c.strip() for c in cols.split(",")]
        return [dict(zip(names, r, strict=True)) for r in rows]

    def unit_timelines(self) -> dict[str, list[UnitState]]:
        return timeline(self.tag_events())

    def sync_inventory(self, registry: Registry, now: int) -> int:
        """Record what a registry load says about units and not yet in the history: units
        first seen (added at ``allocated_at``, their first fitting, or ``now``), fittings
        and removals, and a district that changed (a transfer, ``now``)."""
        lines = self.unit_timelines()
        first_fit: dict[str, int] = {}
        for f in registry.fittings:
            first_fit[f.tag_id] = min(first_fit.get(f.tag_id, f.fitted_at), f.fitted_at)
        new: list[TagEvent] = []
        for t in registry.tags.values():
            states = lines.get(t.id)
            if not states:
                at = min(x for x in (t.allocated_at, first_fit.get(t.id), now) if x is not None)
                new.append(TagEvent(t.id, at, "add", t.district, source="registry"))
            elif states[-1].district != t.district and states[-1].state not in (
                "fitted",
                "returned",
                "retired",
            ):
                new.append(TagEvent(t.id, now, "transfer", t.district, source="registry"))
        for f in registry.fittings:
            d = registry.subjects[f.subject_id].district
            new.append(TagEvent(f.tag_id, f.fitted_at, "fit", d, f.subject_id, source="registry"))
            if f.removed_at is not None:
                new.append(
                    TagEvent(
                        f.tag_id, f.removed_at, "remove", None, f.subject_id, source="registry"
                    )
                )
        return self.record_tag_events(new)

    # ------------------------------------------------------------------ demand
    def set_demand(self, district: str, at: int, waiting: int, actor: str, reason: str) -> None:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        self.db.execute(
            "INSERT INTO demand (district, at, waiting, reason, actor, recorded_at) "
            "VALUES (?,?,?,?,?,?)",
            (district, at, waiting, reason, actor, now),
        )

    def demand_at(self, t: int) -> dict[str, int]:
        """Each district's referrals waiting as last set at or before ``t``."""
        out: dict[str, int] = {}
        for d, w in self.db.execute(
            "SELECT district, waiting FROM demand WHERE at<=? ORDER BY at, seq", (t,)
        ):
            out[d] = int(w)
        return out

    def demand_history(self) -> list[dict]:
        cols = ("district", "at", "waiting", "reason", "actor", "recorded_at")
        q = f"SELECT {', '.join(cols)} FROM demand ORDER BY at, seq"
        return [dict(zip(cols, r, strict=True)) for r in self.db.execute(q)]

    # ------------------------------------------------------------------ what tags reported
    def fix_tags(self, lo: int, hi: int, tags: Iterable[str] | None = None) -> list[str]:
        """Tags (of ``tags``, or of every unit in the inventory) with at least one stored
        fix in ``[lo, hi)``: one index look-up each, no scan of the period's fixes."""
        if tags is None:
            tags = [t for (t,) in self.db.execute("SELECT DISTINCT tag_id FROM tag_events")]
        q = "SELECT 1 FROM fixes WHERE tag_id=? AND ts>=? AND ts<? LIMIT 1"
        return sorted(t for t in tags if self.db.execute(q, (t, lo, hi)).fetchone())

    def iter_tag_columns(
        self, tags: Iterable[str], lo: int, hi: int
    ) -> Iterator[tuple[str, dict[str, np.ndarray]]]:
        """Per tag, its fixes in ``[lo, hi)`` as columns: ts, accuracy, battery (NaN when
        not reported), charging (-1 when not reported)."""
        q = (
            "SELECT ts, accuracy_m, battery_pct, IFNULL(charging, -1) FROM fixes "
            "WHERE tag_id=? AND ts>=? AND ts<? ORDER BY ts"
        )
        for tag in tags:
            rows = self.db.execute(q, (tag, lo, hi)).fetchall()
            a = np.array(rows, dtype=float).reshape(-1, 4)
            yield (
                tag,
                {
                    "ts": a[:, 0].astype(np.int64),
                    "acc": a[:, 1],
                    "batt": a[:, 2],  # None became NaN
                    "charging": a[:, 3],
                },
            )

    def device_events_between(self, kinds: Iterable[str], lo: int, hi: int) -> dict[str, list]:
        """Per tag, ``(kind, started_at, ended_at)`` of its device events of these kinds
        starting in ``[lo, hi)``."""
        ks = list(kinds)
        out: dict[str, list] = defaultdict(list)
        q = (
            f"SELECT tag_id, kind, started_at, ended_at FROM device_events WHERE kind IN "
            f"({','.join('?' * len(ks))}) AND started_at>=? AND started_at<? "
            "ORDER BY tag_id, started_at"
        )
        for tag, kind, s, e in self.db.execute(q, (*ks, lo, hi)):
            out[tag].append((kind, int(s), None if e is None else int(e)))
        return out
