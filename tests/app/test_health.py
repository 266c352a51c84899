"""``geomonitor health`` on the demo's store, every figure counted again here from the
store's rows with plain loops; the desk's health page for supervisors only."""

from __future__ import annotations

import json
import math
import sqlite3
from datetime import datetime

import pytest

from geomonitor.app.cli import main
from geomonitor.app.demo import run_demo
from geomonitor.app.health import health, timelines
from geomonitor.store.domain import Store

from .desk_fixtures import desk_store
from .test_desk import _client


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def lower(values: list[int], q: float) -> int:
    """The q-th percentile by the lower rule: the ceil(q n)-th smallest."""
    s = sorted(values)
    return s[max(0, math.ceil(q * len(s)) - 1)]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert run_demo(out, subjects=10, days=2, seed=3) == 0
    return out


def test_health_on_the_demo_store_equals_a_count_of_its_rows(demo, capsys):
    db = demo / "geomonitor.db"
    capsys.readouterr()
    # Two candidates reviewed on the desk: one acknowledged five minutes after it was
    # recorded, one only given a note (still new: not acknowledged).
    con = sqlite3.connect(db)
    (a, at_a), (b, at_b) = con.execute(
        "SELECT candidate_id, recorded_at FROM candidate_events WHERE action='opened' "
        "ORDER BY seq LIMIT 2"
    ).fetchall()
    con.close()
    with Store(db, create=False) as st, st.transaction():
        st.save_review(a, ms(at_a) + 5 * 60_000, "dana", "ack", "acknowledged",
                       None, None, None, None)  # fmt: skip
        st.save_review(b, ms(at_b) + 60_000, "dana", "note", "new", None, None, "seen", None)
    args = ["health", "--db", str(db), "--from", "2000-01-01", "--to", "2100-01-01"]
    assert main([*args, "--at", "2100-01-01T00:00Z", "--format", "json"]) == 0
    h = json.loads(capsys.readouterr().out)
    con = sqlite3.connect(db)
    # Feed: the fixes file's records, less those refused, arrived from it in one source.
    lines = sum(1 for _ in (demo / "fixes.jsonl").open())
    refused = con.execute("SELECT COUNT(*) FROM rejected WHERE source='fixes.jsonl'").fetchone()[0]
    (src,) = h["sources"]
    assert src["source"] == "fixes.jsonl"
    assert src["fixes"] == lines - refused
    last_event = max(t for (t,) in con.execute("SELECT ts FROM fixes"))
    assert src["last_event_at"] == last_event
    # Every candidate opened, from evidence to recorded, by hand.
    seen, waits = set(), []
    for cid, at, body in con.execute(
        "SELECT candidate_id, recorded_at, body FROM candidate_events WHERE action='opened' "
        "ORDER BY seq"
    ):
        if cid in seen:
            continue
        seen.add(cid)
        waits.append(ms(at) - ms(json.loads(body)["opened_at"]))
    t = h["timeliness"]
    assert t["candidates"] == len(seen) > 20
    assert t["evidence_to_recorded"] == [lower(waits, 0.5), lower(waits, 0.95)]
    assert t["acknowledged"] == 1 and t["unacknowledged"] == len(seen) - 1
    assert t["recorded_to_acknowledged"] == [5 * 60_000, 5 * 60_000]
    # The lag: receipt less event time, between the newest and the oldest fix's.
    first_event = min(t for (t,) in con.execute("SELECT ts FROM fixes"))
    received = src["last_received_at"]
    assert 0 <= received - last_event <= src["lag_p50_ms"] <= src["lag_p95_ms"]
    assert src["lag_p95_ms"] <= received - first_event
    outages = con.execute("SELECT COUNT(*) FROM candidates WHERE kind='feed_outage'").fetchone()
    assert len(h["outages"]) == outages[0]
    assert h["mail"] == {}
    # The period is [from, to): a candidate recorded at the end is the next period's.
    first = min(ms(at) for (at,) in con.execute(
        "SELECT recorded_at FROM candidate_events WHERE action='opened'"
    ))  # fmt: skip
    with Store(db, create=False) as st:
        assert health(st, 0, first, first).timeliness.candidates == 0
        assert health(st, 0, first + 1, first).timeliness.candidates >= 1
        assert health(st, first + 1, 2**62, first).timeliness.candidates < len(seen)
    # Each candidate's own way to a person, on `alerts show`.
    assert main(["alerts", "show", a, "--db", str(db)]) == 0
    shown = capsys.readouterr().out.split("to a person:\n", 1)[1].splitlines()
    assert shown[0].split()[:2] == ["evidence", "began"]
    assert shown[2].split()[:2] == ["mailed", "not"]
    assert shown[3].startswith("    acknowledged") and "(5 min after recording)" in shown[3]
    with Store(db, create=False) as st:
        tl = timelines(st, b)[b]
    assert (tl.recorded_at, tl.acknowledged_at, tl.mailed_at) == (ms(at_b), None, None)
    # The table form says the same.
    assert main([*args, "--at", "2100-01-01T00:00Z"]) == 0
    text = capsys.readouterr().out
    assert f"{lines - refused:,}" in text
    assert f"Unacknowledged: {len(seen) - 1} of {len(seen)}" in text


def test_the_health_page_is_for_supervisors(tmp_path):
    st, _ = desk_store(tmp_path / "d.db")
    st.close()
    sup = _client(tmp_path / "d.db", "sam")
    r = sup.get("/health")
    assert r.status_code == 200
    assert "From evidence to a person" in r.text and 'id="unacknowledged"' in r.text
    viewer = _client(tmp_path / "d.db", "vic")
    assert viewer.get("/health").status_code == 403
