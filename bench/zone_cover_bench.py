"""The zone index's covers built afresh against read back from the store, in one run.

    python bench/zone_cover_bench.py [--repeat 3]

All 124 wards of West Yorkshire as exclusion zones of one order (what a force's replay, or
each consumer start, builds before the first fix). Prints seconds for each and the ratio.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from geomonitor.model.geography import wards
from geomonitor.model.registry_load import parse_registry
from geomonitor.rules.zones.family import zone_rules
from geomonitor.rules.zones.index import ZoneIndex
from geomonitor.store.domain import Store


def registry():  # type: ignore[no-untyped-def]
    ws = wards()
    zones = [{"id": w.code, "name": w.name, "geometry": w.geojson, "crs": "EPSG:4326"} for w in ws]
    conds = [{"id": f"C-{k}", "type": "exclusion_zone", "zone": w.code} for k, w in enumerate(ws)]
    doc = {
        "districts": [{"code": "E08000035", "name": "Leeds"}],
        "zones": zones,
        "subjects": [{"id": "S-0001", "district": "Leeds", "birth_date": "1990-01-01"}],
        "orders": [{"id": "O-1", "subject": "S-0001", "type": "scpo",
                    "starts": "2026-01-01T00:00:00Z", "conditions": conds}],
    }  # fmt: skip
    return parse_registry(doc)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    reg = registry()
    ids = sorted({r.zone_id for r in zone_rules(reg)})
    with tempfile.TemporaryDirectory() as tmp:
        st = Store(Path(tmp) / "b.db")
        st.zone_index(reg)  # kept once
        for k in range(args.repeat):
            t0 = time.perf_counter()
            ZoneIndex([reg.zones[z] for z in ids])
            fresh = time.perf_counter() - t0
            t0 = time.perf_counter()
            index = st.zone_index(reg)
            kept = time.perf_counter() - t0
            assert not index.built
            print(f"run {k + 1}: {len(ids)} zones built {fresh:.3f} s, read back {kept:.3f} s, "
                  f"ratio {fresh / kept:.0f}x")  # fmt: skip
        st.close()


if __name__ == "__main__":
    main()
