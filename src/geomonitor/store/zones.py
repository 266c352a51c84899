"""The zone index's covers kept in the store (a part of
:class:`~geomonitor.store.domain.Store`): building the H3 covers of a force's zones takes a
second or two, on every replay and every consumer start; kept by what each depends on, a
cover is read back in milliseconds and built again only when its zone or the index's
settings change."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import numpy as np

from ..model.registry import Registry
from ..rules.config import EngineConfig
from ..rules.zones.family import zone_rules
from ..rules.zones.index import CoverArrays, ZoneIndex


class ZoneCoverTables:
    """Kept zone covers."""

    db: sqlite3.Connection

    def zone_index(self, registry: Registry, config: EngineConfig | None = None) -> ZoneIndex:
        """The index over the zones the registry's zone conditions name, with the covers
        kept in the store; covers built now are kept for next time (unless the store
        cannot be written to: then they are built again next time)."""
        cfg = config or EngineConfig()
        ids = sorted({r.zone_id for r in zone_rules(registry)})
        kept: dict[str, CoverArrays] = {}
        for key, cells, kind, clearance in self.db.execute(
            "SELECT key, cells, kind, clearance FROM zone_covers"
        ):
            kept[key] = (
                np.frombuffer(cells, np.int64),
                np.frombuffer(kind, np.int8),
                np.frombuffer(clearance, np.float64),
            )
        index = ZoneIndex(
            [registry.zones[z] for z in ids], cfg.h3_resolution, cfg.index_margin_m, kept
        )
        if index.built:
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            rows = [(k, c.tobytes(), kd.tobytes(), cl.tobytes(), now)
                    for k, (c, kd, cl) in index.built.items()]  # fmt: skip
            try:
                self.db.executemany("INSERT OR REPLACE INTO zone_covers VALUES (?,?,?,?,?)", rows)
            except sqlite3.OperationalError:  # a read-only store, or busy: build next time
                pass
        return index
