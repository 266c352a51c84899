"""Fixtures of the stream tests: a small simulated scenario and what a file replay makes
of it."""

from __future__ import annotations

import pytest

from geomonitor.io.replay import replay
from geomonitor.model.registry_load import load_registry_file
from geomonitor.sim import simulate
from geomonitor.store.domain import Store

from .streams import FIX_KINDS


@pytest.fixture(scope="session")
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


@pytest.fixture(scope="session")
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
