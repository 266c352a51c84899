"""The matching engine: fixes and reads in, breach-candidate changes out.

Pure: no I/O, no clock. It is built from a :class:`~geomonitor.model.registry.Registry`
and an :class:`EngineConfig` and fed :class:`~geomonitor.model.fix.FixBatch` objects and
ANPR reads in any order and any batching; the candidates it holds after the same set of
fixes and reads are always the same.

The engine itself only attributes fixes to subjects through the fittings history
(:mod:`geomonitor.rules.fittings`), keeps event time (the latest instant any fitted tag
has reported), and fans each batch out to its rule families, which all share one interface
(:class:`~geomonitor.rules.base.RuleFamily`):

========== =========================================== ==================================
family     decides                                     module
========== =========================================== ==================================
zones      exclusion and inclusion zones               :mod:`geomonitor.rules.zones`
curfews    late returns, absences, silences            :mod:`geomonitor.rules.curfew`
devices    strap tamper and lost contact (and the      :mod:`geomonitor.rules.device`
           device audit's other events)
vehicles   declared vehicles in zones or during        :mod:`geomonitor.rules.vehicle`
           curfews (ANPR)
colocation non-association and undeclared vehicles     :mod:`geomonitor.rules.colocation`
feed       feed outages (most reporting tags silent        :mod:`geomonitor.rules.feed`
           together): one candidate, no silences
========== =========================================== ==================================

Before the families see a batch, the engine brings its :class:`~geomonitor.rules.feed.watch.
FeedWatch` up to date: the first fix ever received (nothing is silent before it) and the
feed outages (nobody is silent during one). Every family judging silence reads the same
answer from :attr:`Observations.feed`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .model.candidate import Candidate, DeviceEvent
from .model.fix import FixBatch
from .model.orders import Cause, cause_of
from .model.read import Read
from .model.registry import FAR_FUTURE, Registry
from .rules.base import Changes, Observations, RuleFamily
from .rules.colocation import ColocationFamily
from .rules.config import EngineConfig
from .rules.curfew.family import CurfewFamily
from .rules.device.family import DeviceFamily
from .rules.feed.family import FeedFamily
from .rules.feed.watch import FeedView, FeedWatch
from .rules.fittings import Fittings
from .rules.trail import Trail
from .rules.undeclared import UndeclaredVehicles
from .rules.vehicle import VehicleFamily
from .rules.zones.family import ZoneFamily
from .rules.zones.index import ZoneIndex

#: The rule families, in the order they see each batch.
FAMILY_TYPES: dict[str, type[RuleFamily]] = {
    cls.name: cls
    for cls in (
        ZoneFamily,
        CurfewFamily,
        DeviceFamily,
        VehicleFamily,
        ColocationFamily,
        FeedFamily,
    )
}
#: Rule families and the kinds of candidate each raises. An engine may run some of them
#: only (a stream consumer runs those its input can decide; see :mod:`geomonitor.io.kafka`).
FAMILIES: dict[str, tuple[str, ...]] = {name: cls.kinds for name, cls in FAMILY_TYPES.items()}


def kinds_of(families: frozenset[str] | set[str]) -> set[str]:
    """The kinds of candidate these rule families raise."""
    return {k for f in families for k in FAMILIES[f]}


@dataclass
class EngineResult(Changes):
    """What one batch changed, and how many of its fixes were attributed to a subject."""

    attributed: int = 0
    unattributed: int = 0


class Engine:
    """Breach-candidate engine over the rule families of :data:`FAMILY_TYPES`.

    Parameters
    ----------
    registry
        Subjects, orders and their conditions, tags and fittings.
    config
        Thresholds (:class:`EngineConfig`).
    index
        A zone index to share between engines on the same zones.
    families
        The rule families to run (default: all).
    """

    def __init__(
        self,
        registry: Registry,
        config: EngineConfig | None = None,
        index: ZoneIndex | None = None,
        families: frozenset[str] | set[str] | None = None,
    ):
        self.registry = registry
        self.config = config or EngineConfig()
        #: The rule families this engine runs (default: all of them).
        self.families = frozenset(FAMILIES if families is None else families)
        if not self.families <= FAMILIES.keys():
            raise ValueError(f"unknown rule families: {sorted(self.families - FAMILIES.keys())}")
        self.fittings = Fittings(registry)
        self.subject_ids = self.fittings.subject_ids
        self.tag_ids = self.fittings.tag_ids
        self._families: dict[str, RuleFamily] = {}
        for name, cls in FAMILY_TYPES.items():
            if name not in self.families:
                continue
            if cls is ZoneFamily:
                self._families[name] = ZoneFamily(registry, self.fittings, self.config, index)
            else:
                self._families[name] = cls(registry, self.fittings, self.config)  # type: ignore[call-arg]
        #: The same curfew and zone rules without authorised absences, for the subjects
        #: who have one: what they would have raised is recorded as authorised.
        self._shadow = self._shadow_families(registry)
        #: The latest event time seen: how far the world has been observed.
        self.now: int | None = None
        #: The feed: first fix received, outages.
        self.feed = FeedWatch(self.config.feed)

    def _shadow_families(self, registry: Registry) -> dict[str, RuleFamily]:
        subjects = {a.subject_id for a in registry.absences}
        if not subjects:
            return {}
        plain = replace(
            registry,
            absences=(),
            orders={k: o for k, o in registry.orders.items() if o.subject_id in subjects},
        )
        out: dict[str, RuleFamily] = {}
        zones = self._families.get("zones")
        if isinstance(zones, ZoneFamily):
            out["zones"] = ZoneFamily(plain, self.fittings, self.config, zones.index)
        if "curfews" in self._families:
            out["curfews"] = CurfewFamily(plain, self.fittings, self.config)
        return out

    # ------------------------------------------------------------------ the families
    def family(self, name: str) -> RuleFamily:
        """One of the engine's rule families by name (``KeyError`` if it does not run it)."""
        return self._families[name]

    @property
    def index(self) -> ZoneIndex:
        """The zone index (shareable with another engine on the same zones)."""
        fam = self._families["zones"]
        assert isinstance(fam, ZoneFamily)
        return fam.index

    @property
    def vehicles(self) -> VehicleFamily:
        fam = self._families["vehicles"]
        assert isinstance(fam, VehicleFamily)
        return fam

    @property
    def _colocation(self) -> ColocationFamily | None:
        fam = self._families.get("colocation")
        assert fam is None or isinstance(fam, ColocationFamily)
        return fam

    @property
    def undeclared(self) -> UndeclaredVehicles:
        fam = self._colocation
        assert fam is not None
        return fam.undeclared

    @property
    def trails(self) -> dict[int, Trail]:
        """Trails of the subjects the co-location rules concern, by subject index."""
        fam = self._colocation
        return {} if fam is None else fam.trails

    @property
    def trail_subjects(self) -> set[int]:
        """Subjects (indexes) whose trails the co-location rules keep."""
        fam = self._colocation
        return set() if fam is None else fam.subjects

    # ------------------------------------------------------------------ processing
    def attribute(self, batch: FixBatch) -> tuple[np.ndarray, np.ndarray]:
        """Subject index of every fix (-1: tag not fitted to anyone at that instant), and
        tag index (-1: tag not in the registry)."""
        return self.fittings.attribute(batch)

    def process(self, batch: FixBatch) -> EngineResult:
        """Match a batch of fixes; returns the candidates it opened, changed or retracted."""
        res = EngineResult()
        n = len(batch)
        if n == 0:
            return res
        subj, tix = self.fittings.attribute(batch)
        res.attributed = int((subj >= 0).sum())
        res.unattributed = n - res.attributed
        # Fixes of each subject, in event-time order.
        order = np.lexsort((batch.ts, subj))  # by subject, then event time
        ss = subj[order]
        first = int(np.searchsorted(ss, 0))
        order, ss = order[first:], ss[first:]
        bounds = np.flatnonzero(np.diff(ss)) + 1
        segments = np.split(order, bounds) if len(order) else []
        # Event time: the latest instant any fitted tag has reported.
        old_now = self.now
        attributed = batch.ts[subj >= 0]
        if len(attributed):
            self.now = max(old_now if old_now is not None else -FAR_FUTURE, int(attributed.max()))
        feed = self._feed(batch.ts, tix)
        self._fan_out(Observations(batch, subj, tix, segments, old_now, self.now, feed), res)
        return res

    def _feed(self, ts: np.ndarray, tix: np.ndarray) -> FeedView:
        """The feed watch brought up to date with a batch (and event time)."""
        was = self.feed.add(ts, tix)
        changed = self.feed.judge(self.now)
        if was is not None and self.feed.first is not None:
            changed.append((self.feed.first, was))  # observed from earlier now
        return self.feed.view(changed)

    def advance(self, now: int) -> EngineResult:
        """Move event time on to ``now`` without new fixes (a stream consumer whose
        partitions are quiet, learning that others have reached ``now``): silences it
        passes are judged as if fixes up to ``now`` had arrived elsewhere."""
        res = EngineResult()
        if self.now is not None and now <= self.now:
            return res
        old_now, self.now = self.now, now
        none = np.empty(0, np.int64)
        feed = self._feed(none, none)
        self._fan_out(Observations(FixBatch.from_rows([]), none, none, [], old_now, now, feed), res)
        return res

    def _fan_out(self, obs: Observations, res: EngineResult) -> None:
        for fam in self._families.values():
            res.add(fam.observe(obs))
        for name, shadow in self._shadow.items():
            would = shadow.observe(obs).upserts
            if would:
                res.authorised += self._kept_off(name, would)
        res.sort()

    def _kept_off(self, family: str, would: list[Candidate]) -> list[Candidate]:
        """Of what the rules without absences raise, what the real rules do not, and an
        absence of the subject overlaps."""
        real = self._families[family]
        out = []
        for c in would:
            aid = None if real.holds(c.id) else self.absence_of(c)
            if aid is not None:
                out.append(replace(c, details={**c.details, "absence_id": aid}))
        return out

    def absence_of(self, c: Candidate) -> str | None:
        """The authorised absence of the candidate's subject that overlaps it, if any."""
        got = cause_of(
            self.registry.absences, (), c.subject_id, c.order_id, c.opened_at, c.closed_at
        )
        return got[1] if got is not None else None

    def authorised(self) -> list[Candidate]:
        """Every candidate an authorised absence keeps off the desk, as judged so far."""
        out: list[Candidate] = []
        for name, shadow in self._shadow.items():
            out += self._kept_off(name, shadow.candidates())
        return sorted(out, key=lambda c: c.id)

    def cause_of(
        self, subject_id: str, order_id: str, opened_at: int, closed_at: int | None
    ) -> Cause | None:
        """Why a stored candidate is judged differently by these rules (see
        :func:`geomonitor.model.orders.cause_of`)."""
        return cause_of(
            self.registry.absences,
            self.registry.variations(),
            subject_id,
            order_id,
            opened_at,
            closed_at,
        )

    def process_reads(self, reads: list[Read]) -> EngineResult:
        """Match ANPR reads against declared vehicles and the trails of subjects who must
        use only those (any order). Reads do not move event time on."""
        res = EngineResult()
        for fam in self._families.values():
            res.add(fam.observe_reads(reads))
        res.sort()
        return res

    def conflicts(self, batch: FixBatch) -> tuple[np.ndarray, np.ndarray]:
        """Which fixes of a batch are *conflicting copies*: of a tag and instant already
        held (or earlier in the batch), but placed where their accuracy circles do not
        overlap. Such a copy is forged or broken, not a resend: the fix held stays, the
        caller refuses the copy. Also the distance between the two positions. Honest
        resends (identical, or overlapping circles) are not conflicts: the better one
        wins, as ever. Fixes are held by device health (every tag's fixes); an engine
        without it sees conflicts within a batch only."""
        n = len(batch)
        bad, dist = np.zeros(n, bool), np.full(n, np.nan)
        if n == 0:
            return bad, dist
        tix = self.fittings.tag_indexes(batch)  # (no need to attribute to subjects)
        devices = self._families.get("devices")
        if isinstance(devices, DeviceFamily):
            found, x, y, acc = devices.held(tix, batch.ts)
            d = np.hypot(batch.x - x, batch.y - y)
            hit = found & (d > batch.accuracy_m + acc)
            bad |= hit
            dist[hit] = d[hit]
        # Within the batch: a later copy against the first of its tag and instant.
        order = np.lexsort((np.arange(n), batch.ts, tix))
        same = (tix[order][1:] == tix[order][:-1]) & (batch.ts[order][1:] == batch.ts[order][:-1])
        starts = np.flatnonzero(np.r_[True, ~same])
        sizes = np.diff(np.r_[starts, n])
        for a, size in zip(starts[sizes > 1].tolist(), sizes[sizes > 1].tolist(), strict=True):
            rows = order[a : a + size]
            head = rows[0]
            d = np.hypot(batch.x[rows[1:]] - batch.x[head], batch.y[rows[1:]] - batch.y[head])
            hit = d > batch.accuracy_m[rows[1:]] + batch.accuracy_m[head]
            bad[rows[1:][hit]] = True
            dist[rows[1:][hit]] = d[hit]
        return bad, dist

    # ------------------------------------------------------------------ state
    def candidates(self) -> list[Candidate]:
        """Every current candidate, sorted by id."""
        return sorted(
            (c for fam in self._families.values() for c in fam.candidates()), key=lambda c: c.id
        )

    def device_events(self) -> list[DeviceEvent]:
        """Every current device event, by tag, kind and start."""
        return [ev for fam in self._families.values() for ev in fam.device_events()]


__all__ = ["FAMILIES", "Engine", "EngineConfig", "EngineResult", "kinds_of"]
