"""The interface every rule family shares.

A rule family (zones, curfews, device health, declared vehicles, co-location) is built
from the registry and the engine's settings, and is then fed observations: batches of
fixes already attributed to subjects (:class:`Observations`, which also say how far event
time has got) and ANPR reads. Each call returns the :class:`Changes` it caused: candidates
opened or changed, ids of candidates retracted, and device events. ``candidates()`` gives
everything the family currently holds. Families are pure: no I/O and no clock; the same
observations in any order and batching leave the same candidates.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from functools import cached_property
from typing import ClassVar

import numpy as np

from ..model.candidate import Candidate, DeviceEvent
from ..model.fix import FixBatch
from ..model.read import Read
from .feed.watch import FeedView

#: A device event's identity: (tag id, kind, start).
DeviceKey = tuple[str, str, int]


@dataclass
class Changes:
    """What a batch of observations changed."""

    upserts: list[Candidate] = field(default_factory=list)
    retracted: list[str] = field(default_factory=list)
    device_upserts: list[DeviceEvent] = field(default_factory=list)
    device_removed: list[DeviceKey] = field(default_factory=list)
    #: Candidates an authorised absence kept off the desk (what would have been raised).
    authorised: list[Candidate] = field(default_factory=list)

    def add(self, other: Changes) -> None:
        """Take in another family's changes."""
        self.upserts += other.upserts
        self.retracted += other.retracted
        self.device_upserts += other.device_upserts
        self.device_removed += other.device_removed
        self.authorised += other.authorised

    def sort(self) -> None:
        """Candidates by id, retractions by id (device events keep their order)."""
        self.upserts.sort(key=lambda c: c.id)
        self.retracted.sort()


@dataclass
class Observations:
    """One batch of fixes as the rule families see it.

    Attributes
    ----------
    batch
        The fixes, as columns.
    subject
        Subject index of each fix (-1: its tag was fitted to nobody then).
    tag
        Tag index of each fix (-1: tag not in the registry).
    segments
        Per subject with fixes in the batch, the indexes of its fixes in event-time order.
    previous_now, now
        Event time (the latest instant any fitted tag has reported) before and after the
        batch; a batch may be empty and only move event time on.
    feed
        From when the feed has been observed and when it was down
        (:mod:`geomonitor.rules.feed`): silence counts only where it was observed and up.
    """

    batch: FixBatch
    subject: np.ndarray
    tag: np.ndarray
    segments: list[np.ndarray]
    previous_now: int | None
    now: int | None
    feed: FeedView = field(default_factory=FeedView)

    @cached_property
    def tag32(self) -> np.ndarray:
        """Tag indexes as ``int32`` (what timelines store)."""
        return self.tag.astype(np.int32)

    @property
    def time_moved(self) -> bool:
        """Whether event time moved on with this batch."""
        return self.now is not None and (self.previous_now is None or self.now > self.previous_now)


class RuleFamily(ABC):
    """One family of rules: observations in, candidate changes out."""

    #: The family's name (what an engine's ``families`` selects).
    name: ClassVar[str]
    #: The kinds of candidate it raises.
    kinds: ClassVar[tuple[str, ...]]

    def observe(self, obs: Observations) -> Changes:
        """Take in a batch of fixes (or event time moving on); default: not concerned."""
        return Changes()

    def observe_reads(self, reads: list[Read]) -> Changes:
        """Take in ANPR reads (any order, duplicates allowed); default: not concerned."""
        return Changes()

    @abstractmethod
    def candidates(self) -> list[Candidate]:
        """Every candidate the family currently holds."""

    def device_events(self) -> list[DeviceEvent]:
        """Every device event the family currently holds (only device health has any)."""
        return []

    def holds(self, cid: str) -> bool:
        """Whether the family holds the candidate ``cid`` now (families that are asked
        often answer from an index)."""
        return any(c.id == cid for c in self.candidates())
