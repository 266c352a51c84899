"""Replay from files into a real SQLite database."""

from __future__ import annotations

import gzip
import json

import pytest

from geomonitor.io.replay import replay
from geomonitor.model.fix import Fix
from geomonitor.model.registry_load import parse_registry
from geomonitor.model.times import iso
from geomonitor.store.domain import Store

from ..conftest import fix_at, make_doc


def _line(f: Fix) -> str:
    return json.dumps(
        {
            "tag_id": f.tag_id,
            "ts": iso(f.ts),
            "lat": f.lat,
            "lon": f.lon,
            "accuracy_m": f.accuracy_m,
            "strap": "ok",
        }
    )


def _visit_lines() -> list[str]:
    return [_line(fix_at(100 if 10 <= m < 30 else 1000, 0, m)) for m in range(40)]


BAD = [
    '{"tag_id": "BUD-0001", "ts": "2026-11-21T18:00:00Z", "lat": 53.8',
    '{"tag_id": "BUD-0001", "ts": "2026-11-21T18:00:30Z", "lat": NaN, "lon": -1.5}',
    '{"tag_id": "BUD-0001", "ts": "2026-11-21T18:00:30Z", "lat": 123, "lon": -1.5}',
    '{"tag_id": "BUD-0001", "ts": "2026-11-21T18:00:30", "lat": 53.8, "lon": -1.5}',
    '{"tag_id": "BUD-0001", "lat": 53.8, "lon": -1.5}',
    '{"tag_id": "BUD-7777", "ts": "2026-11-21T18:00:30Z", "lat": 53.8, "lon": -1.5}',
]


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "g.db") as s:
        s.load_registry(parse_registry(make_doc()))
        yield s


def test_bad_fixes_are_rejected_with_reasons_counted_and_kept(store, tmp_path):
    p = tmp_path / "fixes.jsonl"
    lines = _visit_lines()
    p.write_text("\n".join(lines[:20] + BAD + lines[20:]) + "\n")
    s, _ = replay(store, p, progress=False)
    assert s.fixes_read == 46 and s.fixes_accepted == 40
    assert s.fixes_rejected == {
        "malformed": 2,
        "out_of_range": 1,
        "naive_time": 1,
        "missing_field": 1,
        "unknown_tag": 1,
    }
    rows = store.rejections()
    assert [r["locator"] for r in rows] == [f"line {n}" for n in range(21, 27)]
    assert rows[0]["raw"] == BAD[0] and rows[0]["source"] == "fixes.jsonl"
    assert rows[2]["field"] == "lat" and rows[2]["message"] == "lat: outside -90..90"
    assert rows[5]["message"] == "tag_id: tag not in the registry"
    # ...and the run still found the breach.
    assert s.candidates_opened == 1 and len(store.candidates()) == 1


def test_two_replays_with_a_late_batch_equal_one_replay(tmp_path):
    lines = _visit_lines()
    late = lines[8:14]  # stored on the tag and forwarded hours later
    on_time = lines[:8] + lines[14:]
    (tmp_path / "a.jsonl").write_text("\n".join(on_time) + "\n")
    (tmp_path / "b.jsonl").write_text("\n".join(late + lines[:3]) + "\n")  # with duplicates
    (tmp_path / "all.jsonl").write_text("\n".join(lines) + "\n")
    results = []
    for files in (["a.jsonl", "b.jsonl"], ["all.jsonl"]):
        with Store(tmp_path / f"{len(files)}.db") as st:
            st.load_registry(parse_registry(make_doc()))
            for f in files:
                s, _ = replay(st, tmp_path / f, progress=False)
            results.append([c.to_json() for c in st.candidates()])
            if len(files) == 2:
                assert s.duplicates == 3 and s.warmup_fixes == 34
    assert results[0] == results[1] and len(results[0]) == 1


def test_csv_and_gzip_inputs(store, tmp_path):
    p = tmp_path / "fixes.csv.gz"
    with gzip.open(p, "wt") as fh:
        fh.write("tag_id,ts,lat,lon,accuracy_m,source\n")
        for m in range(40):
            f = fix_at(100 if 10 <= m < 30 else 1000, 0, m)
            fh.write(f"{f.tag_id},{iso(f.ts)},{f.lat},{f.lon},{f.accuracy_m},gps\n")
    s, _ = replay(store, p, progress=False)
    assert s.fixes_accepted == 40 and len(store.candidates()) == 1


def test_anpr_reads_validated_and_stored(store, tmp_path):
    p = tmp_path / "anpr.jsonl"
    p.write_text(
        "\n".join(
            [
                '{"read_id": "R-1", "camera_id": "CAM-0042", "vrm": "yx19 abc", '
                '"ts": "2026-11-21T21:14:05Z", "lat": 53.79, "lon": -1.55, "confidence": 0.93, '
                '"direction": "N"}',
                '{"read_id": "R-2", "camera_id": "CAM-0001", "vrm": "AB12 CDE", '
                '"ts": "2026-11-21T21:15:05Z"}',
                '{"read_id": "R-3", "camera_id": "CAM-9999", "vrm": "AB12 CDE", '
                '"ts": "2026-11-21T21:16:05Z"}',
                '{"read_id": "R-4", "camera_id": "CAM-0001", "vrm": "AB12 CDE", '
                '"ts": "2026-11-21T21:16:05Z", "confidence": 1.7}',
                '{"read_id": "R-1", "camera_id": "CAM-0042", "vrm": "yx19 abc", '
                '"ts": "2026-11-21T21:14:05Z", "lat": 53.79, "lon": -1.55}',
            ]
        )
        + "\n"
    )
    s, _ = replay(store, None, p, progress=False)
    assert (s.anpr_read, s.anpr_accepted, s.anpr_duplicates) == (5, 3, 1)
    assert s.anpr_rejected == {"unknown_camera": 1, "out_of_range": 1}
    # Kept as rows, not only counted: which record, why, and the record itself.
    kept = [
        (r["kind"], r["locator"], r["reason"], r["field"], r["raw"]) for r in store.rejections()
    ]
    lines = p.read_text().splitlines()
    assert kept == [
        ("anpr", "line 3", "unknown_camera", "camera_id", lines[2]),
        ("anpr", "line 4", "out_of_range", "confidence", lines[3]),
    ]
    rows = store.db.execute("SELECT read_id, vrm, vrm_raw, lat FROM anpr_reads ORDER BY 1")
    assert rows.fetchall() == [
        ("R-1", "YX19ABC", "yx19 abc", 53.79),
        ("R-2", "AB12CDE", "AB12 CDE", 53.80),
    ]


def test_parallel_parsing_gives_the_same_result(tmp_path, monkeypatch):
    """Big files are parsed in a second process; the outcome must not change."""
    import geomonitor.io.replay as replay_mod

    lines = _visit_lines()
    body = "\n".join(lines[:20] + BAD + ["", "  "] + lines[20:]) + "\n"  # and blank lines
    (tmp_path / "fixes.jsonl").write_text(body)
    out = []
    for threshold in (1 << 40, 0):  # in-process, then a parser process
        monkeypatch.setattr(replay_mod, "PARALLEL_PARSE_BYTES", threshold)
        with Store(tmp_path / f"{threshold}.db") as st:
            st.load_registry(parse_registry(make_doc()))
            s, _ = replay(st, tmp_path / "fixes.jsonl", progress=False, chunk=7, parallel=True)
            out.append(
                (
                    s.fixes_read,
                    s.fixes_accepted,
                    s.fixes_rejected,
                    [r["locator"] for r in st.rejections()],
                    [(r["reason"], r["field"], r["message"], r["raw"]) for r in st.rejections()],
                    [c.to_json() for c in st.candidates()],
                )
            )
    assert out[0] == out[1]
    assert out[0][3] == [f"line {n}" for n in range(21, 27)]
    assert out[0][0] == len(lines) + len(BAD)  # blank lines are not records


def test_device_events_survive_a_second_replay_with_late_fixes(tmp_path):
    def line(m, strap="ok", batt=80):
        f = fix_at(1000, 0, m)
        return json.dumps(
            {
                "tag_id": f.tag_id,
                "ts": iso(f.ts),
                "lat": f.lat,
                "lon": f.lon,
                "accuracy_m": 10,
                "strap": strap,
                "battery_pct": batt,
            }
        )

    lines = [
        line(m, "tamper" if 10 <= m < 14 else "ok", 15 if m >= 30 else 80) for m in range(40)
    ] + [line(300)]
    (tmp_path / "a.jsonl").write_text("\n".join(lines[:8] + lines[16:]) + "\n")
    (tmp_path / "b.jsonl").write_text("\n".join(lines[8:16]) + "\n")  # forwarded late
    (tmp_path / "all.jsonl").write_text("\n".join(lines) + "\n")
    got = []
    for files in (["a.jsonl", "b.jsonl"], ["all.jsonl"]):
        with Store(tmp_path / f"{len(files)}.db") as st:
            st.load_registry(parse_registry(make_doc()))
            for f in files:
                replay(st, tmp_path / f, progress=False)
            got.append(
                (
                    [c.to_json() for c in st.candidates()],
                    [(e["kind"], e["started_at"], e["ended_at"]) for e in st.device_events()],
                )
            )
    assert got[0] == got[1]
    cands, events = got[1]
    assert sorted(c["kind"] for c in cands) == ["no_contact", "strap_tamper"]
    assert {k for k, _, _ in events} == {
        "strap_tamper",
        "low_battery",
        "no_contact",
        "battery_depleted",
    }
