"""Go-live night and a feed outage on a simulated force: no silence before the data began,
one feed_outage for three hours with no fix from anyone, every other candidate unchanged."""

from __future__ import annotations

import json

import pytest

from geomonitor.engine import Engine
from geomonitor.io.sources import iter_records
from geomonitor.model.fix import FixBatch, parse_fix
from geomonitor.model.registry_load import parse_registry
from geomonitor.model.times import MS_PER_DAY, iso, parse_ts
from geomonitor.sim import simulate

GO_LIVE = parse_ts("2026-11-16T23:00:00Z")  # mid-curfew on the first night
OUTAGE = (parse_ts("2026-11-18T00:30:00Z"), parse_ts("2026-11-18T03:30:00Z"))
SILENCE = ("curfew_no_signal", "no_contact")


@pytest.fixture(scope="module")
def force(tmp_path_factory):
    """A simulated force whose tags were all fitted ten days before its data begins."""
    out = tmp_path_factory.mktemp("golive")
    simulate(out, subjects=30, days=3, seed=4)
    doc = json.loads((out / "registry.json").read_text())
    for f in doc["fittings"]:
        f["fitted_at"] = iso(parse_ts(f["fitted_at"]) - 10 * MS_PER_DAY)
        f["consent"]["recorded_at"] = iso(parse_ts(f["consent"]["recorded_at"]) - 10 * MS_PER_DAY)
    reg = parse_registry(doc)
    fixes = []
    for rec in iter_records(out / "fixes.jsonl"):
        try:
            f = parse_fix(rec.value)
        except Exception:
            continue  # the planted bad records
        if f.tag_id in reg.tags and f.ts >= GO_LIVE:
            fixes.append(f)
    return reg, fixes


def run(reg, fixes):
    e = Engine(reg)
    for i in range(0, len(fixes), 5000):
        e.process(FixBatch.from_fixes(fixes[i : i + 5000]))
    return e.candidates()


def extent(c) -> tuple[int, int]:
    """What a candidate depends on: its night for a curfew, else its own span."""
    if "window_start" in c.details:
        return parse_ts(c.details["window_start"]), parse_ts(c.details["window_end"])
    end = max(x for x in (c.closed_at, c.last_evidence_at, c.opened_at) if x is not None)
    return c.opened_at, end + 1


@pytest.fixture(scope="module")
def baseline(force):
    reg, fixes = force
    return run(reg, fixes)


def test_no_silence_candidate_for_before_the_data(force, baseline):
    _, fixes = force
    assert min(f.ts for f in fixes) >= GO_LIVE
    early = [c for c in baseline if c.kind in SILENCE and c.opened_at < GO_LIVE]
    assert early == []
    # The first night is judged from go-live on: silences after it still count.
    assert any(c.kind in SILENCE for c in baseline)


def test_three_hours_without_any_fix_are_one_feed_outage(force, baseline):
    reg, fixes = force
    a, b = OUTAGE
    gone = [f for f in fixes if not a <= f.ts < b]
    assert len(gone) < len(fixes) - 1000
    cands = run(reg, gone)
    outages = [c for c in cands if c.kind == "feed_outage"]
    assert len(outages) == 1
    (o,) = outages
    # To the five minutes: from the first silent slot to the first back.
    assert a <= o.opened_at <= a + 5 * 60_000 and b <= o.closed_at <= b + 5 * 60_000
    assert o.details["tags_silent"] >= 0.9 * o.details["tags_reporting"] >= 20
    before = {c.id: c.to_json() for c in baseline}
    for c in cands:
        if c.kind in SILENCE and c.id not in before:
            lo, hi = extent(c)
            assert not (lo < b and a < hi), f"a silence in the outage: {c.explanation}"
    # Every candidate away from the outage is unchanged, and none is lost.
    now = {c.id: c.to_json() for c in cands}
    for c in baseline:
        lo, hi = extent(c)
        if hi <= a or lo >= b:
            assert now.get(c.id) == before[c.id], c.explanation
