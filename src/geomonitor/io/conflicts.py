"""Conflicting copies: a second fix for a tag and instant already held, placed where the
two accuracy circles do not overlap. Tags store and forward, so honest copies are common
and harmless; a copy somewhere else is forged or broken. The fix held stays, the copy is
refused (``conflicting_duplicate``, kept with the other rejections) and a
``conflicting_fix`` device event records it for the faulty-unit audit."""

from __future__ import annotations

import numpy as np
import orjson

from ..engine import Engine
from ..model.candidate import DeviceEvent
from ..model.fix import FixBatch
from ..model.rejection import Rejection
from ..model.text import distance
from .decode import Decoded

#: The device-event kind of a refused copy (never decided by the engine, so never removed
#: when a store is synchronised with it).
CONFLICT_KIND = "conflicting_fix"


def refuse_conflicts(engine: Engine, part: Decoded[FixBatch], source: str) -> list[DeviceEvent]:
    """Take the conflicting copies out of ``part`` (into its rejections) before the engine
    or the store sees them; returns their device events."""
    bad, dist = engine.conflicts(part.items)
    if not bad.any():
        return []
    batch = part.items
    events = []
    for i in np.flatnonzero(bad).tolist():
        tag, ts = str(batch.tag_id[i]), int(batch.ts[i])
        where = f"{part.unit} {part.where[i]}" if i < len(part.where) else "(batch)"
        d = float(dist[i])
        part.rejections.append(
            Rejection(
                "fix",
                source,
                where,
                "conflicting_duplicate",
                "lat",
                f"lat/lon: a copy of a fix already held for this tag and time, {distance(d)} "
                "from it (the accuracy circles do not overlap): the fix held stays",
                orjson.dumps(batch.record(i)).decode(),
            )
        )
        t = engine.fittings.tag_ix.get(tag)
        subject = None if t is None else engine.fittings.subject_at(t, ts)
        events.append(
            DeviceEvent(
                CONFLICT_KIND,
                tag,
                ts,
                ts,
                [ts],
                {
                    "subject_id": subject,
                    "distance_m": round(d, 1),
                    "copy_accuracy_m": round(float(batch.accuracy_m[i]), 1),
                    "source": source,
                    "at": where,
                },
            )
        )
    part.items = batch.take(~bad)
    part.where = [w for w, b in zip(part.where, bad.tolist(), strict=False) if not b]
    return events
