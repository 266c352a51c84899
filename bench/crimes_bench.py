"""Crime correlation: a batch of crimes against a month of tag trails.

300 subjects wearing tags all November 2026, one fix a minute each (about 13 million
fixes), moving about West Yorkshire; 1,000 crimes with windows of 1 to 12 hours. Prints:

* index: crimes/s of ``match_crime`` over the space-time index (every fix of the period
  sorted under a (tag, time) key, loaded once; all tags of a crime found in one search),
  with the time to load the index;
* scan: crimes/s of a brute-force scan on a sample (each crime, each fitted tag: its fixes
  read from the store for the window, then judged the same way), in the same run;
* whether both gave the same verdicts on the sample, and the ratio.

    python bench/crimes_bench.py                          # the full benchmark
    python bench/crimes_bench.py --subjects 30 --days 3 --crimes 100   # a quick look
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from geomonitor.app.crimes.match import CrimeConfig, FixIndex, judge, match_crime
from geomonitor.model.crime import Crime
from geomonitor.model.crs import to_wgs84
from geomonitor.model.registry_load import parse_registry
from geomonitor.model.times import parse_ts
from geomonitor.store.domain import Store

T0 = parse_ts("2026-11-01T00:00:00Z")
CENTRE = (430_000.0, 433_000.0)


def build(path: Path, subjects: int, days: int, seed: int) -> int:
    rng = np.random.default_rng(seed)
    doc = {
        "districts": [{"code": "E08000035", "name": "Leeds"}],
        "subjects": [{"id": f"S-{k:05d}", "district": "Leeds", "birth_date": "1990-01-01"}
                     for k in range(subjects)],
        "tags": [{"id": f"BUD-{k:05d}", "district": "Leeds"} for k in range(subjects)],
        "fittings": [{"tag": f"BUD-{k:05d}", "subject": f"S-{k:05d}",
                      "fitted_at": "2026-10-01T00:00:00Z",
                      "consent": {"recorded_at": "2026-10-01T00:00:00Z"}}
                     for k in range(subjects)],
    }  # fmt: skip
    n = 0
    with Store(path) as st:
        st.load_registry(parse_registry(doc))
        ts = T0 + np.arange(0, days * 1440, dtype=np.int64) * 60_000
        with st.transaction():
            for k in range(subjects):
                home = np.array(CENTRE) + rng.uniform(-8000, 8000, 2)
                walk = np.cumsum(rng.normal(0, 40, (len(ts), 2)), axis=0)
                walk -= np.linspace(0, 1, len(ts))[:, None] * walk[-1]  # back home by the end
                x, y = home[0] + walk[:, 0], home[1] + walk[:, 1]
                keep = rng.random(len(ts)) > 0.02  # some fixes missing
                acc = rng.choice([6.0, 10.0, 15.0, 40.0], len(ts))
                cols = zip(ts[keep], x[keep], y[keep], acc[keep], strict=True)
                rows = [(f"BUD-{k:05d}", int(t), 53.8, -1.55, float(a), float(b), float(c),
                         80.0, "ok", None, "gps", 0, None) for t, a, b, c in cols]  # fmt: skip
                st.db.executemany(
                    "INSERT INTO fixes (tag_id, ts, lat, lon, x, y, accuracy_m, battery_pct, "
                    "strap, charging, source, rank, extra) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    rows,
                )
                n += len(rows)
    return n


def crimes(count: int, days: int, seed: int) -> list[Crime]:
    rng = np.random.default_rng(seed + 1)
    out = []
    for k in range(count):
        x, y = np.array(CENTRE) + rng.uniform(-9000, 9000, 2)
        lon, lat = to_wgs84(np.array([x]), np.array([y]))
        start = T0 + int(rng.integers(2 * 60, (days * 24 - 13) * 60)) * 60_000
        length = int(rng.integers(1, 13)) * 3_600_000
        out.append(Crime(f"CR-{k:05d}", "BIAD", float(x), float(y), float(lat[0]),
                         float(lon[0]), start, start + length))  # fmt: skip
    return out


def scan(store: Store, crime: Crime, cfg: CrimeConfig) -> dict[str, str]:
    """Brute force: every fitted tag's fixes read for the window, one query each."""
    margin = int(cfg.margin_minutes * 60_000)
    q = "SELECT ts, x, y, accuracy_m FROM fixes WHERE tag_id=? AND ts>=? AND ts<=? ORDER BY ts"
    out = {}
    for f in store.current_registry().fittings:
        rows = store.db.execute(q, (f.tag_id, crime.start - margin, crime.end + margin))
        a = np.array(rows.fetchall(), float).reshape(-1, 4)
        v = judge(crime, f.subject_id, a[:, 0].astype(np.int64), a[:, 1], a[:, 2], a[:, 3],
                  f.fitted_at, f.removed_at or 2**62, cfg)  # fmt: skip
        out[f.subject_id] = v.verdict
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--subjects", type=int, default=300)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--crimes", type=int, default=1000)
    ap.add_argument("--scan-sample", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    cfg = CrimeConfig()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "crimes.db"
        t = time.perf_counter()
        n = build(db, a.subjects, a.days, a.seed)
        print(f"store:   {n:,} fixes of {a.subjects} tags built in {time.perf_counter() - t:.0f} s")
        batch = crimes(a.crimes, a.days, a.seed)
        margin = int(cfg.margin_minutes * 60_000)
        with Store(db) as st:
            t = time.perf_counter()
            index = FixIndex(st, st.current_registry(), T0 - margin,
                             T0 + a.days * 86_400_000 + margin)  # fmt: skip
            load = time.perf_counter() - t
            t = time.perf_counter()
            results = [match_crime(index, c, cfg) for c in batch]
            match = time.perf_counter() - t
            hits = sum(v.hit for vs in results for v in vs)
            total = load + match
            print(f"index:   {a.crimes / total:>10,.1f} crimes/s  (the batch in {total:.1f} s: "
                  f"index {load:.1f} s, matching {match:.1f} s; {hits} hits)")  # fmt: skip
            sample = batch[: a.scan_sample]
            t = time.perf_counter()
            scanned = [scan(st, c, cfg) for c in sample]
            secs = time.perf_counter() - t
        same = all(
            {v.subject_id: v.verdict for v in results[k]} == scanned[k] for k in range(len(sample))
        )
        per = secs / max(len(sample), 1)
        print(f"scan:    {1 / per:>10,.1f} crimes/s  (brute force on {len(sample)} crimes; the "
              f"batch would take {per * a.crimes:.0f} s)")  # fmt: skip
        print(f"same verdicts on the sample: {'yes' if same else 'NO'}")
        print(f"ratio:   {(per * a.crimes) / total:>10.1f} x")


if __name__ == "__main__":
    main()
