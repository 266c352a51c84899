"""Kafka stream consumers against a real Kafka-protocol broker (tansu): the same candidates
as a file replay, two consumers in a group, dead letters, configuration. Crashes at every
named point are in ``test_crash_points``."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from geomonitor.io.kafka import ConfigError, StreamConfig, load_config, open_consumer
from geomonitor.io.replay import replay
from geomonitor.store.domain import Store
from geomonitor.store.stream_state import StreamState

from .streams import (
    FIX_KINDS,
    _config,
    _consumer_process,
    _desk_sees,
    _publish,
    _published,
    _read_topic,
    _same,
    _stored,
    _wait_for_follower,
)


def test_the_stream_gives_the_same_candidates_as_a_replay(kafka_broker, scenario, tmp_path):
    out, reg, want, rejected = scenario
    cfg, sent = _publish(kafka_broker, reg, tmp_path / "s.db", 4, fixes=out / "fixes.jsonl")
    with Store(cfg.store) as st:
        stats = open_consumer(cfg, "fixes", st).run()
    assert stats.messages == sent[cfg.fixes_topic]
    assert stats.rejected == rejected
    with Store(out / "replay.db") as ref, Store(cfg.store) as st:
        assert _rejection_rows(st) == _rejection_rows(ref)  # rows kept, not only counted
    _same(_stored(tmp_path / "s.db", FIX_KINDS), want)
    # The candidates topic, applied in order, is the desk's view: the same candidates.
    _desk_sees(cfg, want)


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
        want = _rejection_rows(st)
    assert s.anpr_accepted and s.anpr_rejected
    cfg, sent = _publish(kafka_broker, reg, tmp_path / "a.db", 2, anpr=out / "anpr.jsonl")
    with Store(cfg.store) as st:
        stats = open_consumer(cfg, "anpr", st).run()
        assert st.read_count() == s.anpr_accepted - s.anpr_duplicates
        assert stats.rejected == sum(s.anpr_rejected.values())
        # The rows themselves, as a replay of the file keeps them.
        assert _rejection_rows(st) == want
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


def _rejection_rows(st: Store) -> list[tuple]:
    """The stored rejections, without where they came from (a file line or a topic
    offset), in a fixed order."""
    return sorted(
        (r["kind"], r["reason"], r["field"], r["message"], r["raw"])
        for r in st.rejections(limit=100_000)
    )
