"""What every stream consumer shares: the store and its stream state, the engine of its
rule families, the outbox and publishing it exactly once, and the group-consumer loop of
the consumers that read an input topic.

Delivery
--------
* Each polled partition batch is one store transaction: the fixes or reads, rejections,
  candidate and device-event changes, the partition's next offset, and the output messages
  (an *outbox*). A crash before the commit loses nothing (the batch is consumed again from
  the stored offset, against an engine rebuilt from the store); a crash after it repeats
  nothing.
* On start and on every partition assignment the consumer seeks to the offsets in the
  store (the store is the truth, not the group's committed offsets).
* Output messages are published after the commit, from the outbox, each with a stable
  ``event_id`` header (``<store id>-<outbox seq>``). A consumer taking over a partition
  first publishes what its previous owner committed but had not published, skipping any
  message already on the output topic (found by reading the output partitions, from the
  last offset that owner is known to have published, to their ends): no output event is
  lost or duplicated.
"""

from __future__ import annotations

import logging
import queue
import signal
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson

from ...engine import Engine, EngineResult, kinds_of
from ...model.candidate import DeviceEvent
from ...model.errors import StreamError
from ...model.registry import Registry
from ...model.rejection import Rejection
from ...rules.base import DeviceKey
from ...store.domain import Store
from ...store.stream_state import StreamState
from .config import StreamConfig, broker_errors, client_options
from .faults import crash_point
from .messages import (
    Outbox,
    candidate_message,
    deadletter_row,
    device_message,
    rejected_messages,
    with_event_id,
)

log = logging.getLogger("geomonitor.stream")

#: How long a consumer taking over may spend reading its output topics to their ends.
SCAN_TIMEOUT_S = 120.0


@dataclass
class StreamStats:
    messages: int = 0
    accepted: int = 0
    rejected: int = 0
    published: int = 0
    batches: int = 0
    rebalances: int = 0
    seconds: float = 0.0
    #: time.monotonic() when the first and the last batch were committed
    first_batch_at: float | None = None
    last_batch_at: float | None = None


class Consumer(ABC):
    """One stream consumer process over one store.

    Parameters
    ----------
    cfg
        The configuration.
    store
        The store (opened on ``cfg.store`` when not given).
    """

    #: What it consumes: ``fixes``, ``anpr`` or ``colocation``.
    kind: ClassVar[str]
    #: The rule families it decides (see :data:`geomonitor.engine.FAMILIES`).
    families: ClassVar[frozenset[str]]

    def __init__(self, cfg: StreamConfig, store: Store | None = None):
        self.cfg = cfg
        self.store = store or Store(cfg.store)
        self.state = StreamState(self.store)
        #: What the engine judges by, as of when it was read (see :meth:`_judging_changed`).
        self._stamp = self.store.judging_stamp()
        self.registry: Registry = self.store.monitored_registry()
        #: fixes refused by law (withdrawn consent, data removed), read at start
        self.refused = self.store.refused_spans(self.store.current_registry())
        self.store_id = self.state.store_id()
        self.engine: Engine | None = None
        self.stats = StreamStats()
        self._stop = threading.Event()
        self._producer: Any = None

    @property
    @abstractmethod
    def topic(self) -> str:
        """The input topic (the follower's name for itself: it labels outbox and offsets)."""

    def owner(self, partition: int) -> str:
        return f"{self.cfg.group_id}/{self.topic}/{partition}"

    def kinds(self) -> set[str]:
        """The kinds of candidate this consumer decides (and keeps in sync in the store)."""
        return kinds_of(self.families)

    def new_engine(self) -> Engine:
        """An empty engine of this consumer's rule families."""
        cfg = self.cfg.engine_config()
        # the zones' covers kept in the store (built once, not on every rebuild)
        index = self.store.zone_index(self.registry, cfg) if "zones" in self.families else None
        return Engine(self.registry, cfg, index=index, families=self.families)

    # ------------------------------------------------------------------ lifecycle
    def stop(self) -> None:
        """Ask the loop to finish its current batch, commit and close."""
        self._stop.set()

    def run(self) -> StreamStats:
        """Consume until stopped (SIGTERM/SIGINT, :meth:`stop`, or ``idle_exit_s``)."""
        from kafka import KafkaProducer

        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: self.stop())
        t0 = time.monotonic()
        with broker_errors(self.cfg):
            self._producer = KafkaProducer(
                **client_options(self.cfg),
                client_id=f"{self.cfg.client_id}-out",
                acks="all",
                linger_ms=5,
            )
        try:
            with broker_errors(self.cfg):
                self._loop()
        finally:
            self._close()
            self.stats.seconds = time.monotonic() - t0
        return self.stats

    @abstractmethod
    def _loop(self) -> None:
        """Consume until stopped or idle."""

    def _close(self) -> None:
        if self._producer is not None:
            self._producer.flush()
            self._producer.close()

    def _judging_changed(self) -> bool:
        """Whether what the engine judges by changed since it was read (a registry load, an
        absence recorded or cancelled); if so, the registry is read again (the caller
        rebuilds its engine: candidates are judged again and corrected, saying why)."""
        stamp = self.store.judging_stamp()
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        self.registry = self.store.monitored_registry()
        self.refused = self.store.refused_spans(self.store.current_registry())
        return True

    # ------------------------------------------------------------------ output
    def _write_changes(self, res: EngineResult, outbox: Outbox) -> None:
        """Candidate and device-event changes into the store, and their output messages."""
        w = self.store.apply_candidates(res.upserts, res.retracted)
        self.store.apply_device_events(res.device_upserts, res.device_removed)
        self.store.note_authorised(res.authorised)
        self._queue(w.events, res.device_upserts, res.device_removed, outbox)

    def _queue(
        self,
        events: list[tuple[str, str, str, str | None]],
        device_upserts: list[DeviceEvent],
        device_removed: list[DeviceKey],
        outbox: Outbox,
    ) -> None:
        for cid, subject, action, body in events:
            value = candidate_message(cid, subject, action, body)
            outbox.append((self.cfg.candidates_topic, subject.encode(), value, "[]"))
        for ev in device_upserts:
            value = device_message(ev, ev.key, "upsert")
            outbox.append((self.cfg.device_events_topic, ev.tag_id.encode(), value, "[]"))
        for key in device_removed:
            value = device_message(None, key, "removed")
            outbox.append((self.cfg.device_events_topic, key[0].encode(), value, "[]"))

    def _publish(self, partition: int) -> None:
        """Send the partition's committed, unpublished output messages; wait for them."""
        rows = self.state.pending_outbox(self.owner(partition))
        if not rows:
            return
        sent = []
        for seq, topic, key, value, headers in rows:
            eid = f"{self.store_id}-{seq}"
            hs = [(k, v.encode()) for k, v in orjson.loads(headers)]
            hs.append(("event_id", eid.encode()))
            if topic != self.cfg.deadletter_topic:
                value = with_event_id(value, eid)
            sent.append((seq, self._producer.send(topic, key=key, value=value, headers=hs)))
        self._producer.flush()
        done = []
        for seq, fut in sent:
            md = fut.get()
            done.append((seq, md.partition, md.offset))
        crash_point("published")
        self.state.mark_published(done)
        self.stats.published += len(done)

    def _recover(self, partition: int) -> None:
        """Publish what an earlier owner of ``partition`` committed but may not have
        published, without duplicating what reached the output topics."""
        rows = self.state.pending_outbox(self.owner(partition))
        if not rows:
            return
        wanted = {f"{self.store_id}-{seq}": seq for seq, *_ in rows}
        found: list[tuple[int, int | None, int | None]] = []
        for topic in sorted({r[1] for r in rows}):
            for eid, p, off in self._scan(topic, self.owner(partition)):
                if eid in wanted:
                    found.append((wanted.pop(eid), p, off))
        if found:
            self.state.mark_published(found)
        log.info(
            "partition %d: %d output messages already published, %d to publish",
            partition,
            len(found),
            len(wanted),
        )
        self._publish(partition)

    def _scan(self, topic: str, owner: str) -> Iterator[tuple[str, int, int]]:
        """(event id, partition, offset) of output messages after the last offset known
        published for ``owner``, on every partition of ``topic``."""
        from kafka import KafkaConsumer, TopicPartition

        reader = KafkaConsumer(
            **client_options(self.cfg),
            client_id=f"{self.cfg.client_id}-recovery",
            enable_auto_commit=False,
            group_id=None,
        )
        try:
            parts = reader.partitions_for_topic(topic) or set()
            tps = [TopicPartition(topic, p) for p in sorted(parts)]
            if not tps:
                return
            reader.assign(tps)
            marks = self.state.published_marks(topic, owner)
            for tp in tps:
                if tp.partition in marks:
                    reader.seek(tp, marks[tp.partition] + 1)
                else:
                    reader.seek_to_beginning(tp)
            # Read every partition up to its end as it is now: a few empty polls are no
            # proof of the end (a broker may answer the first fetches empty), and stopping
            # early would publish again what is already there.
            ends = reader.end_offsets(tps)
            deadline = time.monotonic() + SCAN_TIMEOUT_S
            todo = {tp for tp in tps if reader.position(tp) < ends[tp]}
            while todo:
                if time.monotonic() > deadline:
                    raise StreamError(
                        f"could not read {topic} to its end within {SCAN_TIMEOUT_S:.0f} s to "
                        "find what was already published; nothing was published again"
                    )
                polled = reader.poll(timeout_ms=500)
                for tp, msgs in polled.items():
                    for m in msgs:
                        for k, v in m.headers or []:
                            if k == "event_id":
                                yield v.decode(), tp.partition, m.offset
                todo = {tp for tp in todo if reader.position(tp) < ends[tp]}
        finally:
            reader.close()


class TopicConsumer(Consumer):
    """A consumer of one input topic in a consumer group: partitions are assigned and
    revoked by the group, each polled partition batch is one store transaction."""

    def __init__(self, cfg: StreamConfig, store: Store | None = None):
        super().__init__(cfg, store)
        self.assigned: set[int] = set()
        #: Per partition, the offset up to which this consumer's engine has seen input.
        self._seen: dict[int, int] = {}
        self.rebalances: queue.SimpleQueue[tuple[str, set[int]]] = queue.SimpleQueue()
        self._consumer: Any = None

    # ------------------------------------------------------------------ for each input
    @abstractmethod
    def _rebuild(self) -> None:
        """The engine for the assigned partitions, from the store."""

    @abstractmethod
    def _take(
        self, partition: int, msgs: list[Any], source: str, outbox: Outbox
    ) -> tuple[int, list[Rejection]]:
        """Store and match one batch of messages inside its transaction; returns how many
        were accepted and the rejections."""

    def catch_up(self) -> bool:
        """When this consumer's partitions are quiet: move event time on if the group has
        (see :class:`~geomonitor.io.kafka.fixes.FixesConsumer`). Returns whether it moved."""
        return False

    # ------------------------------------------------------------------ the loop
    def _loop(self) -> None:
        from kafka import KafkaConsumer

        cfg = self.cfg
        self._consumer = KafkaConsumer(
            **client_options(cfg),
            group_id=cfg.group_id,
            client_id=cfg.client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=cfg.max_poll_records,
            max_poll_interval_ms=cfg.max_poll_interval_ms,
            session_timeout_ms=cfg.session_timeout_ms,
            heartbeat_interval_ms=cfg.heartbeat_interval_ms,
        )
        self._consumer.subscribe([self.topic], listener=_rebalance_listener(self))
        log.info("consuming %s as group %s", self.topic, cfg.group_id)
        last_data = last_log = time.monotonic()
        logged = 0
        while not self._stop.is_set():
            polled = self._consumer.poll(timeout_ms=cfg.poll_timeout_ms)
            # Records of partitions (re)assigned since are dropped: the assignment seeks
            # them to the store's offsets and they are fetched again from there.
            fresh = self._apply_rebalances()
            if self._judging_changed() and self.assigned:
                log.info("the orders changed: judging partitions %s again", sorted(self.assigned))
                self._rebuild()
                owner = min(self.assigned)
                self.state.claim_corrections(self.owner(owner), self.cfg.candidates_topic)
                self._publish(owner)
            now = time.monotonic()
            if fresh or not self.assigned:
                last_data = now  # idle means: partitions held and nothing on them
            if polled:
                last_data = now
                for tp, msgs in sorted(polled.items(), key=lambda kv: kv[0].partition):
                    if tp.partition in self.assigned and tp.partition not in fresh and msgs:
                        self._handle(tp.partition, msgs)
            elif self.catch_up():
                last_data = now  # the group moved on: not idle yet
            elif cfg.idle_exit_s is not None and now - last_data >= cfg.idle_exit_s:
                log.info("idle for %.0f s: stopping", now - last_data)
                break
            if now - last_log >= cfg.log_every_s:
                self._log_progress(now - last_log, self.stats.messages - logged)
                last_log, logged = now, self.stats.messages

    def _close(self) -> None:
        if self._consumer is not None:
            self._commit_to_group(self.assigned)
            self._consumer.close(autocommit=False)
        super()._close()
        log.info(
            "stopped: %d messages, %d accepted, %d rejected, %d published",
            self.stats.messages,
            self.stats.accepted,
            self.stats.rejected,
            self.stats.published,
        )

    def _log_progress(self, secs: float, n: int) -> None:
        from kafka import TopicPartition

        lag = 0
        try:
            tps = [TopicPartition(self.topic, p) for p in sorted(self.assigned)]
            ends = self._consumer.end_offsets(tps) if tps else {}
            for tp in tps:
                lag += max(0, int(ends.get(tp, 0)) - int(self._consumer.position(tp)))
        except Exception:  # lag is informative only
            lag = -1
        log.info(
            "%s: %.0f messages/s, partitions %s, lag %s",
            self.topic,
            n / secs if secs > 0 else 0.0,
            sorted(self.assigned),
            "unknown" if lag < 0 else lag,
        )

    # ------------------------------------------------------------------ rebalances
    def _apply_rebalances(self) -> set[int]:
        """Apply the assignment changes reported since the last poll; returns the
        partitions newly assigned."""
        fresh: set[int] = set()
        while True:
            try:
                what, parts = self.rebalances.get_nowait()
            except queue.Empty:
                return fresh
            if what == "revoked":
                self.on_revoked(parts)
                fresh -= parts
            else:
                self.on_assigned(parts)
                fresh |= parts

    def on_assigned(self, partitions: set[int]) -> None:
        """Rebuild state for the new assignment from the store, publish what earlier owners
        left unpublished, and seek to the stored offsets."""
        from kafka import TopicPartition

        self.stats.rebalances += 1
        self.assigned |= set(partitions)
        self._rebuild()
        for p in sorted(partitions):
            self._recover(p)
            crash_point("rebalance")
        offsets = self.state.offsets(self.cfg.group_id, self.topic)
        for p in sorted(partitions):
            tp = TopicPartition(self.topic, p)
            if p in offsets:
                self._consumer.seek(tp, offsets[p])
            else:
                self._consumer.seek_to_beginning(tp)
        log.info("assigned partitions %s of %s", sorted(self.assigned), self.topic)

    def on_revoked(self, partitions: set[int]) -> None:
        # Batches are committed to the store before the next poll, so nothing is pending
        # here; the group offsets are set for monitoring tools (the store is the truth).
        self._commit_to_group(partitions)
        self.assigned -= set(partitions)

    def _commit_to_group(self, partitions: Iterable[int]) -> None:
        from kafka import OffsetAndMetadata, TopicPartition

        offsets = self.state.offsets(self.cfg.group_id, self.topic)
        todo = {
            TopicPartition(self.topic, p): OffsetAndMetadata(offsets[p], "", -1)
            for p in partitions
            if p in offsets
        }
        if not todo:
            return
        try:
            self._consumer.commit(todo)
        except Exception as e:  # informative only: the store holds the offsets
            log.debug("group offset commit skipped: %s", type(e).__name__)

    # ------------------------------------------------------------------ batches
    def _handle(self, partition: int, msgs: list[Any]) -> None:
        source = f"{self.topic}/{partition}"
        outbox: Outbox = []
        with self.store.transaction():
            taken, accepted, rejected = self._write_batch(partition, msgs, source, outbox)
            crash_point("batch_written")
        if outbox:
            crash_point("committed")
        self.stats.messages += taken
        self.stats.accepted += accepted
        self.stats.rejected += rejected
        self.stats.batches += 1
        self._publish(partition)
        self.stats.last_batch_at = time.monotonic()
        if self.stats.first_batch_at is None:
            self.stats.first_batch_at = self.stats.last_batch_at
        if self.assigned and min(self.assigned) != partition:
            self._publish(min(self.assigned))  # corrections after a rebuild, if any

    def _write_batch(
        self, partition: int, msgs: list[Any], source: str, outbox: Outbox
    ) -> tuple[int, int, int]:
        """One batch's writes, inside its transaction; returns how many messages it took
        (those not already stored), accepted and rejected.

        Messages before the partition's stored offset are already in the store (a
        position reset to the group's older committed offset, or another consumer that
        held the partition meanwhile) and are skipped; in the second case this engine has
        not seen them, so it is rebuilt from the store first. The transaction holds the
        store's write lock, so consumers sharing the store cannot interleave here.
        """
        stored = self.state.offsets(self.cfg.group_id, self.topic).get(partition)
        if stored is not None:
            if stored > self._seen.get(partition, stored):
                log.info("partition %d: moved on by another consumer; rebuilding", partition)
                self._rebuild()
            msgs = [m for m in msgs if m.offset >= stored]
            if not msgs:
                return 0, 0, 0
        self.state.save_offset(self.cfg.group_id, self.topic, partition, msgs[-1].offset + 1)
        self._seen[partition] = msgs[-1].offset + 1
        accepted, rejections = self._take(partition, msgs, source, outbox)
        self.store.insert_rejections(rejections)
        for r, m in rejected_messages(rejections, msgs):
            outbox.append(deadletter_row(self.cfg.deadletter_topic, self.topic, partition, r, m))
        self.state.add_outbox(self.owner(partition), outbox)
        return len(msgs), accepted, len(rejections)


def _rebalance_listener(owner: TopicConsumer) -> Any:
    """kafka-python rebalance callbacks, forwarded to the consumer."""
    from kafka import ConsumerRebalanceListener

    # kafka-python may call these from its network thread: hand them to the loop, which
    # owns the store connection and applies them between polls.
    class Listener(ConsumerRebalanceListener):  # type: ignore[misc]
        def on_partitions_revoked(self, revoked: Any) -> None:
            owner.rebalances.put(("revoked", {tp.partition for tp in revoked}))

        def on_partitions_assigned(self, assigned: Any) -> None:
            owner.rebalances.put(("assigned", {tp.partition for tp in assigned}))

    return Listener()
