"""Helpers of the stream tests: fresh topics per test, consumer processes, reading the
output topics back and comparing what the desk would see."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import orjson

from geomonitor.engine import kinds_of
from geomonitor.io.kafka import FAMILIES_OF, StreamConfig, ensure_topics, produce
from geomonitor.store.domain import Store

FIX_KINDS = kinds_of(FAMILIES_OF["fixes"])


def _config(broker, db: Path) -> StreamConfig:
    """Fresh topics and group per test; short group timeouts (tansu holds a join for the
    rebalance timeout)."""
    run = uuid.uuid4().hex[:8]
    return StreamConfig(
        bootstrap_servers=broker.bootstrap,
        group_id=f"g-{run}",
        client_id=f"c-{run}",
        fixes_topic=f"fixes-{run}",
        anpr_topic=f"anpr-{run}",
        candidates_topic=f"cands-{run}",
        device_events_topic=f"devices-{run}",
        deadletter_topic=f"dead-{run}",
        store=str(db),
        max_poll_records=300,
        poll_timeout_ms=200,
        max_poll_interval_ms=3000,
        session_timeout_ms=3000,
        heartbeat_interval_ms=500,
        idle_exit_s=4.0,
    )


def _published(broker, scenario, db: Path, partitions: int = 4) -> StreamConfig:
    """A fresh store with the registry, and the scenario's fixes on fresh topics."""
    cfg, _ = _publish(broker, scenario[1], db, partitions, fixes=scenario[0] / "fixes.jsonl")
    return cfg


def _publish(broker, registry, db: Path, partitions: int, **files) -> tuple[StreamConfig, dict]:
    """A fresh store with ``registry``; ``files`` (fixes=, anpr=) published on fresh
    topics. Returns the configuration and the messages sent per topic."""
    cfg = _config(broker, db)
    with Store(db) as st:
        st.load_registry(registry)
    ensure_topics(cfg, partitions=partitions)
    return cfg, produce(cfg, **files)


def _stored(db: Path, kinds: set[str] | None = None) -> list[dict]:
    with Store(db) as st:
        return sorted(
            (c.to_json() for c in st.candidates() if kinds is None or c.kind in kinds),
            key=lambda c: c["id"],
        )


def _same(got: list[dict], want: list[dict]) -> None:
    """Assert equal candidate lists, saying which differ."""
    g, w = {c["id"]: c for c in got}, {c["id"]: c for c in want}
    extra = [(i, g[i]["kind"]) for i in sorted(g.keys() - w.keys())]
    missing = [(i, w[i]["kind"]) for i in sorted(w.keys() - g.keys())]
    changed = [
        (i, sorted(k for k in w[i] if g[i].get(k) != w[i][k]))
        for i in sorted(g.keys() & w.keys())
        if g[i] != w[i]
    ]
    assert not (extra or missing or changed), f"extra {extra} missing {missing} changed {changed}"


def _read_topic(cfg: StreamConfig, topic: str) -> list:
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=cfg.bootstrap_servers, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic) or [])]
        c.assign(tps)
        c.seek_to_beginning()
        out, empty = [], 0
        while empty < 4:
            polled = c.poll(timeout_ms=400)
            empty = 0 if polled else empty + 1
            for msgs in polled.values():
                out.extend(msgs)
        return out
    finally:
        c.close()


def _fold_candidates(msgs) -> tuple[list[dict], list[str]]:
    """Apply the candidate events in order: the desk's view; and every event id."""
    live: dict[str, dict] = {}
    ids = []
    for m in sorted(msgs, key=lambda m: (m.partition, m.offset)):
        doc = orjson.loads(m.value)
        ids.append(doc["event_id"])
        assert dict(m.headers)["event_id"].decode() == doc["event_id"]
        if doc["action"] == "retracted":
            live.pop(doc["candidate_id"], None)
        else:
            live[doc["candidate_id"]] = doc["candidate"]
    return sorted(live.values(), key=lambda c: c["id"]), ids


def _desk_sees(cfg: StreamConfig, want: list[dict]) -> None:
    """The candidates topic, applied in order, gives ``want``; no event id twice."""
    desk, ids = _fold_candidates(_read_topic(cfg, cfg.candidates_topic))
    _same(desk, want)
    assert len(ids) == len(set(ids)), "an output event was published twice"


def _consumer_process(
    cfg: StreamConfig, idle_exit: float = 6.0, kind: str = "fixes", crash_at: str | None = None
) -> subprocess.Popen:
    """A consumer program (``geomonitor consume KIND``) on ``cfg``; ``crash_at`` arms a
    crash point (``NAME@N``, see :mod:`geomonitor.io.kafka.faults`)."""
    env = dict(os.environ)
    env.pop("GEOMONITOR_TEST_CRASH_AT", None)
    if crash_at:
        env["GEOMONITOR_TEST_CRASH_AT"] = crash_at
    env.update(
        GEOMONITOR_KAFKA_BOOTSTRAP_SERVERS=cfg.bootstrap_servers,
        GEOMONITOR_KAFKA_GROUP_ID=cfg.group_id,
        GEOMONITOR_KAFKA_CLIENT_ID=cfg.client_id,
        GEOMONITOR_KAFKA_MAX_POLL_RECORDS=str(cfg.max_poll_records),
        GEOMONITOR_KAFKA_POLL_TIMEOUT_MS=str(cfg.poll_timeout_ms),
        GEOMONITOR_KAFKA_MAX_POLL_INTERVAL_MS=str(cfg.max_poll_interval_ms),
        GEOMONITOR_KAFKA_SESSION_TIMEOUT_MS=str(cfg.session_timeout_ms),
        GEOMONITOR_KAFKA_HEARTBEAT_INTERVAL_MS=str(cfg.heartbeat_interval_ms),
        GEOMONITOR_TOPICS_FIXES=cfg.fixes_topic,
        GEOMONITOR_TOPICS_ANPR=cfg.anpr_topic,
        GEOMONITOR_TOPICS_CANDIDATES=cfg.candidates_topic,
        GEOMONITOR_TOPICS_DEVICE_EVENTS=cfg.device_events_topic,
        GEOMONITOR_TOPICS_DEADLETTER=cfg.deadletter_topic,
        GEOMONITOR_DB=cfg.store,
    )
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "geomonitor.app.cli",
            "consume",
            kind,
            "--idle-exit",
            str(idle_exit),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _wait_for_follower(cfg: StreamConfig, p: subprocess.Popen) -> None:
    """Until the follower has rebuilt and holds its lease (it then logs the fixes)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with Store(cfg.store) as st:
            row = st.db.execute(
                "SELECT 1 FROM meta WHERE key=?", (f"follower/{cfg.group_id}",)
            ).fetchone()
        if row is not None:
            return
        assert p.poll() is None, p.stdout.read().decode() if p.stdout else ""
        time.sleep(0.2)
    raise AssertionError("the follower did not start")
