"""Kafka stream consumers: fixes and ANPR reads in; candidates, device events and dead
letters out, effectively once.

The pipeline is the one ``geomonitor replay`` runs (validate -> engine -> store); this
module is the Kafka adapter around it.

Delivery
--------
* Each polled partition batch is one store transaction: the fixes, rejections, candidate
  and device-event changes, the partition's next offset, and the output messages (an
  *outbox*). A crash before the commit loses nothing (the batch is consumed again from the
  stored offset, against an engine rebuilt from the store); a crash after it repeats
  nothing.
* On start and on every partition assignment the consumer seeks to the offsets in the
  store (the store is the truth, not the group's committed offsets).
* Output messages are published after the commit, from the outbox, each with a stable
  ``event_id`` header (``<store id>-<outbox seq>``). A consumer taking over a partition
  first publishes what its previous owner committed but had not published, skipping any
  message already on the output topic (found by reading the output partitions from the
  last offset the store knows was published): no output event is lost or duplicated.
* Per-tag engine state comes from the store: on assignment the engine is rebuilt from the
  stored fixes of the tags seen on the assigned partitions.

Who decides what
----------------
* ``fixes`` consumers: zones, curfews and device health (a tag's own fixes decide them).
* ``anpr`` consumers: declared vehicles read in zones or during curfews (every consumer
  matches all stored reads of declared plates, whichever partition brought them).
* one ``colocation`` follower: non-association and undeclared vehicles, which join two
  subjects' trails or trails and reads, whatever partitions or topics they came on. It
  follows the store, not a topic: the fixes of the subjects concerned (from a log the
  store keeps for it) and every stored read, and commits its position in both with the
  results and the output messages, like a consumer.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import threading
import time
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import orjson

from ...engine import Engine, EngineConfig, EngineResult, kinds_of
from ...model.candidate import Candidate
from ...model.read import Read
from ...model.registry import Registry
from ...model.rejection import Rejection
from ...model.times import iso
from ...rules.device.health import DeviceConfig, DeviceEvent
from ...store.domain import Store, default_db_path
from ..replay import validate_fix_records, validate_reads
from ..sources import RawRecord, iter_records

log = logging.getLogger("geomonitor.stream")

#: The rule families each kind of consumer runs (see the module notes).
FAMILIES_OF = {
    "fixes": frozenset({"zones", "curfews", "devices"}),
    "anpr": frozenset({"vehicles"}),
    "colocation": frozenset({"colocation"}),
}
#: The co-location follower's positions in the store, kept as stream offsets.
_FIX_LOG, _READ_ROWS = "store/fix_log", "store/anpr_reads"
#: A follower that has not committed for this long is taken to be gone.
FOLLOWER_LEASE_S = 60.0

#: Output messages queued in a batch's transaction: (topic, key, value, headers as JSON).
Outbox = list[tuple[str, bytes | None, bytes, str]]


class ConfigError(ValueError):
    """A configuration file or variable that cannot be used."""


#: (TOML section, key) -> StreamConfig field. Environment variables override the file:
#: ``GEOMONITOR_<SECTION>_<KEY>`` (``GEOMONITOR_DB`` also sets the store path).
_KEYS: dict[tuple[str, str], str] = {
    ("kafka", "bootstrap_servers"): "bootstrap_servers",
    ("kafka", "group_id"): "group_id",
    ("kafka", "client_id"): "client_id",
    ("kafka", "max_poll_records"): "max_poll_records",
    ("kafka", "poll_timeout_ms"): "poll_timeout_ms",
    ("kafka", "max_poll_interval_ms"): "max_poll_interval_ms",
    ("kafka", "session_timeout_ms"): "session_timeout_ms",
    ("kafka", "heartbeat_interval_ms"): "heartbeat_interval_ms",
    ("topics", "fixes"): "fixes_topic",
    ("topics", "anpr"): "anpr_topic",
    ("topics", "candidates"): "candidates_topic",
    ("topics", "device_events"): "device_events_topic",
    ("topics", "deadletter"): "deadletter_topic",
    ("store", "path"): "store",
    ("thresholds", "default_accuracy_m"): "default_accuracy_m",
    ("thresholds", "curfew_no_signal_minutes"): "curfew_no_signal_minutes",
    ("thresholds", "no_contact_minutes"): "no_contact_minutes",
    ("thresholds", "low_battery_pct"): "low_battery_pct",
    ("run", "log_every_s"): "log_every_s",
    ("run", "idle_exit_s"): "idle_exit_s",
}


@dataclass
class StreamConfig:
    """Everything a stream consumer or producer needs (see ``docs/deployment.md``)."""

    bootstrap_servers: str = "localhost:9092"
    group_id: str = "geomonitor"
    client_id: str = "geomonitor"
    max_poll_records: int = 20_000
    poll_timeout_ms: int = 1000
    max_poll_interval_ms: int = 300_000
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 3_000
    fixes_topic: str = "geomonitor.fixes"
    anpr_topic: str = "geomonitor.anpr"
    candidates_topic: str = "geomonitor.candidates"
    device_events_topic: str = "geomonitor.device-events"
    deadletter_topic: str = "geomonitor.deadletter"
    store: str = field(default_factory=lambda: str(default_db_path()))
    # thresholds: the engine's own defaults
    default_accuracy_m: float = EngineConfig.default_accuracy_m
    curfew_no_signal_minutes: float = EngineConfig.curfew_no_signal_minutes
    no_contact_minutes: float = DeviceConfig.no_contact_minutes
    low_battery_pct: float = DeviceConfig.low_battery_pct
    log_every_s: float = 30.0
    #: Stop after this many seconds with nothing to consume (demos, tests); None: never.
    idle_exit_s: float | None = None

    def engine_config(self) -> EngineConfig:
        return EngineConfig(
            default_accuracy_m=self.default_accuracy_m,
            curfew_no_signal_minutes=self.curfew_no_signal_minutes,
            device=DeviceConfig(
                no_contact_minutes=self.no_contact_minutes, low_battery_pct=self.low_battery_pct
            ),
        )


def load_config(
    path: str | Path | None = None, env: Mapping[str, str] | None = None
) -> StreamConfig:
    """Configuration from a TOML file (optional) and environment variables (which win)."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    if path is not None:
        try:
            doc = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise ConfigError(f"{path}: {e}") from None
        for section, body in doc.items():
            if not isinstance(body, dict):
                raise ConfigError(f"{path}: [{section}] must be a table")
            for key, v in body.items():
                name = _KEYS.get((section, key))
                if name is None:
                    raise ConfigError(f"{path}: unknown setting {section}.{key}")
                values[name] = v
    if env.get("GEOMONITOR_DB"):
        values["store"] = env["GEOMONITOR_DB"]
    for (section, key), name in _KEYS.items():
        var = f"GEOMONITOR_{section}_{key}".upper()
        if var in env:
            values[name] = env[var]
    types = {f.name: f.type for f in fields(StreamConfig)}
    out: dict[str, Any] = {}
    for name, v in values.items():
        kind = str(types[name])
        try:
            if v is None or (kind.endswith("| None") and v in ("", "none")):
                out[name] = None
            elif kind.startswith("int"):
                out[name] = int(v)
            elif kind.startswith("float"):
                out[name] = float(v)
            else:
                out[name] = str(v)
        except (TypeError, ValueError):
            raise ConfigError(f"setting {name}: expected {kind}") from None
    return StreamConfig(**out)


# --------------------------------------------------------------------------- messages
def _records(msgs: Iterable[Any]) -> Iterator[RawRecord]:
    """Kafka messages as input records (locator ``offset N``)."""
    for m in msgs:
        raw = m.value if m.value is not None else b""
        loc = f"offset {m.offset}"
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            yield RawRecord(loc, raw, None, f"malformed JSON ({str(e).split(':')[0]})")
            continue
        yield RawRecord(loc, raw, value)


def candidate_message(cid: str, subject: str, action: str, body: str | None) -> bytes:
    """The JSON value of a ``geomonitor.candidates`` message (event id added at publish)."""
    cand = None if body is None else orjson.loads(body)
    return orjson.dumps(
        {"action": action, "candidate_id": cid, "subject_id": subject, "candidate": cand}
    )


def device_message(ev: DeviceEvent | None, key: tuple[str, str, int], action: str) -> bytes:
    tag, kind, started = key
    doc: dict[str, Any] = {
        "action": action,
        "tag_id": tag,
        "kind": kind,
        "started_at": iso(started),
    }
    if ev is not None:
        doc.update(
            ended_at=iso(ev.ended_at),
            subject_id=ev.details.get("subject_id"),
            details={k: v for k, v in ev.details.items() if k != "subject_id"},
            evidence_fixes=len(ev.evidence),
        )
    return orjson.dumps(doc)


def _with_event_id(value: bytes, event_id: str) -> bytes:
    """Put ``event_id`` first in a JSON object value."""
    head = orjson.dumps({"event_id": event_id})
    rest = value[1:]
    return head[:-1] + (b"," + rest if rest != b"}" else b"}")


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


class StreamConsumer:
    """One consumer process for one input topic (``fixes`` or ``anpr``), or the
    co-location follower of the store (``colocation``; see the module notes).

    Parameters
    ----------
    cfg
        The configuration.
    kind
        ``"fixes"``, ``"anpr"`` or ``"colocation"``.
    store
        The store (opened on ``cfg.store`` when not given).
    """

    def __init__(self, cfg: StreamConfig, kind: str, store: Store | None = None):
        if kind not in FAMILIES_OF:
            raise ValueError(f"kind must be fixes, anpr or colocation, not {kind!r}")
        self.cfg = cfg
        self.kind = kind
        # (the follower reads no topic: its name only labels its outbox and positions)
        self.topic = {"fixes": cfg.fixes_topic, "anpr": cfg.anpr_topic}.get(kind, "colocation")
        self.families = FAMILIES_OF[kind]
        self.store = store or Store(cfg.store)
        self.registry: Registry = self.store.current_registry()
        self.store_id = self.store.store_id()
        self.engine: Engine | None = None
        self.assigned: set[int] = set()
        #: Per partition, the offset up to which this consumer's engine has seen fixes.
        self._seen: dict[int, int] = {}
        self._read_mark = 0  # ANPR: last stored read row matched
        self.stats = StreamStats()
        self._stop = threading.Event()
        self.rebalances: queue.SimpleQueue[tuple[str, set[int]]] = queue.SimpleQueue()
        self._consumer: Any = None
        self._producer: Any = None

    # ------------------------------------------------------------------ lifecycle
    def stop(self) -> None:
        """Ask the loop to finish its current batch, commit and close."""
        self._stop.set()

    def run(self) -> StreamStats:
        """Consume until stopped (SIGTERM/SIGINT, :meth:`stop`, or ``idle_exit_s``)."""
        from kafka import KafkaConsumer, KafkaProducer

        cfg = self.cfg
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: self.stop())
        t0 = time.monotonic()
        self._producer = KafkaProducer(
            bootstrap_servers=cfg.bootstrap_servers,
            client_id=f"{cfg.client_id}-out",
            acks="all",
            linger_ms=5,
        )
        if self.kind == "colocation":
            return self._follow_store(t0)
        self._consumer = KafkaConsumer(
            bootstrap_servers=cfg.bootstrap_servers,
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
        try:
            while not self._stop.is_set():
                polled = self._consumer.poll(timeout_ms=cfg.poll_timeout_ms)
                # Records of partitions (re)assigned since are dropped: the assignment
                # seeks them to the store's offsets and they are fetched again from there.
                fresh = self._apply_rebalances()
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
        finally:
            self._close()
            self.stats.seconds = time.monotonic() - t0
        return self.stats

    def _close(self) -> None:
        if self._consumer is not None:
            self._commit_to_group(self.assigned)
            self._consumer.close(autocommit=False)
        if self._producer is not None:
            self._producer.flush()
            self._producer.close()
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

    def owner(self, partition: int) -> str:
        return f"{self.cfg.group_id}/{self.topic}/{partition}"

    def on_assigned(self, partitions: set[int]) -> None:
        """Rebuild state for the new assignment from the store, publish what earlier owners
        left unpublished, and seek to the stored offsets."""
        from kafka import TopicPartition

        self.stats.rebalances += 1
        self.assigned |= set(partitions)
        self._rebuild()
        for p in sorted(partitions):
            self._recover(p)
        offsets = self.store.stream_offsets(self.cfg.group_id, self.topic)
        for p in sorted(partitions):
            tp = TopicPartition(self.topic, p)
            if p in offsets:
                self._consumer.seek(tp, offsets[p])
            else:
                self._consumer.seek_to_beginning(tp)
        log.info("assigned partitions %s of %s", sorted(self.assigned), self.topic)

    def _rebuild(self) -> None:
        """The engine for the assigned partitions, from the fixes stored for their tags
        (fixes), or from every stored read of a declared vehicle (ANPR)."""
        if self.kind == "anpr":
            self._rebuild_vehicles()
            return
        offsets = self.store.stream_offsets(self.cfg.group_id, self.topic)
        self._seen = {p: offsets[p] for p in self.assigned if p in offsets}
        tags = self.store.tags_on_partitions(self.topic, self.assigned)
        engine = Engine(self.registry, self.cfg.engine_config(), families=self.families)
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
            w = self.store.stream_watermark(self.cfg.group_id, self.topic)
            if w is not None:
                engine.advance(w)
            tagset = set(tags)
            subjects = {f.subject_id for f in self.registry.fittings if f.tag_id in tagset}
            cw = self.store.sync_candidates(engine.candidates(), subjects, kinds_of(self.families))
            ups, gone = self.store.sync_device_events(engine.device_events(), tagset)
            self._queue(cw.events, ups, gone, outbox)
            self.store.add_outbox(self.owner(owner), outbox)
        if outbox:
            log.info("partitions %s: %d corrections on rebuild", sorted(self.assigned), len(outbox))

    def on_revoked(self, partitions: set[int]) -> None:
        # Batches are committed to the store before the next poll, so nothing is pending
        # here; the group offsets are set for monitoring tools (the store is the truth).
        self._commit_to_group(partitions)
        self.assigned -= set(partitions)

    def _commit_to_group(self, partitions: Iterable[int]) -> None:
        from kafka import OffsetAndMetadata, TopicPartition

        offsets = self.store.stream_offsets(self.cfg.group_id, self.topic)
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
        self,
        partition: int,
        msgs: list[Any],
        source: str,
        outbox: Outbox,
    ) -> tuple[int, int, int]:
        """One batch's writes, inside its transaction; returns how many messages it took
        (those not already stored), accepted and rejected.

        Messages before the partition's stored offset are already in the store (a
        position reset to the group's older committed offset, or another consumer that
        held the partition meanwhile) and are skipped; in the second case this engine has
        not seen them, so it is rebuilt from the store first. The transaction holds the
        store's write lock, so consumers sharing the store cannot interleave here.
        """
        stored = self.store.stream_offsets(self.cfg.group_id, self.topic).get(partition)
        if stored is not None:
            if stored > self._seen.get(partition, stored):
                log.info("partition %d: moved on by another consumer; rebuilding", partition)
                self._rebuild()
            msgs = [m for m in msgs if m.offset >= stored]
            if not msgs:
                return 0, 0, 0
        self.store.save_stream_offset(self.cfg.group_id, self.topic, partition, msgs[-1].offset + 1)
        self._seen[partition] = msgs[-1].offset + 1
        if self.kind == "fixes":
            accepted, rejections = self._match_fixes(partition, msgs, source, outbox)
        else:
            accepted, rejections = self._store_reads(msgs, source, outbox)
        self.store.insert_rejections(rejections)
        for r, m in _rejected_messages(rejections, msgs):
            outbox.append(self._deadletter(r, m, partition))
        self.store.add_outbox(self.owner(partition), outbox)
        return len(msgs), accepted, len(rejections)

    def _match_fixes(
        self,
        partition: int,
        msgs: list[Any],
        source: str,
        outbox: Outbox,
    ) -> tuple[int, list[Rejection]]:
        assert self.engine is not None
        part = validate_fix_records(
            _records(msgs), source, self.registry.tags, self.cfg.default_accuracy_m
        )
        batch = part.batch
        res: EngineResult = self.engine.process(batch)
        self.store.insert_batch(batch)
        self.store.note_tag_partitions(self.topic, partition, set(batch.tag_id.tolist()))
        if self.engine.now is not None:
            self.store.raise_stream_watermark(self.cfg.group_id, self.topic, self.engine.now)
        self._write_changes(res, outbox)
        return len(batch), part.rejections

    def _write_changes(self, res: EngineResult, outbox: Outbox) -> None:
        """Candidate and device-event changes into the store, and their output messages."""
        w = self.store.apply_candidates(res.upserts, res.retracted)
        self.store.apply_device_events(res.device_upserts, res.device_removed)
        self._queue(w.events, res.device_upserts, res.device_removed, outbox)

    def _queue(
        self,
        events: list[tuple[str, str, str, str | None]],
        device_upserts: list[DeviceEvent],
        device_removed: list[tuple[str, str, int]],
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

    def catch_up(self) -> bool:
        """When this consumer's partitions are quiet: move its engine's event time on to
        the group's watermark (what the other consumers have matched up to), so silences
        of its tags are judged as a single consumer would. Returns whether it moved."""
        if self.engine is None or not self.assigned:
            return False
        w = self.store.stream_watermark(self.cfg.group_id, self.topic)
        if w is None or (self.engine.now is not None and w <= self.engine.now):
            return False
        owner = min(self.assigned)
        outbox: Outbox = []
        with self.store.transaction():
            self._write_changes(self.engine.advance(w), outbox)
            self.store.add_outbox(self.owner(owner), outbox)
        self._publish(owner)
        return True

    def _store_reads(
        self, msgs: list[Any], source: str, outbox: Outbox
    ) -> tuple[int, list[Rejection]]:
        reads: list[Read] = []
        rejections: list[Rejection] = []
        for x in validate_reads(_records(msgs), source, self.registry):
            (reads if isinstance(x, Read) else rejections).append(x)  # type: ignore[arg-type]
        self.store.insert_reads(reads)
        self._match_reads(outbox)
        return len(reads), rejections

    # Reads are keyed by camera, so one vehicle's reads are spread over every partition:
    # each ANPR consumer matches all stored reads of declared vehicles (few among all
    # reads), picking up those other consumers stored, and writes only real changes.
    def _rebuild_vehicles(self) -> None:
        engine = Engine(self.registry, self.cfg.engine_config(), families=self.families)
        self.engine = engine
        self._read_mark = 0
        outbox: Outbox = []
        with self.store.transaction():
            self._match_reads(None)
            cw = self.store.sync_candidates(engine.candidates(), kinds=kinds_of(self.families))
            self._queue(cw.events, [], [], outbox)
            if self.assigned:
                self.store.add_outbox(self.owner(min(self.assigned)), outbox)

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

    # ------------------------------------------------------------------ co-location follower
    def _follow_store(self, t0: float) -> StreamStats:
        """The follower's loop: rebuild from the store, then match what it stores next."""
        cfg = self.cfg
        try:
            self._recover(0)
            self._rebuild_colocation()
            self._publish(0)
            last_data = last_log = time.monotonic()
            logged = 0
            while not self._stop.is_set():
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
        finally:
            self._release_lease()
            self._producer.flush()
            self._producer.close()
            self.stats.seconds = time.monotonic() - t0
            log.info(
                "stopped: %d fixes and reads followed, %d published",
                self.stats.messages,
                self.stats.published,
            )
        return self.stats

    def _take_lease(self) -> None:
        """One follower per store and group: a second one would publish every change
        twice. Inside the caller's transaction."""
        key = f"follower/{self.cfg.group_id}"
        me = f"{os.getpid()}@{os.uname().nodename}/{id(self)}"
        row = self.store.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        if row is not None:
            holder, at = row[0].rsplit(" ", 1)
            if holder != me and time.time() - float(at) < FOLLOWER_LEASE_S and _alive(holder):
                raise RuntimeError(
                    "another co-location follower is running on this store for group "
                    f"{self.cfg.group_id!r} (or stopped less than {FOLLOWER_LEASE_S:.0f} s ago)"
                )
        self.store.db.execute(
            "INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (key, f"{me} {time.time()}"),
        )

    def _release_lease(self) -> None:
        with self.store.transaction():
            self.store.db.execute(
                "DELETE FROM meta WHERE key=?", (f"follower/{self.cfg.group_id}",)
            )

    def _rebuild_colocation(self) -> None:
        """The follower's engine from everything stored; the store's co-location candidates
        made to agree with it (normally a no-op); following starts where the rebuild read."""
        engine = Engine(self.registry, self.cfg.engine_config(), families=self.families)
        subjects = {engine.subject_ids[i] for i in engine.trail_subjects}
        tags = sorted({f.tag_id for f in self.registry.fittings if f.subject_id in subjects})
        outbox: Outbox = []
        group = self.cfg.group_id
        with self.store.transaction():
            self._take_lease()
            pos = self.store.follow_tags(tags)
            for batch in self.store.iter_fix_batches_of(tags):
                engine.process(batch)
            row = 0
            while True:
                reads, row2 = self.store.reads_after(row)
                if not reads:
                    break
                engine.process_reads(reads)
                row = row2
            cw = self.store.sync_candidates(engine.candidates(), kinds=kinds_of(self.families))
            self._queue(cw.events, [], [], outbox)
            self.store.add_outbox(self.owner(0), outbox)
            self.store.save_stream_offset(group, _FIX_LOG, 0, pos)
            self.store.save_stream_offset(group, _READ_ROWS, 0, row)
        self.engine = engine
        log.info("co-location follower: %d tags followed, %d corrections", len(tags), len(outbox))

    def follow(self) -> int:
        """Match the fixes and reads stored since the last call, commit the results with
        the new positions, and publish them; returns how many fixes and reads it took."""
        assert self.engine is not None
        group = self.cfg.group_id
        outbox: Outbox = []
        with self.store.transaction():
            self._take_lease()
            fpos = self.store.stream_offsets(group, _FIX_LOG).get(0, 0)
            rrow = self.store.stream_offsets(group, _READ_ROWS).get(0, 0)
            batch, fpos2 = self.store.logged_fixes(fpos)
            reads, rrow2 = self.store.reads_after(rrow)
            if len(batch) == 0 and not reads and fpos2 == fpos:
                return 0
            for res in (self.engine.process(batch), self.engine.process_reads(reads)):
                self._write_changes(res, outbox)
            self.store.add_outbox(self.owner(0), outbox)
            self.store.save_stream_offset(group, _FIX_LOG, 0, fpos2)
            self.store.save_stream_offset(group, _READ_ROWS, 0, rrow2)
        self.stats.messages += len(batch) + len(reads)
        self.stats.accepted += len(batch) + len(reads)
        self.stats.batches += 1
        self._publish(0)
        return len(batch) + len(reads)

    def _deadletter(
        self, r: Rejection, m: Any, partition: int
    ) -> tuple[str, bytes | None, bytes, str]:
        headers = [
            ["source_topic", self.topic],
            ["source_partition", str(partition)],
            ["source_offset", str(m.offset)],
            ["reason", r.reason],
            ["field", r.field or ""],
            ["message", r.message],
        ]
        value = m.value if m.value is not None else b""
        return (self.cfg.deadletter_topic, m.key, value, orjson.dumps(headers).decode())

    # ------------------------------------------------------------------ output
    def _publish(self, partition: int) -> None:
        """Send the partition's committed, unpublished output messages; wait for them."""
        rows = self.store.pending_outbox(self.owner(partition))
        if not rows:
            return
        sent = []
        for seq, topic, key, value, headers in rows:
            eid = f"{self.store_id}-{seq}"
            hs = [(k, v.encode()) for k, v in orjson.loads(headers)]
            hs.append(("event_id", eid.encode()))
            if topic != self.cfg.deadletter_topic:
                value = _with_event_id(value, eid)
            sent.append((seq, self._producer.send(topic, key=key, value=value, headers=hs)))
        self._producer.flush()
        done = []
        for seq, fut in sent:
            md = fut.get()
            done.append((seq, md.partition, md.offset))
        self.store.mark_published(done)
        self.stats.published += len(done)

    def _recover(self, partition: int) -> None:
        """Publish what an earlier owner of ``partition`` committed but may not have
        published, without duplicating what reached the output topics."""
        rows = self.store.pending_outbox(self.owner(partition))
        if not rows:
            return
        wanted = {f"{self.store_id}-{seq}": seq for seq, *_ in rows}
        found: list[tuple[int, int | None, int | None]] = []
        for topic in sorted({r[1] for r in rows}):
            for eid, p, off in self._scan(topic):
                if eid in wanted:
                    found.append((wanted.pop(eid), p, off))
        if found:
            self.store.mark_published(found)
        log.info(
            "partition %d: %d output messages already published, %d to publish",
            partition,
            len(found),
            len(wanted),
        )
        self._publish(partition)

    def _scan(self, topic: str) -> Iterator[tuple[str, int, int]]:
        """(event id, partition, offset) of output messages after the last offset this
        store knows it published, on every partition of ``topic``."""
        from kafka import KafkaConsumer, TopicPartition

        reader = KafkaConsumer(
            bootstrap_servers=self.cfg.bootstrap_servers,
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
            marks = self.store.published_marks(topic)
            for tp in tps:
                if tp.partition in marks:
                    reader.seek(tp, marks[tp.partition] + 1)
                else:
                    reader.seek_to_beginning(tp)
            empty = 0
            while empty < 3:
                polled = reader.poll(timeout_ms=500)
                if not polled:
                    empty += 1
                    continue
                empty = 0
                for tp, msgs in polled.items():
                    for m in msgs:
                        for k, v in m.headers or []:
                            if k == "event_id":
                                yield v.decode(), tp.partition, m.offset
        finally:
            reader.close()


def _alive(holder: str) -> bool:
    """Whether a lease holder (``pid@host/...``) may still be running: a process on
    another host is taken to be; one on this host is asked."""
    pid, _, rest = holder.partition("@")
    if rest.split("/", 1)[0] != os.uname().nodename:
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


def _rejected_messages(
    rejections: list[Rejection], msgs: list[Any]
) -> Iterator[tuple[Rejection, Any]]:
    by_loc = {f"offset {m.offset}": m for m in msgs}
    for r in rejections:
        m = by_loc.get(r.locator)
        if m is not None:
            yield r, m


def _rebalance_listener(owner: StreamConsumer) -> Any:
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


# --------------------------------------------------------------------------- producing
def ensure_topics(cfg: StreamConfig, partitions: int) -> None:
    """Create the input and output topics that do not exist yet."""
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=cfg.bootstrap_servers, client_id=cfg.client_id)
    try:
        have = set(admin.list_topics())
        names = [
            cfg.fixes_topic,
            cfg.anpr_topic,
            cfg.candidates_topic,
            cfg.device_events_topic,
            cfg.deadletter_topic,
        ]
        new = [NewTopic(n, partitions, 1) for n in names if n not in have]
        if new:
            try:
                admin.create_topics(new)
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()


def produce(
    cfg: StreamConfig, fixes: str | Path | None = None, anpr: str | Path | None = None
) -> dict[str, int]:
    """Publish fix and read files (JSONL, CSV, gzip) to the input topics, keyed by tag and
    by camera; records that do not decode are published as they are (the consumer
    dead-letters them). Returns how many messages went to each topic."""
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=cfg.bootstrap_servers,
        client_id=f"{cfg.client_id}-producer",
        acks="all",
        linger_ms=20,
        batch_size=256 * 1024,
    )
    counts: dict[str, int] = {}
    try:
        for path, topic, key_field in (
            (fixes, cfg.fixes_topic, "tag_id"),
            (anpr, cfg.anpr_topic, "camera_id"),
        ):
            if path is None:
                continue
            n = 0
            for rec in iter_records(path):
                if isinstance(rec.value, dict):
                    key = str(rec.value.get(key_field) or "").encode() or None
                    value = (
                        rec.raw_bytes
                        if rec.raw_bytes.lstrip().startswith(b"{")
                        else orjson.dumps(rec.value)  # a CSV row
                    )
                else:
                    key, value = None, rec.raw_bytes
                producer.send(topic, key=key, value=value)
                n += 1
            counts[topic] = n
        producer.flush()
    finally:
        producer.close()
    return counts


def candidate_of(message_value: bytes) -> Candidate | None:
    """The candidate carried by a ``geomonitor.candidates`` message (None: retracted)."""
    doc = orjson.loads(message_value)
    c = doc.get("candidate")
    return None if c is None else Candidate.from_json(c)
