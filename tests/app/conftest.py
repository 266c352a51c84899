"""Fixtures of the application tests."""

from __future__ import annotations

import pytest

from geomonitor.app.audit.units import change
from geomonitor.io.replay import replay
from geomonitor.model.registry_load import load_registry_file
from geomonitor.sim.fleet import simulate_fleet
from geomonitor.store.domain import Store


@pytest.fixture(scope="session")
def fleet_store(tmp_path_factory):
    """A simulated fleet of two months in a store: registry, what people recorded, demand,
    and every fix replayed."""
    out = tmp_path_factory.mktemp("fleet")
    fleet = simulate_fleet(out)
    reg, _ = load_registry_file(fleet.registry)
    st = Store(out / "fleet.db")
    st.load_registry(reg)
    for e in fleet.events:  # what people recorded, through the same path as the commands
        change(st, e)
    with st.transaction():
        for code, at, waiting in fleet.demand:
            st.set_demand(code, at, waiting, "sup1", "referrals list")
    replay(st, fleet.fixes, progress=False)
    yield fleet, st, out
    st.close()
