"""Scoring candidates against a scenario's ground truth."""

from __future__ import annotations

from typing import Any

from ..model.times import MS_PER_MINUTE, parse_ts


def score(
    truth: dict[str, Any],
    candidates: list[Any],
    kinds: tuple[str, ...] = ("exclusion_zone",),
    slack_ms: int = 10 * MS_PER_MINUTE,
) -> dict[str, Any]:
    """Recall and precision of candidates against planted breaches.

    A candidate matches a planted breach of the same subject, condition and kind whose time
    span overlaps its own (with ``slack_ms`` either side).
    """
    planted = [b for b in truth["breaches"] if b["kind"] in kinds]
    brushes = [b for b in truth.get("brushes", []) if b["kind"] in kinds]
    cands = [c for c in candidates if c.kind in kinds]
    found = 0
    matched: set[str] = set()
    for b in planted + brushes:
        bs, be = parse_ts(b["start"]) - slack_ms, parse_ts(b["end"]) + slack_ms
        hits = [
            c
            for c in cands
            if c.subject_id == b["subject_id"]
            and c.condition_id == b["condition_id"]
            and c.order_id == b["order_id"]
            and c.opened_at <= be
            and (c.closed_at or c.last_evidence_at) >= bs
        ]
        if hits:
            found += b in planted
            matched.update(c.id for c in hits)
    recall = found / len(planted) if planted else 1.0
    precision = len(matched) / len(cands) if cands else 1.0
    return {
        "planted": len(planted),
        "found": found,
        "candidates": len(cands),
        "matching": len(matched),
        "recall": recall,
        "precision": precision,
        "false_alerts": [c.id for c in cands if c.id not in matched],
    }
