"""The monthly tag audit against a naive per-unit scan.

300 units across the five districts, fitted all November 2026, one fix a minute each
(about 13 million fixes), a few device events; the store is built directly (this measures
the audit, not the replay). Prints:

* audit: fixes/s of ``monthly()`` (district figures, findings against the fleet), one core;
* naive: fixes/s of a per-unit scan on a sample of units: every fix of a unit read as a
  row, each finding computed with a plain Python loop, in the same run;
* ratio: audit / naive.

Machines are noisy: compare the ratio, not absolute figures.

    python bench/audit_bench.py                       # the full benchmark (a few minutes)
    python bench/audit_bench.py --units 20 --days 2   # a quick look
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from geomonitor.app.audit.report import month_bounds, monthly
from geomonitor.model.geography import DISTRICTS
from geomonitor.model.inventory import TagEvent
from geomonitor.model.times import MS_PER_HOUR
from geomonitor.store.domain import Store

MONTH = "2026-11"


def build(path: Path, units: int, days: int, every_s: int, seed: int) -> int:
    """The store; returns how many fixes it holds."""
    rng = np.random.default_rng(seed)
    lo, _ = month_bounds(MONTH)
    codes = sorted(DISTRICTS)
    n = 0
    with Store(path) as st, st.transaction():
        st.db.executemany(
            "INSERT INTO registry_versions VALUES (1, ?, 'bench', 'x', 0, 0, 0)",
            [(datetime.now(UTC).isoformat(),)],
        )
        events = []
        for k in range(units):
            tag = f"BUD-{k:05d}"
            code = codes[k % 5]
            events.append(TagEvent(tag, lo - 86_400_000, "add", code, source="registry"))
            events.append(TagEvent(tag, lo, "fit", code, f"S-{k:05d}", source="registry"))
        st.record_tag_events(events)
        ts = lo + np.arange(0, days * 86_400, every_s, dtype=np.int64) * 1000
        for k in range(units):
            m = len(ts)
            keep = np.ones(m, bool)
            if k % 37 == 0:  # a few units with gaps
                keep[(ts // MS_PER_HOUR) % 5 == 0] = False
            acc = rng.uniform(5, 20, m)
            if k % 41 == 0:
                acc[::2] = 300.0
            batt = 100.0 - ((ts // 60_000) % 1440) / 1440 * (60 if k % 43 else 95)
            x = 430_000 + rng.normal(0, 30, m)
            y = 433_000 + rng.normal(0, 30, m)
            rows = [
                (f"BUD-{k:05d}", int(t), 53.8, -1.55, float(a), float(b), float(c), float(d),
                 "ok", None, "gps", 0, None)
                for t, a, b, c, d in zip(ts[keep], x[keep], y[keep], acc[keep], batt[keep],
                                         strict=True)
            ]  # fmt: skip
            st.db.executemany(
                "INSERT INTO fixes (tag_id, ts, lat, lon, x, y, accuracy_m, battery_pct, strap, "
                "charging, source, rank, extra) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                rows,
            )
            n += len(rows)
        for code in codes:
            st.db.execute(
                "INSERT INTO registry_entities VALUES ('district', ?, 1, NULL, ?)",
                (code, f'{{"code": "{code}", "name": "{DISTRICTS[code]}"}}'),
            )
    return n


def naive(path: Path, tags: list[str]) -> int:
    """Each unit's fixes row by row, each finding with a plain loop; returns fixes read."""
    lo, hi = month_bounds(MONTH)
    n = 0
    with Store(path) as st:
        st.db.row_factory = None
        for tag in tags:
            rows = st.db.execute(
                "SELECT * FROM fixes WHERE tag_id=? AND ts>=? AND ts<? ORDER BY ts", (tag, lo, hi)
            ).fetchall()
            n += len(rows)
            gaps = poor = 0
            drain = hours = 0.0
            longest = 0
            prev = None
            for r in rows:
                ts, acc, batt = r[1], r[6], r[7]
                poor += acc > 100
                if prev is not None:
                    dt = ts - prev[1]
                    longest = max(longest, dt)
                    gaps += dt > 30 * 60_000
                    if prev[7] is not None and batt is not None and batt <= prev[7]:
                        drain += prev[7] - batt
                        hours += dt / MS_PER_HOUR
                prev = r
            _ = (gaps, poor, drain / hours if hours else 0.0, longest)
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--units", type=int, default=300)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--every", type=int, default=60, help="seconds between fixes")
    ap.add_argument("--naive-sample", type=int, default=30, help="units the naive scan reads")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "audit.db"
        t0 = time.perf_counter()
        n = build(db, a.units, a.days, a.every, a.seed)
        print(f"store:   {n:,} fixes of {a.units} units built in {time.perf_counter() - t0:.1f} s")
        with Store(db) as st:
            t0 = time.perf_counter()
            audit = monthly(st, MONTH)
            secs = time.perf_counter() - t0
        ours = n / secs
        print(f"audit:   {ours:>12,.0f} fixes/s  ({secs:.1f} s for the month, "
              f"{len(audit.findings)} findings)")  # fmt: skip
        sample = [f"BUD-{k:05d}" for k in range(min(a.naive_sample, a.units))]
        t0 = time.perf_counter()
        m = naive(db, sample)
        base = m / (time.perf_counter() - t0)
        print(f"naive:   {base:>12,.0f} fixes/s  (per-unit scan of {len(sample)} units, "
              f"{m:,} fixes; the month would take {n / base:.0f} s)")  # fmt: skip
        print(f"ratio:   {ours / base:>12.1f} x")


if __name__ == "__main__":
    main()
