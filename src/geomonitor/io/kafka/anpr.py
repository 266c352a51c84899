"""The ANPR consumer: reads in; declared vehicles read in exclusion zones or during
curfews decided.

Reads are keyed by camera, so one vehicle's reads are spread over every partition: each
ANPR consumer matches all stored reads of declared vehicles (few among all reads), picking
up those other consumers stored, and writes only real changes.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ...model.rejection import Rejection
from ..decode import Clock, decode_reads, wall_clock_ms
from .base import TopicConsumer
from .messages import Outbox, records_of


class AnprConsumer(TopicConsumer):
    """One consumer of the ANPR topic."""

    kind: ClassVar[str] = "anpr"
    families: ClassVar[frozenset[str]] = frozenset({"vehicles"})

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._read_mark = 0  # last stored read row matched

    @property
    def topic(self) -> str:
        return self.cfg.anpr_topic

    def _rebuild(self) -> None:
        """The engine from every stored read of a declared vehicle."""
        self.engine = self.new_engine()
        self._read_mark = 0
        outbox: Outbox = []
        with self.store.transaction():
            self._match_reads(None)
            cw = self.store.sync_candidates(
                self.engine.candidates(), kinds=self.kinds(), cause=self.engine.cause_of
            )
            self._queue(cw.events, [], [], outbox)
            if self.assigned:
                self.state.add_outbox(self.owner(min(self.assigned)), outbox)

    def _take(
        self, partition: int, msgs: list[Any], source: str, outbox: Outbox
    ) -> tuple[int, list[Rejection]]:
        wall = wall_clock_ms()  # the receiving clock, read at the edge
        clock = Clock(wall, int(self.cfg.max_future_minutes * 60_000))
        got = decode_reads(
            records_of(msgs, wall),
            source,
            self.registry.cameras,
            clock,
            frozenset(self.cfg.keep_fields),
        )
        self.store.insert_reads(got.items)
        self._match_reads(outbox)
        return len(got.items), got.rejections

    def _match_reads(self, outbox: Outbox | None) -> None:
        assert self.engine is not None
        new, self._read_mark = self.store.reads_of_vehicles(
            self.engine.vehicles.declared, self._read_mark
        )
        res = self.engine.process_reads(new)
        if outbox is None:
            return
        w = self.store.apply_candidates(res.upserts, res.retracted, only_changed=True)
        self._queue(w.events, [], [], outbox)
