"""Crime correlation: hits with their sequences, eliminations with their reasons, the two
batch layouts with every kind of bad row, and the grid conversion."""

from __future__ import annotations

import csv
import itertools
import json
import math

import numpy as np
import pytest

from geomonitor.app.cli import main
from geomonitor.app.crimes.match import CrimeConfig, FixIndex, match_crime
from geomonitor.model.crime import Crime, parse_crime_rows, parse_national_row
from geomonitor.model.crs import to_wgs84
from geomonitor.model.fix import Fix
from geomonitor.model.registry_load import parse_registry
from geomonitor.model.times import parse_ts
from geomonitor.store.domain import Store

from ..conftest import BASE_DOC, CX, CY, make_doc

T = parse_ts("2026-11-21T20:00:00Z")  # the crime: 20:00 to 21:00 UTC (GMT)
MIN = 60_000
SUBJECTS = ["S-0001", "S-0002", "S-0003", "S-0004", "S-0005"]


def _fix(tag: str, dx: float, ts: int, acc: float = 10.0) -> Fix:
    lon, lat = to_wgs84(np.array([CX + dx]), np.array([CY]))
    return Fix(tag, int(ts), float(lat[0]), float(lon[0]), acc)


def _trail(tag: str, where, step_s: int, lo: int, hi: int) -> list[Fix]:
    return [_fix(tag, where(t), t) for t in range(lo, hi, step_s * 1000) if where(t) is not None]


@pytest.fixture
def store(tmp_path):
    doc = make_doc(
        subjects=[{"id": s, "district": "Leeds", "birth_date": "1990-01-01"} for s in SUBJECTS],
        tags=[{"id": f"BUD-000{k}", "district": "Leeds"} for k in range(1, 6)],
        fittings=[dict(BASE_DOC["fittings"][0], tag=f"BUD-000{k}", subject=s)
                  for k, s in enumerate(SUBJECTS, 1)],
        orders=[],
    )  # fmt: skip
    st = Store(tmp_path / "c.db")
    st.load_registry(parse_registry(doc))
    lo, hi = T - 60 * MIN + 30_000, T + 120 * MIN  # fixes at half past each minute

    def passes_by(t):  # 80 m at 20:30:30 and 20:31:30, and again at 20:40:30; else 1 km
        return (
            80
            if t in (T + 30 * MIN + 30_000, T + 31 * MIN + 30_000, T + 40 * MIN + 30_000)
            else 1000
        )

    fixes = _trail("BUD-0001", passes_by, 60, lo, hi)
    fixes += _trail("BUD-0002", lambda t: 150, 10, lo, hi)  # 150 m, every 10 s
    fixes += _trail("BUD-0003", lambda t: None if T + 10 * MIN < t < T + 50 * MIN else 1000,
                    60, lo, hi)  # fmt: skip
    fixes += _trail("BUD-0004", lambda t: 5000, 60, lo, hi)  # far away, all along
    st.insert_fixes(fixes)  # BUD-0005: fitted, never heard from
    yield st
    st.close()


def crime(**kw) -> Crime:
    lon, lat = to_wgs84(np.array([CX]), np.array([CY]))
    base = dict(ref="CR-1", type="BIAD", x=CX, y=CY, lat=float(lat[0]), lon=float(lon[0]),
                start=T, end=T + 60 * MIN)  # fmt: skip
    return Crime(**{**base, **kw})


def verdicts(store, c: Crime, cfg: CrimeConfig | None = None):
    index = FixIndex(store, store.current_registry(), c.start - 3 * 3_600_000, c.end + 3_600_000)
    return {v.subject_id: v for v in match_crime(index, c, cfg)}


def test_hits_eliminations_and_the_reasons(store):
    got = verdicts(store, crime())
    assert set(got) == set(SUBJECTS)
    hit = got["S-0001"]
    assert hit.verdict == "hit"
    labels = [(f"{p.sequence}{p.number}", p.kind) for p in hit.positions]
    assert labels == [("A1", "fix"), ("A2", "between"), ("A3", "fix"), ("B1", "fix")]
    a2 = hit.positions[1]
    assert a2.ts == T + 31 * MIN and a2.accuracy_m == 10.0
    assert math.dist((a2.x, a2.y), (CX + 80, CY)) < 0.01  # on the line between two fixes
    # 150 m away with 10 m accuracy, every 10 s: could not have reached 100 m and back.
    assert got["S-0002"].verdict == "eliminated"
    assert "at least 140 m" in got["S-0002"].reason
    # A silence over the crime, the scene within reach at 20 km/h: not eliminated.
    assert got["S-0003"].verdict == "cannot_eliminate"
    assert "a gap of 41 min" in got["S-0003"].reason and "20 km/h" in got["S-0003"].reason
    assert got["S-0004"].verdict == "eliminated"
    assert got["S-0005"].verdict == "cannot_eliminate" and "silent" in got["S-0005"].reason


@pytest.mark.parametrize(("speed", "verdict"), [(10.0, "eliminated"), (40.0, "cannot_eliminate")])
def test_the_top_speed_decides_what_a_gap_proves(store, speed, verdict):
    cfg = CrimeConfig(top_speed_kmh=speed, by_type=False)
    assert verdicts(store, crime(), cfg)["S-0002"].verdict == verdict


def test_a_window_across_the_october_clock_change(tmp_path):
    doc = make_doc(orders=[])
    st = Store(tmp_path / "d.db")
    st.load_registry(parse_registry(doc))
    t0 = parse_ts("2026-10-25T00:30:00Z")  # 01:30 BST; an hour later it is 01:30 GMT
    fixes = [_fix("BUD-0001", 5000, t0 - 60 * MIN + k * MIN) for k in range(200)]
    fixes[60 + 15] = _fix("BUD-0001", 20, t0 + 15 * MIN)  # 00:45Z = 01:45 BST
    fixes[60 + 45] = _fix("BUD-0001", 20, t0 + 45 * MIN)  # 01:15Z = 01:15 GMT
    st.insert_fixes(fixes)
    rows = "crime_ref,type,from,to,lat,lon,easting,northing\n"
    lon, lat = to_wgs84(np.array([CX]), np.array([CY]))
    rows += f"DST-1,BIAD,2026-10-25T01:30:00+01:00,2026-10-25T01:30:00+00:00,{lat[0]},{lon[0]},,\n"
    (crimes, bad) = parse_crime_rows(rows)
    assert not bad and crimes[0].end - crimes[0].start == 60 * MIN
    (v,) = [x for x in verdicts(st, crimes[0]).values() if x.hit]
    assert [p.ts for p in v.positions] == [t0 + 15 * MIN, t0 + 45 * MIN]
    assert [f"{p.sequence}{p.number}" for p in v.positions] == ["A1", "B1"]
    st.close()


def test_easting_and_northing_convert_to_wgs84():
    row = ["Met", "TFP", "phone snatch", "B1", "X-1", "20261121200000", "20261121203000",
           "529381", "179534", "", "", "", ""]  # fmt: skip
    c = parse_national_row(row, 1)
    assert c.lon == pytest.approx(-0.137433, abs=1e-5)
    assert c.lat == pytest.approx(51.499946, abs=1e-5)
    assert (c.x, c.y) == (529381.0, 179534.0)


GOOD = ["West Yorkshire", "BIAD", "rear door forced", "B7", "13/123456/26", "20261121200000",
        "20261121210000", "429950", "433420", "", "", "", "neighbour heard glass"]  # fmt: skip


def _row(**change) -> str:
    r = list(GOOD)
    names = ["force", "type", "desc", "batch", "ref", "from", "to", "e", "n", "lat", "lon",
             "datum", "text"]  # fmt: skip
    for k, v in change.items():
        r[names.index(k)] = v
    return ",".join(r)


def test_the_national_layout_with_each_kind_of_bad_row():
    bad_rows = {
        "short": (",".join(GOOD[:12]), "malformed", "row"),
        "type": (_row(type="XX"), "bad_value", "crime type"),
        "ref": (_row(ref=""), "missing_field", "crime reference"),
        "time": (_row(**{"from": "2026-11-21 20:00"}), "bad_time", "from"),
        "order": (_row(to="20261121190000"), "bad_window", "to"),
        "long": (_row(to="20261122090000"), "bad_window", "to"),
        "two": (_row(lat="53.8", lon="-1.55", datum="WGS84"), "two_places", "coordinates"),
        "none": (_row(e="", n=""), "missing_field", "coordinates"),
        "half": (_row(n=""), "missing_field", "northing"),
        "nan": (_row(e="east"), "bad_value", "easting"),
        "far": (_row(e="", n="", lat="48.0", lon="-1.5", datum="WGS84"),
                "out_of_range", "latitude"),
        "datum": (_row(e="", n="", lat="53.8", lon="-1.55", datum="ED50"), "bad_value", "datum"),
    }  # fmt: skip
    good = [_row(), _row(ref="13/2", e="", n="", lat="53.80", lon="-1.55", datum="OSGB36")]
    text = "\n".join(good + [r for r, _, _ in bad_rows.values()]) + "\n"
    crimes, bad = parse_crime_rows(text)
    assert [c.ref for c in crimes] == ["13/123456/26", "13/2"]  # the good rows still run
    got = [(e.reason, e.field, e.message.split(":")[0]) for e in bad]
    want = [
        (reason, field, f"line {k}") for k, (_, reason, field) in enumerate(bad_rows.values(), 3)
    ]
    assert got == want
    assert all("neighbour" not in e.message for e in bad)  # free text never echoed


def test_the_command_writes_hits_eliminations_summary_and_maps(store, tmp_path, capsys):
    lon, lat = to_wgs84(np.array([CX]), np.array([CY]))
    f = tmp_path / "crimes.csv"
    f.write_text("crime_ref,type,from,to,lat,lon,easting,northing\n"
                 f"CR-1,BIAD,2026-11-21T20:00:00Z,2026-11-21T21:00:00Z,{lat[0]},{lon[0]},,\n"
                 "CR-2,BIAD,2026-11-21T20:00:00Z,2026-11-21T19:00:00Z,53.8,-1.55,,\n")  # fmt: skip
    out = tmp_path / "out"
    code = main(["crimes", "match", str(f), "--out", str(out), "--offline",
                 "--purpose", "burglary series", "--db", str(tmp_path / "c.db")])  # fmt: skip
    assert code == 0
    err = capsys.readouterr().err
    assert "line 3: to: before from" in err
    with (out / "hits.csv").open() as fh:
        hits = list(csv.DictReader(fh))
    assert [h["position"] for h in hits] == ["A1", "A2", "A3", "B1"]
    assert {h["subject_id"] for h in hits} == {"S-0001"} and hits[1]["kind"] == "between"
    assert list(hits[0]) == ["crime_ref", "subject_id", "sequence", "position", "ts", "lat", "lon",
                             "accuracy_m", "speed_kmh", "kind"]  # fmt: skip
    with (out / "eliminations.csv").open() as fh:
        elim = {r["subject_id"]: r for r in csv.DictReader(fh)}
    assert set(elim) == {"S-0002", "S-0003", "S-0004", "S-0005"}
    assert elim["S-0004"]["verdict"] == "eliminated" and elim["S-0003"]["reason"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rejected_rows"][0]["line"] == 3
    (res,) = summary["results"]
    assert res["hits"] == ["S-0001"] and res["maps"] == ["maps/hit-CR-1-S-0001.html"]
    page = (out / res["maps"][0]).read_text()
    assert '"className": "vicinity' in page and "A3" in page and "1990-01-01" not in page
    # One crime on the command line.
    one = ["crimes", "check", "--ref", "ONE", "--easting", str(CX), "--northing", str(CY),
           "--from", "2026-11-21T20:00:00Z", "--to", "2026-11-21T21:00:00Z"]  # fmt: skip
    code = main([*one, "--out", str(tmp_path / "one"), "--no-maps", "--purpose", "one crime",
                 "--db", str(tmp_path / "c.db")])  # fmt: skip
    assert code == 0 and "ONE" in capsys.readouterr().out


def brute_force(fixes: dict[str, list[tuple[int, float, float, float]]], c: Crime,
                r: float, v_ms: float) -> dict[str, str]:  # fmt: skip
    """Per subject: hit if any fix in the window is within r (accuracy allowed) or any
    whole-minute instant between two fixes at most 5 minutes apart is; else eliminated if
    fixes cover both ends and no consecutive pair lets the scene be reached."""
    out = {}
    for s, fx in fixes.items():
        hit = False
        for k, (t, x, y, a) in enumerate(fx):
            if c.start <= t <= c.end and math.dist((x, y), (c.x, c.y)) - a <= r:
                hit = True
            if k + 1 < len(fx):
                t2, x2, y2, a2 = fx[k + 1]
                if t2 - t <= 5 * MIN:
                    m = (t // MIN + 1) * MIN
                    while m < t2:
                        if c.start <= m <= c.end:
                            g = (m - t) / (t2 - t)
                            p = (x + g * (x2 - x), y + g * (y2 - y))
                            if math.dist(p, (c.x, c.y)) - max(a, a2) <= r:
                                hit = True
                        m += MIN
        if hit:
            out[s] = "hit"
            continue
        if not fx or fx[0][0] > c.start or fx[-1][0] < c.end:
            out[s] = "cannot_eliminate"
            continue
        verdict = "eliminated"
        for (t, x, y, a), (t2, x2, y2, a2) in itertools.pairwise(fx):
            need1 = max(math.dist((x, y), (c.x, c.y)) - a - r, 0) / v_ms * 1000
            need2 = max(math.dist((x2, y2), (c.x, c.y)) - a2 - r, 0) / v_ms * 1000
            if t2 > c.start and t < c.end and t + need1 <= t2 - need2 and t + need1 <= c.end \
                    and t2 - need2 >= c.start:  # fmt: skip
                verdict = "cannot_eliminate"
        out[s] = verdict
    return out


@pytest.mark.parametrize("seed", range(6))
def test_the_index_agrees_with_a_brute_force_scan(tmp_path, seed):
    rng = np.random.default_rng(seed)
    subjects = [f"S-{k:04d}" for k in range(1, 9)]
    doc = make_doc(
        subjects=[{"id": s, "district": "Leeds", "birth_date": "1990-01-01"} for s in subjects],
        tags=[{"id": f"BUD-{k:04d}", "district": "Leeds"} for k in range(1, 9)],
        fittings=[dict(BASE_DOC["fittings"][0], tag=f"BUD-{k:04d}", subject=s)
                  for k, s in enumerate(subjects, 1)],
        orders=[],
    )  # fmt: skip
    st = Store(tmp_path / "b.db")
    st.load_registry(parse_registry(doc))
    fixes: dict[str, list] = {}
    all_fixes = []
    for k, s in enumerate(subjects, 1):
        t, x, out = T - 90 * MIN, float(rng.uniform(-3000, 3000)), []
        while t < T + 150 * MIN:
            t += int(rng.choice([10_000, 60_000, 90_000, 240_000, 600_000, 2_400_000]))
            x = float(np.clip(x + rng.normal(0, 300), -4000, 4000))
            a = float(rng.choice([5.0, 15.0, 60.0, 250.0]))
            out.append((t, CX + x, CY, a))
            all_fixes.append(_fix(f"BUD-{k:04d}", x, t, a))
        fixes[s] = out
    st.insert_fixes(all_fixes)
    index = FixIndex(st, st.current_registry(), T - 4 * 3_600_000, T + 4 * 3_600_000)
    cfg = CrimeConfig(by_type=False)
    for dx in (-1000.0, 0.0, 700.0):
        c = crime(x=CX + dx)
        got = {v.subject_id: v.verdict for v in match_crime(index, c, cfg)}
        # the index keeps the fixes of the margin; the oracle sees those too
        margin = {s: [f for f in fx if c.start - 60 * MIN <= f[0] <= c.end + 60 * MIN]
                  for s, fx in fixes.items()}  # fmt: skip
        assert got == brute_force(margin, c, cfg.radius_m, cfg.top_speed_kmh / 3.6)
    st.close()
