"""Retention, withdrawal of consent and subject access (issue 22): what is due is removed
for real, nothing else is, and a person can see everything held about them and nothing
about anyone else."""

from __future__ import annotations

import json
import sqlite3
import struct
import time
from pathlib import Path

import pytest

from geomonitor.app.cli import main
from geomonitor.app.retention import Schedule, load_schedule, plan, run
from geomonitor.app.rights import OTHER, export
from geomonitor.io.replay import replay
from geomonitor.model.errors import ConfigError
from geomonitor.model.orders import Absence
from geomonitor.model.read import parse_read
from geomonitor.model.registry_load import parse_registry
from geomonitor.model.times import MS_PER_DAY, MS_PER_HOUR, iso
from geomonitor.store.domain import Store

from ..conftest import BASE_DOC, MINUTE, T0, fix_at, make_doc
from ..rules.test_curfew import curfew

END = T0 + 2 * MS_PER_DAY  # the orders of S-0001 and S-0003 end then
DUE = END + Schedule().positions_days * MS_PER_DAY
HOME = fix_at(2000, 0, 0)  # 2 km east of the exclusion zone: the curfew address
VRM = "YX19ABC"


def _doc() -> dict:
    ended = {"starts": "2026-01-01T00:00:00Z", "ends": iso(END)}
    night = curfew(location={"lat": HOME.lat, "lon": HOME.lon})
    return make_doc(
        subjects=[*BASE_DOC["subjects"],
                  {"id": "S-0003", "district": "Leeds", "birth_date": "1979-02-03"}],
        orders=[
            dict(BASE_DOC["orders"][0], **ended, conditions=[
                {"id": "C-1", "type": "exclusion_zone", "zone": "Z-CIRCLE"}, night,
                {"id": "C-4", "type": "declared_vehicles", "vrms": [VRM]},
                {"id": "C-6", "type": "non_association", "subjects": ["S-0002"],
                 "distance_m": 50, "min_minutes": 10}]),
            dict(BASE_DOC["orders"][0], id="O-0002", subject="S-0002"),
            dict(BASE_DOC["orders"][0], id="O-0003", subject="S-0003", **ended),
        ],
        fittings=[*BASE_DOC["fittings"], dict(BASE_DOC["fittings"][0], tag="BUD-0099",
                                              subject="S-0003")],
    )  # fmt: skip


def _fixes(tag: str, seed: int) -> list:
    """Two days: in the zone at 18:00-18:05 and at 12:00-12:05 the next day, at home
    (2 km east) every 10 minutes otherwise. Each fix a little apart, so that its
    coordinates are unique bytes in the file."""
    out = []
    for m in range(0, 2880, 5):
        inside = m < 6 or 1080 <= m < 1086
        dx, dy = (0.0, 0.0) if inside else (2000.0, 0.0)
        if not inside and m % 10:
            continue
        out.append(fix_at(dx + seed + m * 1e-3, dy + 1e-4 * m, m, tag=tag))
    return out


def _lines(fixes) -> str:
    return "".join(json.dumps({"tag_id": f.tag_id, "ts": iso(f.ts), "lat": f.lat, "lon": f.lon,
                               "accuracy_m": f.accuracy_m}) + "\n" for f in fixes)  # fmt: skip


@pytest.fixture
def held(tmp_path):
    """A store after a replay: S-0001 (orders ended) with two zone candidates, one decided
    with a warning letter and one dismissed; S-0002 (order running); S-0003 (ended, held)."""
    db = tmp_path / "r.db"
    st = Store(db)
    st.load_registry(parse_registry(_doc()))
    fixes = {t: _fixes(t, i) for i, t in enumerate(("BUD-0001", "BUD-0002", "BUD-0099"))}
    path = tmp_path / "fixes.jsonl"
    path.write_text("".join(_lines(f) for f in fixes.values()))
    replay(st, path, progress=False, received_at=END + MS_PER_DAY)
    reg = st.current_registry()
    reads = [parse_read({"read_id": f"R-{i}", "camera_id": "CAM-0001", "vrm": VRM,
                         "ts": iso(T0 + m * MINUTE)}, reg.cameras)
             for i, m in enumerate((30, 300, 2000))]  # fmt: skip
    st.insert_reads(reads)
    zone = sorted((c for c in st.candidates(subject_id="S-0001") if c.kind == "exclusion_zone"),
                  key=lambda c: c.opened_at)  # fmt: skip
    assert len(zone) == 2
    a, b = zone
    now = int(time.time() * 1000)
    with st.transaction():
        for c in st.candidates(subject_id="S-0001"):
            outcome = "warning_letter" if c.id == a.id else "dismissed"
            st.save_review(c.id, now, "dana", "decide", outcome, outcome,
                           None if c.id == a.id else "gps_drift", "a note", now)  # fmt: skip
    from geomonitor.app.retention import hold

    hold(st, "S-0003", "appeal pending (case 12/345)", "cli:test", "cli", now)
    with st.transaction():  # an authorised absence each for S-0001 and S-0002 (before the data)
        lo = T0 - 10 * MS_PER_DAY
        for k, sid in enumerate(("S-0001", "S-0002")):
            st.add_absence(Absence(f"A-{k}", sid, lo, lo + MS_PER_HOUR, "OM", "hospital visit"),
                           now, "cli:test")  # fmt: skip
    yield st, db, fixes, path, a, b
    st.close()


def _raw(db: Path) -> bytes:
    wal = Path(str(db) + "-wal")
    return db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def _lat_bytes(f) -> bytes:
    return struct.pack(">d", f.lat)


def test_the_threshold_is_pinned_at_just_below_and_just_above(held):
    st, *_ = held
    s = Schedule()
    assert [sp.subject_id for sp in plan(st, s, DUE - 1).due] == []
    assert [sp.subject_id for sp in plan(st, s, DUE).due] == ["S-0001"]
    assert [sp.subject_id for sp in plan(st, s, DUE + 1).due] == ["S-0001"]
    p = plan(st, s, DUE)
    assert p.not_due["S-0003"].startswith("legal hold: appeal pending")
    assert "S-0002" not in p.not_due  # a running order: nothing has ended


def test_a_run_removes_what_is_due_for_real_and_nothing_else(held):
    st, db, fixes, _, a, b = held
    ours = fixes["BUD-0001"]
    keep_lo, keep_hi = a.opened_at - MS_PER_HOUR, a.closed_at + MS_PER_HOUR
    kept = [f for f in ours if keep_lo <= f.ts < keep_hi]
    gone = [f for f in ours if not keep_lo <= f.ts < keep_hi]
    assert kept and gone
    raw = _raw(db)
    assert all(_lat_bytes(f) in raw for f in ours)  # the search finds what is there
    _, due = run(st, Schedule(), DUE, "cli:test", "cli", dry_run=True)
    assert st.db.execute("SELECT COUNT(*) FROM fixes WHERE tag_id='BUD-0001'").fetchone()[0] == len(
        ours
    )
    _, removed = run(st, Schedule(), DUE, "cli:test", "cli")
    assert removed == due
    assert removed["fixes"] == len(gone) and removed["anpr_reads"] == 2
    assert removed["absences"] == 1  # S-0001's; S-0002's order runs on
    assert [r["subject_id"] for r in st.absence_rows()] == ["S-0002"]
    held_ts = {r[0] for r in st.db.execute("SELECT ts FROM fixes WHERE tag_id='BUD-0001'")}
    assert held_ts == {f.ts for f in kept}
    raw = _raw(db)
    assert not any(_lat_bytes(f) in raw for f in gone)
    assert all(_lat_bytes(f) in raw for f in kept)
    for tag in ("BUD-0002", "BUD-0099"):  # a running order; a legal hold
        assert all(_lat_bytes(f) in raw for f in fixes[tag])
    assert st.candidate(a.id) is not None and st.review(a.id)["state"] == "warning_letter"
    assert st.candidate(b.id) is None and st.review(b.id) is None
    assert st.review_history(b.id) == [] and st.candidate_history(b.id) == []
    assert [r[0] for r in st.db.execute("SELECT read_id FROM anpr_reads")] == ["R-0"]
    assert Path(str(db) + "-wal").stat().st_size == 0
    row = st.audit_log(subject="S-0001")[0]
    assert row["action"] == "retention_run" and row["outcome"] == "ok"
    assert json.loads(row["detail"])["fixes"] == len(gone)  # counts, never values
    assert st.audit_verify().ok
    # nothing more is due a second time
    # the next run: what was kept is looked at again, and still kept
    again, counts = run(st, Schedule(), DUE + MS_PER_DAY, "cli:test", "cli")
    assert [(sp.subject_id, sp.again) for sp in again.due] == [("S-0001", True)]
    assert counts["fixes"] == 0 and counts["candidates"] == 0
    # the warning letter is reopened and the candidate dismissed: its evidence goes too
    now = int(time.time() * 1000)
    with st.transaction():
        st.save_review(a.id, now, "sam", "reopen", "acknowledged", None, "wrong", None, None)
        st.save_review(a.id, now, "sam", "decide", "dismissed", "dismissed", "gps_drift",
                       None, now)  # fmt: skip
    _, counts = run(st, Schedule(), DUE + 2 * MS_PER_DAY, "cli:test", "cli")
    assert counts["fixes"] == len(kept) and counts["candidates"] == 1
    assert st.candidate(a.id) is None
    raw = _raw(db)
    assert not any(_lat_bytes(f) in raw for f in ours)


def test_without_room_to_rewrite_the_file_the_removed_values_are_still_gone(held, monkeypatch):
    """VACUUM needs room for a copy of the store; when it fails, the rows were zeroed as
    they were deleted (secure_delete), so the checkpointed file holds none of them."""
    st, db, fixes, *_ = held
    real = st.db

    class NoRoom:
        def __getattr__(self, name):
            return getattr(real, name)

        def execute(self, sql, *a):
            if sql == "VACUUM":
                raise sqlite3.OperationalError("database or disk is full")
            return real.execute(sql, *a)

    monkeypatch.setattr(st, "db", NoRoom())
    _, counts = run(st, Schedule(), DUE, "cli:test", "cli")
    monkeypatch.setattr(st, "db", real)
    assert counts["not_rewritten"] == 1 and counts["fixes"] > 0
    gone = {r[0] for r in real.execute("SELECT ts FROM fixes WHERE tag_id='BUD-0001'")}
    raw = _raw(db)
    assert not any(_lat_bytes(f) in raw for f in fixes["BUD-0001"] if f.ts not in gone)
    assert st.audit_log(1)[0]["action"] == "retention_not_rewritten"


def test_after_a_run_the_data_cannot_come_back_and_nothing_is_judged_over_the_gap(held):
    st, _, fixes, path, a, _ = held
    run(st, Schedule(), DUE, "cli:test", "cli")
    before = {c.id for c in st.candidates()}
    s, _ = replay(st, path, progress=False, received_at=END + MS_PER_DAY)
    assert s.fixes_rejected.get("retention_expired") == len(fixes["BUD-0001"])
    (rej,) = st.rejections(reason="retention_expired", limit=1)
    assert rej["raw"] == "(withheld: not kept by law)"
    assert {c.id for c in st.candidates()} == before  # no silence raised, the kept one stays
    assert st.candidate(a.id) is not None


def test_a_legal_hold_released_lets_the_data_go(held, capsys):
    st, db, fixes, *_ = held
    n = "SELECT COUNT(*) FROM fixes WHERE tag_id='BUD-0099'"
    assert main(["retention", "release", "S-0003", "--reason", "appeal dismissed",
                 "--db", str(db)]) == 0  # fmt: skip
    assert main(["retention", "run", "--dry-run", "--at", iso(DUE), "--db", str(db)]) == 0
    assert "2 subjects due" in capsys.readouterr().out
    assert st.db.execute(n).fetchone()[0] == len(fixes["BUD-0099"])  # a dry run removes nothing
    assert main(["retention", "run", "--at", iso(DUE), "--db", str(db)]) == 0
    assert "2 subjects removed" in capsys.readouterr().out
    assert st.db.execute(n).fetchone()[0] < len(fixes["BUD-0099"])
    assert main(["retention", "hold", "S-0003", "--reason", "", "--db", str(db)]) == 2
    assert "needs a reason" in capsys.readouterr().err


def test_the_schedule_comes_from_toml_and_bad_values_are_refused(tmp_path):
    f = tmp_path / "g.toml"
    f.write_text("[retention]\npositions_days = 30\n")
    assert load_schedule(f) == Schedule(positions_days=30)
    for bad in ("positions_days = -1", "positions_days = 'long'", "forever = 1"):
        f.write_text(f"[retention]\n{bad}\n")
        with pytest.raises(ConfigError, match=r"retention\."):
            load_schedule(f)


def test_a_withdrawal_refuses_fixes_from_then_and_stops_the_judging(tmp_path, capsys):
    """S-0001 (a zone and a nightly curfew) withdraws between their two zone visits: the
    fixes from then are refused unkept, and nothing is judged after it: neither the
    second visit nor the silence of the nights that follow."""
    db = tmp_path / "w.db"
    st = Store(db)
    st.load_registry(parse_registry(_doc()))
    at = T0 + 1000 * MINUTE
    assert main(["subject", "withdraw", "S-0001", "--at", iso(at), "--db", str(db)]) == 0
    assert "tag BUD-0001 is due for removal" in capsys.readouterr().out
    assert main(["subject", "withdraw", "S-0001", "--at", iso(at), "--db", str(db)]) == 2
    fixes = _fixes("BUD-0001", 1)
    path = tmp_path / "f.jsonl"
    path.write_text(_lines(fixes))
    anpr = tmp_path / "a.jsonl"  # their declared car at a camera inside the zone
    anpr.write_text("".join(json.dumps({"read_id": f"R-{m}", "camera_id": "CAM-0001",
                                        "vrm": VRM, "ts": iso(T0 + m * MINUTE)}) + "\n"
                            for m in (60, 1200)))  # fmt: skip
    s, _ = replay(st, path, anpr, progress=False, received_at=END + MS_PER_DAY)
    after = [f for f in fixes if f.ts >= at]
    assert s.fixes_rejected == {"consent_withdrawn": len(after)}
    stored = {r[0] for r in st.db.execute("SELECT ts FROM fixes WHERE tag_id='BUD-0001'")}
    assert stored == {f.ts for f in fixes if f.ts < at}
    theirs = st.candidates(subject_id="S-0001")
    assert [c.opened_at for c in theirs if c.kind == "exclusion_zone"] == [T0]
    assert [c.opened_at for c in theirs if c.kind == "vehicle_in_exclusion_zone"] == [
        T0 + 60 * MINUTE]  # fmt: skip
    assert not [c for c in theirs if c.opened_at >= at or c.kind == "curfew_no_signal"]
    assert all(r["raw"] == "(withheld: not kept by law)"
               for r in st.rejections(reason="consent_withdrawn"))  # fmt: skip
    # the schedule counts from the withdrawal, not the order's end
    due = at + Schedule().positions_days * MS_PER_DAY
    assert [sp.subject_id for sp in plan(st, Schedule(), due - 1).due] == []
    assert [sp.subject_id for sp in plan(st, Schedule(), due).due] == ["S-0001"]
    st.close()


def test_a_subject_export_holds_every_row_about_them_and_no_one_else(held, tmp_path, capsys):
    st, db, fixes, _, a, b = held
    assert main(["alerts", "show", a.id, "--db", str(db)]) == 0  # a consultation about them
    doc = export(st, "S-0001")
    assert len(doc["fixes"]) == len(fixes["BUD-0001"])
    assert {r["time"] for r in doc["fixes"]} == {iso(f.ts) for f in fixes["BUD-0001"]}
    theirs = {c.id for c in st.candidates(subject_id="S-0001")}
    assert {c["id"] for c in doc["candidates"]} == theirs
    assert {a.id, b.id} <= {c["id"] for c in doc["candidates"]}
    assert [r["read_id"] for r in doc["anpr_reads"]] == ["R-0", "R-1", "R-2"]
    assert doc["reviews"][a.id][0]["outcome"] == "warning_letter"
    assert any(r["action"] == "view" and r["target"] == a.id for r in doc["consultations"])
    assert doc["consent"]["fittings"][0]["tag_id"] == "BUD-0001"
    assert [r["id"] for r in doc["absences"]] == ["A-0"] and doc["absences"][0]["reason"]
    kinds = {r["kind"] for r in doc["registry"]}
    assert {"subject", "order", "fitting", "zone"} <= kinds
    zone = next(r for r in doc["registry"] if r["kind"] == "zone")
    assert "withheld" in zone["content"]["geometry"]
    out = tmp_path / "sar"
    assert main(["subject", "export", "S-0001", "--out", str(out), "--purpose",
                 "subject access request 2026/17", "--db", str(db)]) == 0  # fmt: skip
    files = sorted(out.iterdir())
    assert [p.name for p in files] == ["subject-S-0001.html", "subject-S-0001.json"]
    for p in files:
        text = p.read_text()
        for other in ("S-0002", "S-0003", "BUD-0002", "BUD-0099"):
            assert other not in text, (p.name, other)
        assert "S-0001" in text and OTHER in text  # the non-association names someone


def test_what_keeps_a_candidates_evidence_pinned():
    from geomonitor.app.retention import _kept

    s = Schedule()
    decided = {"state": "warning_letter", "decided_at": 1_000}
    limit = 1_000 + s.evidence_days * MS_PER_DAY
    assert _kept(decided, s, limit - 1, True) == "decided: warning_letter"
    assert _kept(decided, s, limit, True) is None
    assert _kept(decided, s, limit + 1, True) is None
    assert _kept(decided, s, limit - 1, False) == "decided: warning_letter"  # retracted
    assert _kept(None, s, limit, True) == "under review"
    assert _kept({"state": "acknowledged"}, s, limit, True) == "under review"
    assert _kept(None, s, limit, False) is None  # withdrawn by later evidence, never decided
    assert _kept({"state": "dismissed", "decided_at": limit}, s, limit, True) is None
