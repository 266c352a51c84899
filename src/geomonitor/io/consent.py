"""Fixes that may not be kept: a wearer withdrew consent (from then to the fitting's end),
or the retention schedule removed a wearer's data (their whole fitting, so an old file
replayed again cannot bring it back). Such fixes are refused before the engine or the
store sees them, with the reason ``consent_withdrawn`` or ``retention_expired``; unlike
other rejections their raw record is not kept (it is the very data that may not be)."""

from __future__ import annotations

import numpy as np

from ..model.fix import FixBatch
from ..model.rejection import Rejection
from .decode import Decoded

MESSAGES = {
    "consent_withdrawn": "tag_id: the wearer withdrew consent; the fix is not kept",
    "retention_expired": "tag_id: the wearer's data was removed under the retention "
    "schedule; the fix is not kept",
}
WITHHELD = "(withheld: not kept by law)"


def withhold(
    part: Decoded[FixBatch], source: str, spans: dict[str, list[tuple[int, int, str]]]
) -> None:
    """Take the fixes that fall in ``spans`` (per tag: from, to, reason) out of ``part``,
    into its rejections without their raw records."""
    batch = part.items
    if not spans or not len(batch):
        return
    # On the replay's path: one pass over the batch's tags against the spans' (a set
    # lookup: numpy's isin and == compare object arrays slowly), then only those tags.
    tags = batch.tag_id.tolist()
    mine = np.fromiter((t in spans for t in tags), dtype=bool, count=len(tags))
    if not mine.any():
        return
    drop = np.zeros(len(batch), dtype=bool)
    why: dict[int, str] = {}
    for tag in sorted({t for t, m in zip(tags, mine.tolist(), strict=True) if m}):
        on = batch.tag_id == tag
        for lo, hi, reason in spans[tag]:
            hit = on & (batch.ts >= lo) & (batch.ts < hi) & ~drop
            for i in np.flatnonzero(hit).tolist():
                why[i] = reason
            drop |= hit
    if not drop.any():
        return
    for i in sorted(why):
        where = f"{part.unit} {part.where[i]}" if i < len(part.where) else "(batch)"
        reason = why[i]
        part.rejections.append(
            Rejection("fix", source, where, reason, "tag_id", MESSAGES[reason], WITHHELD)
        )
    part.items = batch.take(~drop)
    part.where = [w for w, d in zip(part.where, drop.tolist(), strict=False) if not d]
