"""Crash atomicity, proven at each dangerous moment rather than by chance.

Each test arms a named crash point (:mod:`geomonitor.io.kafka.faults`): the consumer
program kills itself with SIGKILL when it reaches it. It is restarted, and in the end the
store holds what a file replay makes of the same input, the candidates topic read from the
beginning gives the desk the same candidates with no event id twice, and every dead letter
is on its topic exactly once.
"""

from __future__ import annotations

import signal
import time

import pytest

from geomonitor.io.kafka import open_consumer
from geomonitor.io.kafka.faults import POINTS, armed
from geomonitor.store.domain import Store
from geomonitor.store.stream_state import StreamState

from .streams import (
    FIX_KINDS,
    _consumer_process,
    _desk_sees,
    _publish,
    _published,
    _read_topic,
    _same,
    _stored,
    _wait_for_follower,
)

KILLED = -signal.SIGKILL


def _killed(p, what: str) -> None:
    """``p`` reached its armed crash point (and did not exit some other way)."""
    try:
        code = p.wait(120)
    except Exception:
        p.kill()
        raise
    out = p.stdout.read().decode() if p.stdout else ""
    assert code == KILLED, f"{what}: exit {code}, not killed at its crash point\n{out}"


def _finish(cfg, idle_exit: float = 8.0, kind: str = "fixes") -> None:
    """A clean run to the end (it waits out the killed member's session first)."""
    p = _consumer_process(cfg, idle_exit=idle_exit, kind=kind)
    out = p.communicate(timeout=240)[0].decode()
    assert p.returncode == 0, out


def _nothing_lost_or_doubled(cfg, want, rejected: int) -> None:
    _same(_stored(cfg.store, FIX_KINDS), want)
    _desk_sees(cfg, want)
    dead = _read_topic(cfg, cfg.deadletter_topic)
    assert len(dead) == rejected
    assert len({dict(m.headers)["event_id"] for m in dead}) == rejected
    with Store(cfg.store) as st:
        assert len(st.rejections(limit=100_000)) == rejected
        assert st.db.execute("SELECT COUNT(*) FROM outbox WHERE published=0").fetchone()[0] == 0


def _unpublished(cfg) -> int:
    with Store(cfg.store) as st:
        return int(st.db.execute("SELECT COUNT(*) FROM outbox WHERE published=0").fetchone()[0])


def _on_topics(cfg) -> set[str]:
    """Event ids on the candidates, device-event and dead-letter topics."""
    ids = set()
    for topic in (cfg.candidates_topic, cfg.device_events_topic, cfg.deadletter_topic):
        ids |= {dict(m.headers)["event_id"].decode() for m in _read_topic(cfg, topic)}
    return ids


def _pending_ids(cfg) -> set[str]:
    with Store(cfg.store) as st:
        sid = StreamState(st).store_id()
        rows = st.db.execute("SELECT seq FROM outbox WHERE published=0").fetchall()
    return {f"{sid}-{seq}" for (seq,) in rows}


def test_crash_points_are_armed_only_by_the_test_variable(monkeypatch):
    monkeypatch.delenv("GEOMONITOR_TEST_CRASH_AT", raising=False)
    assert armed() is None
    monkeypatch.setenv("GEOMONITOR_TEST_CRASH_AT", "committed@3")
    assert armed() == ("committed", 3)
    for bad in ("committed", "nowhere@1", "committed@0", "committed@x"):
        monkeypatch.setenv("GEOMONITOR_TEST_CRASH_AT", bad)
        with pytest.raises(ValueError, match="GEOMONITOR_TEST_CRASH_AT"):
            armed()
    assert POINTS == {
        "batch_written",
        "committed",
        "published",
        "rebalance",
        "rebuilt",
        "notify_queued",  # the notification sender (tests/app/test_notify.py)
        "notify_sent",
    }


@pytest.mark.parametrize("point", ["batch_written", "committed", "published"])
def test_fixes_consumer_killed_at_each_point(kafka_broker, scenario, tmp_path, point):
    _, _, want, rejected = scenario
    cfg = _published(kafka_broker, scenario, tmp_path / "k.db", 4)
    for nth in (3, 7):
        before = _unpublished(cfg)
        _killed(_consumer_process(cfg, crash_at=f"{point}@{nth}"), f"{point}@{nth}")
        pending = _pending_ids(cfg)
        if point == "batch_written":  # rolled back: nothing new is waiting
            assert len(pending) == before
        elif point == "committed":  # committed, none of it published
            assert pending and not pending & _on_topics(cfg)
        else:  # published, the store does not know: the worst moment
            assert pending & _on_topics(cfg)
    _finish(cfg)
    _nothing_lost_or_doubled(cfg, want, rejected)


def test_killed_while_recovering_after_an_assignment(kafka_broker, scenario, tmp_path):
    """Killed after publishing (the store unaware), then killed again while the next owner
    recovers that output on assignment, part done: still nothing doubled."""
    _, _, want, rejected = scenario
    cfg = _published(kafka_broker, scenario, tmp_path / "r.db", 4)
    _killed(_consumer_process(cfg, crash_at="published@5"), "published@5")
    assert _pending_ids(cfg) & _on_topics(cfg)
    _killed(_consumer_process(cfg, crash_at="rebalance@1"), "rebalance@1")
    _finish(cfg)
    _nothing_lost_or_doubled(cfg, want, rejected)


def test_killed_in_a_rebalance_as_a_second_consumer_joins(kafka_broker, scenario, tmp_path):
    """A real rebalance: the first consumer holds all four partitions (four assignment
    points), the second joins, the first is given its share again and dies recovering it.
    The second takes everything over and finishes."""
    _, _, want, rejected = scenario
    cfg = _published(kafka_broker, scenario, tmp_path / "j.db", 4)
    cfg.max_poll_records = 50  # slow enough for the second to join mid-stream
    first = _consumer_process(cfg, crash_at="rebalance@5", idle_exit=30.0)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # until the first has committed some batches
        with Store(cfg.store) as st:
            if sum(StreamState(st).offsets(cfg.group_id, cfg.fixes_topic).values()) > 300:
                break
        time.sleep(0.1)
    second = _consumer_process(cfg, idle_exit=10.0)
    _killed(first, "rebalance@5")
    out = second.communicate(timeout=240)[0].decode()
    assert second.returncode == 0, out
    _nothing_lost_or_doubled(cfg, want, rejected)


@pytest.mark.parametrize("point", ["batch_written", "committed", "published"])
def test_follower_killed_at_each_point_and_in_its_rebuild(
    kafka_broker, scenario, everything, tmp_path, point
):
    out, reg, _, _ = scenario
    cfg, _ = _publish(
        kafka_broker, reg, tmp_path / "f.db", 3, fixes=out / "fixes.jsonl", anpr=out / "anpr.jsonl"
    )
    cfg.max_poll_records = 100  # many small batches for the follower to follow
    nth = 2 if point == "batch_written" else 1  # the follower's output is a few batches
    follower = _consumer_process(cfg, idle_exit=60.0, kind="colocation", crash_at=f"{point}@{nth}")
    _wait_for_follower(cfg, follower)
    with Store(cfg.store) as st:
        open_consumer(cfg, "fixes", st).run()
        open_consumer(cfg, "anpr", st).run()
    _killed(follower, f"{point}@{nth}")
    # The next one rebuilds from everything stored, with corrections to write: killed
    # there, before its rebuild commits.
    _killed(_consumer_process(cfg, kind="colocation", crash_at="rebuilt@1"), "rebuilt@1")
    _finish(cfg, idle_exit=5.0, kind="colocation")
    _same(_stored(cfg.store), everything)
    _desk_sees(cfg, everything)
    assert _unpublished(cfg) == 0
