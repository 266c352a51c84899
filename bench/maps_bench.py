"""A month of minute fixes for one subject on a trail map: thinned for drawing (ours)
against every fix drawn (the baseline), in the same run.

Prints, for each: seconds to write the export, its size, and (when Debian's chromium and
chromedriver are installed) seconds until a headless browser has drawn it.

    python bench/maps_bench.py                 # 30 days of minute fixes
    python bench/maps_bench.py --days 2        # a quick look
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from geomonitor.app.maps import trail as trail_module
from geomonitor.model.fix import Fix
from geomonitor.model.registry_load import parse_registry
from geomonitor.model.times import parse_ts
from geomonitor.store.domain import Store

DOC = {
    "districts": [{"code": "E08000035", "name": "Leeds"}],
    "subjects": [{"id": "S-0001", "district": "Leeds", "birth_date": "1990-01-01"}],
    "tags": [{"id": "BUD-0001", "district": "Leeds", "model": "Buddi"}],
    "fittings": [{"tag": "BUD-0001", "subject": "S-0001", "fitted_at": "2026-01-01T00:00:00Z",
                  "consent": {"recorded_at": "2026-01-01T00:00:00Z"}}],
}  # fmt: skip


def _load_seconds(path: Path) -> float | None:
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        return None
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.browser import chrome

    b = chrome(offline=True)
    try:
        t0 = time.perf_counter()
        b.get(path.as_uri())
        while not b.execute_script("return document.querySelectorAll('path.fix').length"):
            time.sleep(0.05)
        return time.perf_counter() - t0
    finally:
        b.quit()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--days", type=int, default=30)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        st = Store(Path(tmp) / "m.db")
        st.load_registry(parse_registry(DOC))
        t0 = parse_ts("2026-11-01T00:00:00Z")
        ts = t0 + np.arange(0, a.days * 1440, dtype=np.int64) * 60_000
        rng = np.random.default_rng(1)
        lat = 53.80 + np.cumsum(rng.normal(0, 2e-5, len(ts)))
        lon = -1.55 + np.cumsum(rng.normal(0, 3e-5, len(ts)))
        st.insert_fixes([Fix("BUD-0001", int(t), float(y), float(x), 12.0)
                         for t, y, x in zip(ts, lat, lon, strict=True)])  # fmt: skip
        hi = int(ts[-1]) + 1
        rows = []
        for label, limit in (("thinned", trail_module.MAX_DRAWN), ("every fix", 10**9)):
            trail_module.MAX_DRAWN = limit
            out = Path(tmp) / f"{label.replace(' ', '-')}.html"
            t = time.perf_counter()
            trail_module.trail_map(st, "S-0001", t0, hi, out, offline=True)
            secs = time.perf_counter() - t
            rows.append((label, secs, out.stat().st_size, _load_seconds(out)))
        st.close()
    print(f"trail:   {len(ts):,} fixes, one subject, {a.days} days")
    for label, secs, size, load in rows:
        shown = "no browser" if load is None else f"{load:.1f} s"
        print(f"{label + ':':<10} export {secs:5.1f} s, {size / 1e6:5.1f} MB, browser {shown}")
    (_, s1, z1, l1), (_, s2, z2, l2) = rows
    ratio = f", browser {l2 / l1:.1f}x" if l1 and l2 else ""
    print(f"ratio:   export {s2 / s1:.1f}x, size {z2 / z1:.1f}x{ratio} (every fix / thinned)")


if __name__ == "__main__":
    main()
