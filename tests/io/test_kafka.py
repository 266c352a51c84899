"""Kafka stream consumers against a real Kafka-protocol broker (tansu): the same candidates
as a file replay, crashes without loss or duplicates, two consumers in a group, dead
letters."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import orjson
import pytest

from geomonitor.engine import kinds_of
from geomonitor.io.kafka import (
    FAMILIES_OF,
    ConfigError,
    StreamConfig,
    ensure_topics,
    load_config,
    open_consumer,
    produce,
)
from geomonitor.io.replay import replay
from geomonitor.model.registry_load import load_registry_file
from geomonitor.sim import simulate
from geomonitor.store.domain import Store
from geomonitor.store.stream_state import StreamState

FIX_KINDS = kinds_of(FAMILIES_OF["fixes"])


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    """A small simulated scenario and what a file replay of its fixes makes of it (the
    candidates a fixes consumer decides: zones, curfews, device health)."""
    out = tmp_path_factory.mktemp("stream")
    simulate(out, subjects=10, days=2, seed=5)
    reg, _ = load_registry_file(out / "registry.json")
    with Store(out / "replay.db") as st:
        st.load_registry(reg)
        replay(st, out / "fixes.jsonl", progress=False)
        want = sorted(
            (c.to_json() for c in st.candidates() if c.kind in FIX_KINDS), key=lambda c: c["id"]
        )
        rejected = len(st.rejections(limit=100_000))
    assert want and rejected, "the scenario must have candidates and bad records"
    return out, reg, want, rejected


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
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
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
    cfg: StreamConfig, idle_exit: float = 6.0, kind: str = "fixes"
) -> subprocess.Popen:
    env = dict(os.environ)
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


def test_the_stream_gives_the_same_candidates_as_a_replay(kafka_broker, scenario, tmp_path):
    out, reg, want, rejected = scenario
    cfg, sent = _publish(kafka_broker, reg, tmp_path / "s.db", 4, fixes=out / "fixes.jsonl")
    with Store(cfg.store) as st:
        stats = open_consumer(cfg, "fixes", st).run()
    assert stats.messages == sent[cfg.fixes_topic]
    assert stats.rejected == rejected
    _same(_stored(tmp_path / "s.db", FIX_KINDS), want)
    # The candidates topic, applied in order, is the desk's view: the same candidates.
    _desk_sees(cfg, want)


def test_sigkill_mid_stream_loses_and_duplicates_nothing(kafka_broker, scenario, tmp_path):
    _, _, want, rejected = scenario
    cfg = _published(kafka_broker, scenario, tmp_path / "k.db", 4)
    rng = random.Random(7)
    kills = 0
    for _ in range(4):
        p = _consumer_process(cfg)
        time.sleep(rng.uniform(3.5, 7.0))  # joins after ~3 s, then dies mid-stream
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            kills += 1
        p.wait(30)
    assert kills >= 2
    # Idle long enough for the group to drop the last killed member (session timeout)
    # and hand this one all the partitions.
    p = _consumer_process(cfg, idle_exit=15.0)
    output = p.communicate(timeout=240)[0].decode()
    assert p.returncode == 0, output
    _same(_stored(tmp_path / "k.db", FIX_KINDS), want)
    _desk_sees(cfg, want)
    dead = _read_topic(cfg, cfg.deadletter_topic)
    assert len(dead) == rejected
    assert len({dict(m.headers)["event_id"] for m in dead}) == rejected
    with Store(cfg.store) as st:
        assert len(st.rejections(limit=100_000)) == rejected


def test_two_consumers_in_a_group_share_the_work(kafka_broker, scenario, tmp_path):
    _, _, want, _ = scenario
    cfg = _published(kafka_broker, scenario, tmp_path / "two.db", 4)
    procs = [_consumer_process(cfg) for _ in range(2)]
    logs = [p.communicate(timeout=240)[0].decode() for p in procs]
    assert all(p.returncode == 0 for p in procs), logs
    # Both took part (each logged an assignment of its own partitions).
    assert all("assigned partitions [" in log_ for log_ in logs), logs
    _same(_stored(tmp_path / "two.db", FIX_KINDS), want)
    _desk_sees(cfg, want)


def test_malformed_messages_go_to_the_dead_letter_topic(kafka_broker, scenario, tmp_path):
    from kafka import KafkaProducer

    out, reg, _, _ = scenario
    cfg, _ = _publish(kafka_broker, reg, tmp_path / "d.db", 2)
    good = next(
        line
        for line in (out / "fixes.jsonl").read_bytes().splitlines()
        if b'"tag_id"' in line and b'"ts"' in line and b'"lat"' in line
    )
    bad = [b"not json at all", b'{"tag_id": "BUD-X", "ts": "2026-11-16T10:00:00"}', b"[]"]
    producer = KafkaProducer(bootstrap_servers=cfg.bootstrap_servers)
    for v in [bad[0], good, bad[1], bad[2], good]:
        producer.send(cfg.fixes_topic, key=b"k", value=v)
    producer.flush()
    producer.close()
    with Store(cfg.store) as st:
        stats = open_consumer(cfg, "fixes", st).run()
        assert (stats.messages, stats.accepted, stats.rejected) == (5, 2, 3)
        reasons = sorted(r["reason"] for r in st.rejections())
    assert reasons == ["malformed", "malformed", "naive_time"]
    dead = _read_topic(cfg, cfg.deadletter_topic)
    assert sorted(m.value for m in dead) == sorted(bad)
    for m in dead:
        h = {k: v.decode() for k, v in m.headers}
        assert h["source_topic"] == cfg.fixes_topic
        assert int(h["source_offset"]) in (0, 2, 3)
        assert h["reason"] in ("malformed", "naive_time") and h["message"]


def test_configuration_from_toml_and_environment(tmp_path):
    f = tmp_path / "geomonitor.toml"
    f.write_text(
        '[kafka]\nbootstrap_servers = "k1:9092,k2:9092"\ngroup_id = "desk"\n'
        '[topics]\nfixes = "wy.fixes"\n[thresholds]\nno_contact_minutes = 90\n'
    )
    cfg = load_config(f, env={"GEOMONITOR_KAFKA_GROUP_ID": "night", "GEOMONITOR_DB": "x.db"})
    assert cfg.bootstrap_servers == "k1:9092,k2:9092"
    assert cfg.group_id == "night"  # the environment wins
    assert cfg.fixes_topic == "wy.fixes" and cfg.candidates_topic == "geomonitor.candidates"
    assert cfg.store == "x.db"
    assert cfg.engine_config().device.no_contact_minutes == 90
    f.write_text("[kafka]\nbootstrap = 'oops'\n")
    with pytest.raises(ConfigError, match=r"kafka\.bootstrap"):
        load_config(f, env={})
    with pytest.raises(ConfigError, match="max_poll_records"):
        load_config(None, env={"GEOMONITOR_KAFKA_MAX_POLL_RECORDS": "many"})


def test_candidate_messages_carry_no_more_than_the_candidate(tmp_path):
    from geomonitor.io.kafka import candidate_message, with_event_id

    v = candidate_message("C-1", "S-1", "retracted", None)
    doc = json.loads(with_event_id(v, "abc-1"))
    assert doc == {
        "event_id": "abc-1",
        "action": "retracted",
        "candidate_id": "C-1",
        "subject_id": "S-1",
        "candidate": None,
    }


def test_a_crash_between_publishing_and_recording_it_duplicates_nothing(
    kafka_broker, scenario, tmp_path, monkeypatch
):
    """The worst moment to die: output messages are on the topics but the store does not
    know. The next owner finds them there and publishes only the rest."""
    _, _, want, _ = scenario
    cfg = _published(kafka_broker, scenario, tmp_path / "c.db", 2)

    class Crash(Exception):
        pass

    calls = {"n": 0}
    real = StreamState.mark_published

    def flaky(self, done):
        calls["n"] += 1
        if calls["n"] == 3:
            raise Crash  # published, not recorded
        return real(self, done)

    monkeypatch.setattr(StreamState, "mark_published", flaky)
    with Store(cfg.store) as st, pytest.raises(Crash):
        open_consumer(cfg, "fixes", st).run()
    monkeypatch.setattr(StreamState, "mark_published", real)
    with Store(cfg.store) as st:
        assert st.db.execute("SELECT COUNT(*) FROM outbox WHERE published=0").fetchone()[0]
        open_consumer(cfg, "fixes", st).run()
        assert st.db.execute("SELECT COUNT(*) FROM outbox WHERE published=0").fetchone()[0] == 0
    _desk_sees(cfg, want)


def test_the_example_configuration_loads_with_the_defaults():
    example = Path(__file__).parents[2] / "consumers" / "geomonitor.example.toml"
    cfg = load_config(example, env={})
    assert cfg == StreamConfig(store="geomonitor.db")


def test_sigterm_finishes_the_batch_commits_and_closes(kafka_broker, scenario, tmp_path):
    _, _, want, _ = scenario
    cfg = _published(kafka_broker, scenario, tmp_path / "t.db", 2)
    cfg.max_poll_records = 200
    p = _consumer_process(cfg)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # until it has committed some batches
        with Store(cfg.store) as st:
            if sum(StreamState(st).offsets(cfg.group_id, cfg.fixes_topic).values()) > 1000:
                break
        time.sleep(0.2)
    p.send_signal(signal.SIGTERM)
    output = p.communicate(timeout=60)[0].decode()
    assert p.returncode == 0, output
    assert "consumed" in output
    with Store(cfg.store) as st:
        assert st.db.execute("SELECT COUNT(*) FROM outbox WHERE published=0").fetchone()[0] == 0
        done = sum(StreamState(st).offsets(cfg.group_id, cfg.fixes_topic).values())
    assert done > 0
    p = _consumer_process(cfg, idle_exit=15.0)  # the rest, from where it stopped
    assert p.wait(240) == 0
    _same(_stored(tmp_path / "t.db", FIX_KINDS), want)
    _desk_sees(cfg, want)


def test_the_anpr_consumer_stores_reads_and_dead_letters_bad_ones(kafka_broker, scenario, tmp_path):
    out, reg, _, _ = scenario
    with Store(tmp_path / "ref.db") as st:
        st.load_registry(reg)
        s, _ = replay(st, None, out / "anpr.jsonl", progress=False)
    assert s.anpr_accepted and s.anpr_rejected
    cfg, sent = _publish(kafka_broker, reg, tmp_path / "a.db", 2, anpr=out / "anpr.jsonl")
    with Store(cfg.store) as st:
        stats = open_consumer(cfg, "anpr", st).run()
        assert st.read_count() == s.anpr_accepted - s.anpr_duplicates
        assert stats.rejected == sum(s.anpr_rejected.values())
    assert stats.messages == sent[cfg.anpr_topic] == s.anpr_read
    assert len(_read_topic(cfg, cfg.deadletter_topic)) == stats.rejected


def test_anpr_through_kafka_gives_the_same_vehicle_candidates_as_a_replay(kafka_broker, tmp_path):
    from ..rules.test_vehicle import reg, write_reads

    path = write_reads(tmp_path / "anpr.jsonl")
    with Store(tmp_path / "ref.db") as st:
        st.load_registry(reg())
        replay(st, None, path, progress=False)
        want = sorted((c.to_json() for c in st.candidates()), key=lambda c: c["id"])
    assert {c["kind"] for c in want} == {"vehicle_in_exclusion_zone", "curfew_vehicle_sighting"}
    cfg, _ = _publish(kafka_broker, reg(), tmp_path / "v.db", 3, anpr=path)
    with Store(cfg.store) as st:
        open_consumer(cfg, "anpr", st).run()
    _same(_stored(tmp_path / "v.db"), want)
    _desk_sees(cfg, want)


@pytest.fixture(scope="module")
def everything(scenario):
    """What a replay of the scenario's fixes and reads makes of it: every kind, with
    non-association meetings and undeclared-vehicle journeys among them."""
    out, reg, _, _ = scenario
    with Store(out / "replay-all.db") as st:
        st.load_registry(reg)
        replay(st, out / "fixes.jsonl", out / "anpr.jsonl", progress=False)
        want = sorted((c.to_json() for c in st.candidates()), key=lambda c: c["id"])
    kinds = {c["kind"] for c in want}
    assert {"non_association", "undeclared_vehicle", "vehicle_in_exclusion_zone"} <= kinds
    return want


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


def test_all_three_programs_give_the_same_candidates_as_a_replay(
    kafka_broker, scenario, everything, tmp_path
):
    """The follower runs beside the ANPR and fixes consumers, matching what they store as
    they store it; together they raise what one replay of both files raises. The reads
    come first: the fixes consumer's rebuild leaves the ANPR-made candidates alone, and
    the follower matches the reads again as the fixes arrive."""
    out, reg, _, _ = scenario
    cfg, _ = _publish(
        kafka_broker,
        reg,
        tmp_path / "all.db",
        3,
        fixes=out / "fixes.jsonl",
        anpr=out / "anpr.jsonl",
    )
    follower = _consumer_process(cfg, idle_exit=8.0, kind="colocation")
    _wait_for_follower(cfg, follower)
    with Store(cfg.store) as st:
        open_consumer(cfg, "anpr", st).run()
        assert {c.kind for c in st.candidates()} >= {"vehicle_in_exclusion_zone"}
        open_consumer(cfg, "fixes", st).run()
        # A fixes consumer restarting rebuilds its subjects' candidates from the store: it
        # must leave the kinds it does not decide (declared and undeclared vehicles,
        # non-association) as they are.
        open_consumer(cfg, "fixes", st).run()
    assert follower.wait(120) == 0, follower.stdout.read().decode() if follower.stdout else ""
    _same(_stored(tmp_path / "all.db"), everything)
    _desk_sees(cfg, everything)
    with Store(cfg.store) as st:  # the follower took everything it logged
        assert st.db.execute("SELECT COUNT(*) FROM fix_log").fetchone()[0] < 5000


def test_the_follower_killed_mid_stream_loses_and_duplicates_nothing(
    kafka_broker, scenario, everything, tmp_path
):
    out, reg, _, _ = scenario
    cfg, _ = _publish(
        kafka_broker, reg, tmp_path / "kf.db", 3, fixes=out / "fixes.jsonl", anpr=out / "anpr.jsonl"
    )
    cfg.max_poll_records = 100  # many small batches: many points to be killed at
    follower = _consumer_process(cfg, idle_exit=60.0, kind="colocation")
    _wait_for_follower(cfg, follower)
    with Store(cfg.store) as st:
        open_consumer(cfg, "fixes", st).run()
    follower.send_signal(signal.SIGKILL)  # mid-way: reads not yet matched, or being
    follower.wait(30)
    with Store(cfg.store) as st:
        open_consumer(cfg, "anpr", st).run()
    again = _consumer_process(cfg, idle_exit=5.0, kind="colocation")
    assert again.wait(120) == 0, again.stdout.read().decode() if again.stdout else ""
    _same(_stored(tmp_path / "kf.db"), everything)
    _desk_sees(cfg, everything)


def test_a_second_follower_is_one_line_and_exit_3(kafka_broker, tmp_path, capsys):
    """Another follower holds the store's lease: the second says so and stops (exit 3),
    no traceback, and does not free the first one's lease."""
    from geomonitor.app.cli import main
    from geomonitor.store.stream_state import lease_holder

    from ..conftest import make_registry

    cfg = _config(kafka_broker, tmp_path / "g.db")
    with Store(cfg.store) as st:
        st.load_registry(make_registry())
        state = StreamState(st)
        holder = lease_holder(object())
        with st.transaction():
            state.take_lease(cfg.group_id, holder)
    where = ["--bootstrap-servers", cfg.bootstrap_servers, "--group-id", cfg.group_id]
    code = main(["consume", "colocation", "--db", cfg.store, "--idle-exit", "1", *where])
    err = capsys.readouterr().err
    assert code == 3 and "another co-location follower is running" in err
    assert "Traceback" not in err
    with Store(cfg.store) as st:
        row = st.db.execute("SELECT value FROM meta WHERE key=?", (f"follower/{cfg.group_id}",))
        assert row.fetchone()[0].startswith(holder)  # still the first one's
