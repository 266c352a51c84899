"""How the live service is doing, for a period: is the feed on time, how long a breach takes
to reach a person, are there feed outages, is mail waiting.

An app-level reader of the store (no personal data: ids, counts and durations):

* **Feed lag per source** (a file, or a Kafka topic partition): batches and fixes received
  in the period, when the source last delivered and how long ago that is at *now*, the
  latest event time it delivered, and the lag (receipt less event time) as the median and
  95th percentile of its batches' median lags, weighted by their fixes.
* **Timeliness** of the candidates recorded in the period: from evidence (when the breach
  began, the candidate's ``opened_at``) to the candidate being recorded; from recorded to
  mailed; from recorded to acknowledged on the desk (the first review action that moves it
  on from ``new``), each as median and 95th percentile, with how many are still
  unacknowledged.
* **Feed outages** in the period, and those still open.
* **Mail** not yet sent: pending (with the oldest), being sent, failed.

Percentiles are of the observed values by the inverted CDF (the smallest value with at
least that share at or below it: an actual value, never an interpolation). ``now`` is passed in.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import orjson

from ..model.text import duration, local_time
from ..store.domain import Store


def percentiles(values: list[int], weights: list[int] | None = None) -> tuple[int, int] | None:
    """(median, 95th percentile): the smallest value with at least that share of the
    weight at or below it (numpy's inverted CDF: always an observed value)."""
    if not values:
        return None
    p50, p95 = np.percentile(values, [50, 95], weights=weights, method="inverted_cdf")
    return int(p50), int(p95)


def _ms(iso_text: str) -> int:
    return int(datetime.fromisoformat(iso_text.replace("Z", "+00:00")).timestamp() * 1000)


@dataclass
class SourceLag:
    source: str
    batches: int
    fixes: int
    last_received_at: int
    quiet_for_ms: int
    last_event_at: int
    lag_p50_ms: int
    lag_p95_ms: int


@dataclass
class Timeliness:
    candidates: int = 0
    evidence_to_recorded: tuple[int, int] | None = None
    recorded_to_mailed: tuple[int, int] | None = None
    recorded_to_acknowledged: tuple[int, int] | None = None
    mailed: int = 0
    acknowledged: int = 0
    unacknowledged: int = 0


@dataclass
class Health:
    since: int
    until: int
    now: int
    sources: list[SourceLag] = field(default_factory=list)
    timeliness: Timeliness = field(default_factory=Timeliness)
    outages: list[dict[str, Any]] = field(default_factory=list)
    open_outages: int = 0
    mail: dict[str, int] = field(default_factory=dict)
    oldest_pending_ms: int | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def health(store: Store, since: int, until: int, now: int, district: str | None = None) -> Health:
    """The service's health over ``[since, until)`` as seen at ``now``; with a
    ``district`` (code), its candidates' timeliness and mail only (the feed's lag and its
    outages are the force's, and hold no one's data)."""
    h = Health(since, until, now)
    keep: set[str] | None = None
    if district is not None:
        home = {s.id: s.district for s in store.current_registry().subjects.values()}
        keep = {c.id for c in store.candidates() if home.get(c.subject_id) == district}
    per: dict[str, list[dict[str, Any]]] = {}
    for a in store.arrivals(since, until):
        per.setdefault(a["source"], []).append(a)
    for source, rows in sorted(per.items()):
        lags = percentiles([r["lag_p50_ms"] for r in rows], [r["fixes"] for r in rows])
        assert lags is not None
        last = max(r["received_at"] for r in rows)
        h.sources.append(
            SourceLag(
                source,
                len(rows),
                sum(r["fixes"] for r in rows),
                last,
                now - last,
                max(r["last_ts"] for r in rows),
                *lags,
            )
        )
    h.timeliness = _timeliness(store, since, until, keep)
    for (body,) in store.db.execute(
        "SELECT body FROM candidates WHERE kind='feed_outage' AND opened_at < ? "
        "AND (closed_at IS NULL OR closed_at > ?) ORDER BY opened_at",
        (until, since),
    ):
        c = orjson.loads(body)
        h.outages.append(
            {
                "id": c["id"],
                "opened_at": _ms(c["opened_at"]),
                "closed_at": None if c["closed_at"] is None else _ms(c["closed_at"]),
                "tags_silent": c["details"]["tags_silent"],
                "tags_reporting": c["details"]["tags_reporting"],
                "districts": c["details"]["districts"],
            }
        )
    h.open_outages = sum(o["closed_at"] is None for o in h.outages)
    mail: Counter[str] = Counter()
    oldest = None
    for cid, state, queued in store.db.execute(
        "SELECT candidate_id, state, queued_at FROM notifications"
    ):
        if keep is None or cid in keep:
            mail[state] += 1
            if state in ("pending", "sending"):
                oldest = queued if oldest is None else min(oldest, queued)
    h.mail = dict(sorted(mail.items()))
    h.oldest_pending_ms = None if oldest is None else now - int(oldest)
    return h


@dataclass
class Timeline:
    """One candidate's way to a person (epoch ms; None: not yet)."""

    evidence_at: int
    recorded_at: int
    mailed_at: int | None = None
    acknowledged_at: int | None = None


def timelines(store: Store, candidate_id: str | None = None) -> dict[str, Timeline]:
    """When each candidate's evidence began (``opened_at``), when it was first recorded,
    when its first mail was sent and when the desk first moved it on from ``new``; of one
    candidate, or of every one."""
    where, args = ("AND candidate_id=? ", (candidate_id,)) if candidate_id else ("", ())
    out: dict[str, Timeline] = {}
    for cid, at, body in store.db.execute(
        "SELECT candidate_id, recorded_at, body FROM candidate_events WHERE action='opened' "
        f"{where}ORDER BY seq",
        args,
    ):
        if cid not in out and body is not None:
            out[cid] = Timeline(_ms(orjson.loads(body)["opened_at"]), _ms(at))
    for cid, at in store.db.execute(
        "SELECT candidate_id, MIN(sent_at) FROM notifications WHERE purpose='first' AND "
        f"state='sent' {where}GROUP BY candidate_id",
        args,
    ):
        if cid in out:
            out[cid].mailed_at = int(at)
    for cid, at in store.db.execute(
        f"SELECT candidate_id, MIN(at) FROM review_events WHERE state != 'new' {where}"
        "GROUP BY candidate_id",
        args,
    ):
        if cid in out:
            out[cid].acknowledged_at = int(at)
    return out


def timeline_rows(tl: Timeline) -> list[tuple[str, str]]:
    """A candidate's way to a person for people: (step, when in local time and how long
    after the step before)."""
    rows = [
        ("evidence began", local_time(tl.evidence_at)),
        (
            "recorded",
            f"{local_time(tl.recorded_at)} ({duration(tl.recorded_at - tl.evidence_at)} later)",
        ),
    ]
    for step, at in (("mailed", tl.mailed_at), ("acknowledged", tl.acknowledged_at)):
        rows.append(
            (step, "not yet" if at is None
             else f"{local_time(at)} ({duration(at - tl.recorded_at)} after recording)")
        )  # fmt: skip
    return rows


def _timeliness(store: Store, since: int, until: int, keep: set[str] | None) -> Timeliness:
    t = Timeliness()
    ev, ml, ak = [], [], []
    for cid, tl in timelines(store).items():
        if not since <= tl.recorded_at < until or (keep is not None and cid not in keep):
            continue
        t.candidates += 1
        ev.append(max(0, tl.recorded_at - tl.evidence_at))
        if tl.mailed_at is not None:
            ml.append(max(0, tl.mailed_at - tl.recorded_at))
        if tl.acknowledged_at is not None:
            ak.append(max(0, tl.acknowledged_at - tl.recorded_at))
    t.evidence_to_recorded = percentiles(ev)
    t.recorded_to_mailed = percentiles(ml)
    t.recorded_to_acknowledged = percentiles(ak)
    t.mailed, t.acknowledged = len(ml), len(ak)
    t.unacknowledged = t.candidates - t.acknowledged
    return t
