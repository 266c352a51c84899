"""The fixes consumer: tag fixes in; zones, curfews and device health decided (a tag's own
fixes decide them), candidates, device events and dead letters out.

Per-tag engine state comes from the store: on assignment the engine is rebuilt from the
stored fixes of the tags seen on the assigned partitions. Consumers of a group share a
watermark of event time, so silences are judged as one consumer would judge them.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ...model.rejection import Rejection
from ..conflicts import refuse_conflicts
from ..consent import withhold
from ..decode import Clock, decode_fixes, wall_clock_ms
from .base import TopicConsumer, log
from .messages import Outbox, records_of


class FixesConsumer(TopicConsumer):
    """One consumer of the fixes topic."""

    kind: ClassVar[str] = "fixes"
    #: Feed outages are not judged here: a consumer sees only its partitions' tags, and
    #: runs ahead on some partitions while it catches up (docs/deployment.md).
    families: ClassVar[frozenset[str]] = frozenset({"zones", "curfews", "devices"})

    @property
    def topic(self) -> str:
        return self.cfg.fixes_topic

    def _rebuild(self) -> None:
        """The engine for the assigned partitions, from the fixes stored for their tags."""
        offsets = self.state.offsets(self.cfg.group_id, self.topic)
        self._seen = {p: offsets[p] for p in self.assigned if p in offsets}
        tags = self.state.tags_on_partitions(self.topic, self.assigned)
        engine = self.new_engine()
        for batch in self.store.iter_fix_batches_of(tags):
            engine.process(batch)
        self.engine = engine
        if not self.assigned:
            return
        # The store's candidates for these tags were written by whichever consumer held
        # them before, at its event time; bring the engine to the group's watermark and
        # make the store agree with it (normally a no-op).
        owner = min(self.assigned)
        outbox: Outbox = []
        with self.store.transaction():
            w = self.state.watermark(self.cfg.group_id, self.topic)
            if w is not None:
                engine.advance(w)
            tagset = set(tags)
            subjects = {f.subject_id for f in self.registry.fittings if f.tag_id in tagset}
            cw = self.store.sync_candidates(
                engine.candidates(), subjects, self.kinds(), cause=engine.cause_of
            )
            self.store.note_authorised(a for a in engine.authorised() if a.subject_id in subjects)
            ups, gone = self.store.sync_device_events(engine.device_events(), tagset)
            self._queue(cw.events, ups, gone, outbox)
            self.state.add_outbox(self.owner(owner), outbox)
        if outbox:
            log.info("partitions %s: %d corrections on rebuild", sorted(self.assigned), len(outbox))

    def _take(
        self, partition: int, msgs: list[Any], source: str, outbox: Outbox
    ) -> tuple[int, list[Rejection]]:
        assert self.engine is not None
        wall = wall_clock_ms()  # the receiving clock, read at the edge
        part = decode_fixes(
            records_of(msgs, wall),
            source,
            self.registry.tags,
            self.cfg.default_accuracy_m,
            Clock(wall, int(self.cfg.max_future_minutes * 60_000)),
            frozenset(self.cfg.keep_fields),
        )
        withhold(part, source, self.refused)
        conflicts = refuse_conflicts(self.engine, part, source)
        batch = part.items
        res = self.engine.process(batch)
        res.device_upserts += conflicts
        self.store.note_arrival(source, wall, batch.ts)
        self.store.insert_batch(batch)
        self.state.note_tag_partitions(self.topic, partition, set(batch.tag_id.tolist()))
        if self.engine.now is not None:
            self.state.raise_watermark(self.cfg.group_id, self.topic, self.engine.now)
        self._write_changes(res, outbox)
        return len(batch), part.rejections

    def catch_up(self) -> bool:
        """When this consumer's partitions are quiet: move its engine's event time on to
        the group's watermark (what the other consumers have matched up to), so silences
        of its tags are judged as a single consumer would. Returns whether it moved."""
        if self.engine is None or not self.assigned:
            return False
        w = self.state.watermark(self.cfg.group_id, self.topic)
        if w is None or (self.engine.now is not None and w <= self.engine.now):
            return False
        owner = min(self.assigned)
        outbox: Outbox = []
        with self.store.transaction():
            self._write_changes(self.engine.advance(w), outbox)
            self.state.add_outbox(self.owner(owner), outbox)
        self._publish(owner)
        return True
