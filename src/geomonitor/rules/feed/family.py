"""Feed outages as a rule family: one force-wide ``feed_outage`` candidate per outage
(:mod:`geomonitor.rules.feed.watch` finds them; the engine keeps the watch, because every
family that judges silence needs its answer)."""

from __future__ import annotations

from typing import ClassVar

from ...model.candidate import Candidate, Emitted, candidate_id, reconcile
from ...model.registry import Registry
from ...model.text import duration, local_clock, local_time, plural
from ...model.times import MS_PER_MINUTE
from ..base import Changes, Observations, RuleFamily
from ..config import EngineConfig
from ..fittings import Fittings
from .watch import Outage

#: The kind of candidate a feed outage raises.
FEED_KIND = "feed_outage"


def outage_candidate(o: Outage, tag_ids: list[str], district_of: dict[str, str]) -> Candidate:
    """The desk candidate of one feed outage: force-wide (no subject), one per outage."""
    silent = sorted(tag_ids[t] for t in o.silent)
    per_district: dict[str, int] = {}
    for tag in silent:
        name = district_of.get(tag, "no district")
        per_district[name] = per_district.get(name, 0) + 1
    spread = ", ".join(f"{name} {n}" for name, n in sorted(per_district.items()))
    if o.end is None:
        span = f"since {local_time(o.start)}, still down"
    else:
        span = (
            f"from {local_time(o.start)} to {local_clock(o.end, o.start)} "
            f"({duration(o.end - o.start)})"
        )
    what = (
        f"Feed outage {span}: {len(o.silent)} of {plural(len(o.reporting), 'reporting tag')} "
        f"sent nothing"
        + (f" ({spread})" if spread else "")
        + "; their silence in this span raises no per-subject candidate."
    )
    return Candidate(
        id=candidate_id(FEED_KIND, "-", "-", "feed", o.start),
        kind=FEED_KIND,
        subject_id="-",
        order_id="-",
        condition_id="feed",
        zone_id=None,
        opened_at=o.start,
        closed_at=o.end,
        status="open" if o.end is None else "closed",
        fix_count=0,
        explanation=what,
        last_evidence_at=o.start,
        evidence=[],
        details={
            "tags_reporting": len(o.reporting),
            "tags_silent": len(o.silent),
            "districts": per_district,
            "minutes": None if o.end is None else (o.end - o.start) // MS_PER_MINUTE,
        },
    )


class FeedFamily(RuleFamily):
    """Feed outages as candidates for the desk (one per outage, no subject)."""

    name: ClassVar[str] = "feed"
    kinds: ClassVar[tuple[str, ...]] = (FEED_KIND,)

    def __init__(self, registry: Registry, fittings: Fittings, config: EngineConfig):
        self.tag_ids = fittings.tag_ids
        self.district_of = {
            t.id: registry.districts[t.district].name
            if t.district in registry.districts
            else t.district
            for t in registry.tags.values()
            if t.district is not None
        }
        self._emitted: Emitted = {}
        #: The candidate of each outage, by its extent and silent tags.
        self._current: dict[tuple[int, int | None, frozenset[int]], Candidate] = {}

    def observe(self, obs: Observations) -> Changes:
        res = Changes()
        now: dict[tuple[int, int | None, frozenset[int]], Candidate] = {}
        for o in obs.feed.outages:
            key = (o.start, o.end, o.silent)
            now[key] = self._current.get(key) or outage_candidate(o, self.tag_ids, self.district_of)
        self._current = now
        reconcile(self._emitted, now.values(), res.upserts, res.retracted)  # same objects: skipped
        return res

    def candidates(self) -> list[Candidate]:
        return list(self._current.values())
