"""The co-location follower: non-association and undeclared vehicles, which join two
subjects' trails or trails and reads, whatever partitions or topics they came on.

It follows the store, not a topic: the fixes of the subjects concerned (from a log the
store keeps for it) and every stored read, and commits its position in both with the
results and the output messages, like a consumer. One follower runs per store and group
(a lease in the store keeps a second one out).
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from ...store.stream_state import lease_holder
from .base import Consumer, log
from .faults import crash_point
from .messages import Outbox

#: The follower's positions in the store, kept as stream offsets.
FIX_LOG, READ_ROWS = "store/fix_log", "store/anpr_reads"


class ColocationFollower(Consumer):
    """The co-location follower of a store."""

    kind: ClassVar[str] = "colocation"
    families: ClassVar[frozenset[str]] = frozenset({"colocation"})

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._holder = lease_holder(self)

    @property
    def topic(self) -> str:
        return "colocation"  # reads no topic: the name labels its outbox and positions

    def _loop(self) -> None:
        """Rebuild from the store, then match what it stores next."""
        cfg = self.cfg
        self._recover(0)
        self._rebuild()
        self._publish(0)
        last_data = last_log = time.monotonic()
        logged = 0
        while not self._stop.is_set():
            if self._judging_changed():
                log.info("the orders changed: judging again")
                self._rebuild()
                self.state.claim_corrections(self.owner(0), self.cfg.candidates_topic)
                self._publish(0)
            n = self.follow()
            now = time.monotonic()
            if n:
                last_data = now
            elif cfg.idle_exit_s is not None and now - last_data >= cfg.idle_exit_s:
                log.info("idle for %.0f s: stopping", now - last_data)
                break
            else:
                self._stop.wait(cfg.poll_timeout_ms / 1000)
            if now - last_log >= cfg.log_every_s:
                secs = now - last_log
                log.info(
                    "colocation: %.0f fixes and reads/s",
                    (self.stats.messages - logged) / secs if secs > 0 else 0.0,
                )
                last_log, logged = now, self.stats.messages

    def _close(self) -> None:
        self.state.release_lease(self.cfg.group_id, self._holder)
        super()._close()
        log.info(
            "stopped: %d fixes and reads followed, %d published",
            self.stats.messages,
            self.stats.published,
        )

    def _rebuild(self) -> None:
        """The follower's engine from everything stored; the store's co-location candidates
        made to agree with it (normally a no-op); following starts where the rebuild read."""
        engine = self.new_engine()
        subjects = {engine.subject_ids[i] for i in engine.trail_subjects}
        tags = sorted({f.tag_id for f in self.registry.fittings if f.subject_id in subjects})
        outbox: Outbox = []
        group = self.cfg.group_id
        with self.store.transaction():
            self.state.take_lease(group, self._holder)
            pos = self.state.follow_tags(tags)
            for batch in self.store.iter_fix_batches_of(tags):
                engine.process(batch)
            row = 0
            while True:
                reads, row2 = self.store.reads_after(row)
                if not reads:
                    break
                engine.process_reads(reads)
                row = row2
            cw = self.store.sync_candidates(
                engine.candidates(), kinds=self.kinds(), cause=engine.cause_of
            )
            self._queue(cw.events, [], [], outbox)
            self.state.add_outbox(self.owner(0), outbox)
            self.state.save_offset(group, FIX_LOG, 0, pos)
            self.state.save_offset(group, READ_ROWS, 0, row)
            crash_point("rebuilt")
        self.engine = engine
        log.info("co-location follower: %d tags followed, %d corrections", len(tags), len(outbox))

    def follow(self) -> int:
        """Match the fixes and reads stored since the last call, commit the results with
        the new positions, and publish them; returns how many fixes and reads it took."""
        assert self.engine is not None
        group = self.cfg.group_id
        outbox: Outbox = []
        with self.store.transaction():
            self.state.take_lease(group, self._holder)
            fpos = self.state.offsets(group, FIX_LOG).get(0, 0)
            rrow = self.state.offsets(group, READ_ROWS).get(0, 0)
            batch, fpos2 = self.state.logged_fixes(fpos)
            reads, rrow2 = self.store.reads_after(rrow)
            if len(batch) == 0 and not reads and fpos2 == fpos:
                return 0
            for res in (self.engine.process(batch), self.engine.process_reads(reads)):
                self._write_changes(res, outbox)
            self.state.add_outbox(self.owner(0), outbox)
            self.state.save_offset(group, FIX_LOG, 0, fpos2)
            self.state.save_offset(group, READ_ROWS, 0, rrow2)
            crash_point("batch_written")
        if outbox:
            crash_point("committed")
        self.stats.messages += len(batch) + len(reads)
        self.stats.accepted += len(batch) + len(reads)
        self.stats.batches += 1
        self._publish(0)
        return len(batch) + len(reads)
