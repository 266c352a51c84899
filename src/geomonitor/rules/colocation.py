"""Co-location as a rule family: the rules that place a subject beside someone or
something, over the trails of the subjects they concern (:mod:`geomonitor.rules.trail`):
non-association (:mod:`geomonitor.rules.association`) and undeclared vehicles
(:mod:`geomonitor.rules.undeclared`)."""

from __future__ import annotations

from typing import ClassVar

from ..model.candidate import Candidate
from ..model.read import Read
from ..model.registry import Registry
from .association import Associations, association_rules
from .base import Changes, Observations, RuleFamily
from .config import EngineConfig
from .fittings import Fittings
from .trail import Trail
from .undeclared import UndeclaredVehicles

COLOCATION_KINDS = ("undeclared_vehicle", "non_association")


class ColocationFamily(RuleFamily):
    """Non-association and undeclared vehicles, over trails of usable fixes."""

    name: ClassVar[str] = "colocation"
    kinds: ClassVar[tuple[str, ...]] = COLOCATION_KINDS

    def __init__(self, registry: Registry, fittings: Fittings, config: EngineConfig):
        self.max_accuracy_m = config.association.max_accuracy_m
        self.associations = Associations(
            association_rules(registry, fittings.subject_ix), fittings.tag_ids, config.association
        )
        self.undeclared = UndeclaredVehicles(
            registry, fittings.subject_ix, fittings.tag_ids, config.vehicle, config.association
        )
        #: Subjects whose trails the rules need (by subject index).
        self.subjects = self.associations.subjects | self.undeclared.subjects
        self.trails: dict[int, Trail] = {}

    def observe(self, obs: Observations) -> Changes:
        """Trails of the subjects concerned (fixes accurate enough to place someone), and
        the rules over the instants the batch changed."""
        res = Changes()
        if not self.subjects:
            return res
        batch = obs.batch
        changed: dict[int, tuple[int, int]] = {}
        for seg in obs.segments:
            s = int(obs.subject[seg[0]])
            if s not in self.subjects:
                continue
            use = seg[batch.accuracy_m[seg] <= self.max_accuracy_m]
            if len(use) == 0:
                continue
            trail = self.trails.setdefault(s, Trail())
            span = trail.add(
                batch.ts[use],
                batch.x[use],
                batch.y[use],
                batch.accuracy_m[use],
                batch.rank[use],
                obs.tag32[use],
            )
            if span is not None:
                changed[s] = span
        if not changed:
            return res
        for ups, gone in (
            self.associations.update(self.trails, changed),
            self.undeclared.trails_changed(self.trails, changed),
        ):
            res.upserts += ups
            res.retracted += gone
        return res

    def observe_reads(self, reads: list[Read]) -> Changes:
        ups, gone = self.undeclared.add_reads(reads, self.trails)
        return Changes(upserts=ups, retracted=gone)

    def candidates(self) -> list[Candidate]:
        return self.undeclared.candidates() + self.associations.candidates()
