"""Rows of the store as model objects, and what a write reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..model.fix import FixBatch


@dataclass
class RegistryLoad:
    version: int
    added: int
    changed: int
    removed: int
    #: Whether an order was added, changed or removed (what the engine judges by moved).
    orders_changed: bool = False

    @property
    def unchanged(self) -> bool:
        return not (self.added or self.changed or self.removed)


@dataclass
class CandidateWrite:
    opened: int = 0
    updated: int = 0
    closed: int = 0
    retracted: int = 0
    #: Each change as written to the history: (candidate id, subject id, action, body).
    events: list[tuple[str, str, str, str | None]] = field(default_factory=list)


def fix_batch(rows: list[Any]) -> FixBatch:
    """Stored fix rows (tag, ts, lat, lon, x, y, accuracy, rank, battery, strap,
    charging) as a batch."""
    if not rows:
        return FixBatch.from_rows([])
    cols = list(zip(*rows, strict=True))
    return FixBatch(
        tag_id=np.array(cols[0], dtype=object),
        ts=np.array(cols[1], np.int64),
        lat=np.array(cols[2], float),
        lon=np.array(cols[3], float),
        x=np.array(cols[4], float),
        y=np.array(cols[5], float),
        accuracy_m=np.array(cols[6], float),
        rank=np.array(cols[7], np.int64),
        battery_pct=cols[8],
        strap=cols[9],
        charging=[None if c is None else bool(c) for c in cols[10]],
        battery=np.array([np.nan if b is None else b for b in cols[8]], float),
        tamper=np.array([v == "tamper" for v in cols[9]], bool),
        charging_code=np.array([-1 if c is None else int(c) for c in cols[10]], np.int8),
    )
