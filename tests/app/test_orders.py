"""Orders as they really are, through the command line and a real store: an absence recorded
after the fact retracts with a link (and before the fact gives the same result), a
cancelled one brings the candidates back, a variation backdated a week re-judges exactly
the candidates of the week it covers, and a change to an order without a variation is
refused."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from geomonitor.app.cli import main
from geomonitor.model.times import iso, parse_ts
from geomonitor.store.domain import Store

from ..conftest import BASE_DOC, make_doc
from ..rules.test_curfew import curfew
from ..rules.test_orders import HOSPITAL, at, visit

ABSENCE = ["--from", "2026-11-21 19:30", "--to", "2026-11-21 21:00",
           "--destination", f"{HOSPITAL[0]},{HOSPITAL[1]}", "--radius", "200",
           "--authorised-by", "PO Smith", "--reason", "hospital appointment"]  # fmt: skip


def _fix_lines(fixes) -> str:
    return "".join(
        json.dumps({"tag_id": f.tag_id, "ts": iso(f.ts), "lat": f.lat, "lon": f.lon,
                    "accuracy_m": f.accuracy_m}) + "\n"
        for f in fixes
    )  # fmt: skip


def _hospital_doc():
    zone = {"id": "C-1", "type": "exclusion_zone", "zone": "Z-H"}
    return make_doc(
        zones=[{"id": "Z-H", "name": "hospital area",
                "center": {"lat": HOSPITAL[0], "lon": HOSPITAL[1]}, "radius_m": 400}],
        orders=[dict(BASE_DOC["orders"][0], conditions=[curfew(), zone])],
    )  # fmt: skip


@pytest.fixture
def visit_files(tmp_path: Path) -> Path:
    (tmp_path / "registry.json").write_text(json.dumps(_hospital_doc()))
    (tmp_path / "fixes.jsonl").write_text(_fix_lines(visit()))
    return tmp_path


def _run(*argv: str) -> None:
    assert main(list(argv)) == 0, argv


def _load_and_replay(d: Path, db: str) -> None:
    _run("registry", "load", str(d / "registry.json"), "--db", db)
    _run("replay", "--db", db, "--fixes", str(d / "fixes.jsonl"), "--no-progress",
         "--received-at", "2026-11-22T08:00:00Z")  # fmt: skip


def test_an_absence_recorded_after_the_candidates_retracts_them_with_a_link(visit_files, capsys):
    d, db = visit_files, str(visit_files / "after.db")
    _load_and_replay(d, db)
    with Store(db) as st:
        raised = {c.id: c.kind for c in st.candidates()}
    assert sorted(raised.values()) == ["curfew_absent", "exclusion_zone"]
    capsys.readouterr()

    _run("absences", "add", "S-0001", *ABSENCE, "--db", db)
    out = capsys.readouterr().out
    assert "A-0001" in out and "2 candidates retracted" in out
    with Store(db) as st:
        assert st.candidates() == []
        authorised = st.authorised_of("S-0001")
        assert sorted(c.id for c, _ in authorised) == sorted(raised)
        assert {a for _, a in authorised} == {"A-0001"}
    for cid in raised:
        _run("alerts", "history", cid, "--db", db)
        hist = capsys.readouterr().out
        assert "retracted" in hist and "because of authorised absence A-0001" in hist
        assert "kept off the desk by authorised absence A-0001" in hist
        _run("alerts", "show", cid, "--db", db)
        assert f"{cid}: retracted, because of authorised absence A-0001" in capsys.readouterr().out

    # recorded before the fixes came: the same result, nothing ever on the desk
    db2 = str(d / "before.db")
    _run("registry", "load", str(d / "registry.json"), "--db", db2)
    _run("absences", "add", "S-0001", *ABSENCE, "--db", db2)
    _run("replay", "--db", db2, "--fixes", str(d / "fixes.jsonl"), "--no-progress",
         "--received-at", "2026-11-22T08:00:00Z")  # fmt: skip
    with Store(db2) as st:
        assert st.candidates() == []
        assert sorted(c.id for c, _ in st.authorised_of("S-0001")) == sorted(raised)
        assert all(st.candidate_history(cid)[0]["action"] == "authorised" for cid in raised)

    # cancelled: the candidates come back, saying why
    _run("absences", "cancel", "A-0001", "--reason", "recorded for the wrong day", "--db", db)
    assert "2 candidates opened" in capsys.readouterr().out
    with Store(db) as st:
        assert sorted(c.id for c in st.candidates()) == sorted(raised)
        assert st.authorised_of("S-0001") == []
        last = st.candidate_history(next(iter(raised)))[-1]
        assert "cancelled: recorded for the wrong day" in last["cause"]
    _run("absences", "list", "S-0001", "--db", db)
    listed = capsys.readouterr().out
    assert "A-0001" in listed and "cancelled: recorded for the wrong day" in listed


def test_the_pub_during_the_absence_stays_on_the_desk(tmp_path, capsys):
    (tmp_path / "registry.json").write_text(json.dumps(_hospital_doc()))
    (tmp_path / "fixes.jsonl").write_text(_fix_lines(visit(pub=("20:00", "20:30"))))
    db = str(tmp_path / "g.db")
    _load_and_replay(tmp_path, db)
    _run("absences", "add", "S-0001", *ABSENCE, "--db", db)
    with Store(db) as st:
        (c,) = st.candidates()
    assert c.kind == "curfew_absent" and c.opened_at == at("20:00")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--to", "2026-11-21 19:00"], "to: the absence must end after it starts"),
        (["--to", "2026-12-21 19:00"], "longer than 14 days"),
        (["--reason", "x"], "reason: say why"),
        (["--destination", "53.8"], "--destination: expected LAT,LON"),
        (["--radius", "-5"], "radius: expected a positive number"),
        (["--from", "tomorrow"], "--from: not a time such as 2026-11-17 19:30"),
    ],
)
def test_a_bad_absence_is_refused_naming_the_field(visit_files, capsys, argv, message):
    db = str(visit_files / "g.db")
    _run("registry", "load", str(visit_files / "registry.json"), "--db", db)
    args = list(ABSENCE)
    for k in range(0, len(argv), 2):
        args[args.index(argv[k]) + 1] = argv[k + 1]
    assert main(["absences", "add", "S-0001", *args, "--db", db]) != 0
    assert message in capsys.readouterr().err
    with Store(db) as st:
        assert st.absence_rows() == []
    assert main(["absences", "add", "S-9999", *ABSENCE, "--db", db]) != 0
    assert "no subject S-9999" in capsys.readouterr().err


# --------------------------------------------------------------------------- variations
def _zone(zid: str, dx: float) -> dict:
    from ..rules.test_orders import _latlon

    lat, lon = _latlon(dx)
    return {"id": zid, "name": zid, "center": {"lat": lat, "lon": lon}, "radius_m": 300}


def _two_weeks_of_visits() -> str:
    """1-14 Nov 2026: each day an hour at A (the centre) from 12:00 and an hour at B (2 km
    east) from 15:00, fixes every five minutes, home (5 km west) otherwise."""
    from ..conftest import fix_at

    fixes = []
    t0 = parse_ts("2026-11-21T18:00:00Z")
    for day in range(1, 15):
        base = parse_ts(f"2026-11-{day:02d}T00:00:00Z")
        for m in range(0, 24 * 60, 5):
            dx = 0.0 if 12 * 60 <= m < 13 * 60 else 2000.0 if 15 * 60 <= m < 16 * 60 else -5000.0
            fixes.append(fix_at(dx, 0, (base + m * 60_000 - t0) / 60_000))
    return _fix_lines(fixes)


def _varied_doc(variations: list[dict]) -> dict:
    order = dict(BASE_DOC["orders"][0],
                 conditions=[{"id": "C-1", "type": "exclusion_zone", "zone": "Z-A"}],
                 variations=variations)  # fmt: skip
    return make_doc(zones=[_zone("Z-A", 0), _zone("Z-B", 2000)], orders=[order])


VARIATION = {
    "id": "V-1",
    "type": "court_variation",
    "reason": "the victim moved: the zone is now round the new address",
    "effective": "2026-11-07T00:00:00Z",
    "conditions": [{"id": "C-1", "type": "exclusion_zone", "zone": "Z-B"}],
}


def test_a_variation_backdated_a_week_rejudges_exactly_the_candidates_it_touches(tmp_path, capsys):
    (tmp_path / "fixes.jsonl").write_text(_two_weeks_of_visits())
    (tmp_path / "v1.json").write_text(json.dumps(_varied_doc([])))
    (tmp_path / "v2.json").write_text(json.dumps(_varied_doc([VARIATION])))
    db = str(tmp_path / "g.db")
    _run("registry", "load", str(tmp_path / "v1.json"), "--db", db)
    _run("replay", "--db", db, "--fixes", str(tmp_path / "fixes.jsonl"), "--no-progress",
         "--received-at", "2026-11-15T00:00:00Z")  # fmt: skip
    with Store(db) as st:
        before = {c.id: c for c in st.candidates()}
        seqs = {cid: len(st.candidate_history(cid)) for cid in before}
    assert len(before) == 14 and {c.zone_id for c in before.values()} == {"Z-A"}

    capsys.readouterr()
    _run("registry", "load", str(tmp_path / "v2.json"), "--db", db)
    assert "judged again: 8 candidates retracted, 8 opened" in capsys.readouterr().out
    with Store(db) as st:
        after = {c.id: c for c in st.candidates()}
        # the plain reference: a fresh store with the varied order from the start
        ref_db = str(tmp_path / "ref.db")
        with Store(ref_db) as ref:
            pass
        _run("registry", "load", str(tmp_path / "v2.json"), "--db", ref_db)
        _run("replay", "--db", ref_db, "--fixes", str(tmp_path / "fixes.jsonl"),
             "--no-progress", "--received-at", "2026-11-15T00:00:00Z")  # fmt: skip
        with Store(ref_db) as ref:
            expected = {c.id: c.to_json() for c in ref.candidates()}
        assert {k: c.to_json() for k, c in after.items()} == expected
        effective = parse_ts(VARIATION["effective"])
        kept = {k for k, c in before.items() if c.opened_at < effective}
        gone = set(before) - set(after)
        assert gone == {k for k, c in before.items() if c.opened_at >= effective}
        assert len(kept) == 6 and len(gone) == 8
        # untouched candidates have no new history; the others say which variation
        for k in kept:
            assert len(st.candidate_history(k)) == seqs[k]
        for k in gone:
            (last,) = [h for h in st.candidate_history(k) if h["action"] == "retracted"]
            assert "variation V-1 of order O-0001 (court variation" in last["cause"]
        for k in set(after) - kept:
            assert "variation V-1" in st.candidate_history(k)[0]["cause"]
        assert {after[k].zone_id for k in set(after) - kept} == {"Z-B"}
    capsys.readouterr()
    _run("registry", "history", "--db", db)
    hist = capsys.readouterr().out
    assert "variation V-1: court variation, in effect from Sat 07 Nov 2026 00:00 GMT" in hist
    assert "the victim moved" in hist


def test_an_order_changed_without_a_variation_is_refused(tmp_path, capsys):
    (tmp_path / "v1.json").write_text(json.dumps(_varied_doc([VARIATION])))
    db = str(tmp_path / "g.db")
    _run("registry", "load", str(tmp_path / "v1.json"), "--db", db)
    capsys.readouterr()
    silent = _varied_doc([VARIATION])
    silent["orders"][0]["conditions"][0]["zone"] = "Z-B"
    (tmp_path / "silent.json").write_text(json.dumps(silent))
    assert main(["registry", "load", str(tmp_path / "silent.json"), "--db", db]) != 0
    assert "order O-0001: conditions changed without a variation" in capsys.readouterr().err
    edited = _varied_doc([dict(VARIATION, reason="something else")])
    (tmp_path / "edited.json").write_text(json.dumps(edited))
    assert main(["registry", "load", str(tmp_path / "edited.json"), "--db", db]) != 0
    assert "variation V-1 was changed" in capsys.readouterr().err
    with Store(db) as st:
        assert st.registry_version() == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"type": "whim"}, 'unknown variation type "whim"'),
        ({"reason": " "}, "reason: missing: say why the order changed"),
        ({"effective": "2025-01-01T00:00:00Z"}, "not after the order starts"),
        ({"effective": "2026-11-07"}, "effective"),
    ],
)
def test_a_bad_variation_is_refused_naming_the_field(tmp_path, capsys, change, message):
    doc = _varied_doc([dict(copy.deepcopy(VARIATION), **change)])
    (tmp_path / "r.json").write_text(json.dumps(doc))
    assert main(["registry", "check", str(tmp_path / "r.json")]) != 0
    err = capsys.readouterr().err
    assert "orders[0].variations[0]" in err and message in err


def test_a_backdated_correction_replaces_what_it_touches_with_links(tmp_path, capsys):
    """A correction from 7 Nov: the zone applies from 12:30 each day, not all day. The
    episodes after it open at 12:30, not 12:00 (another id): each is retracted and its
    replacement linked both ways, naming the correction; those before keep their history."""
    (tmp_path / "fixes.jsonl").write_text(_two_weeks_of_visits())
    (tmp_path / "v1.json").write_text(json.dumps(_varied_doc([])))
    correction = {
        "id": "V-2",
        "type": "correction",
        "reason": "the order says from 12:30",
        "effective": "2026-11-07T00:00:00Z",
        "conditions": [
            {
                "id": "C-1",
                "type": "exclusion_zone",
                "zone": "Z-A",
                "schedule": [
                    {
                        "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                        "start": "12:30",
                        "end": "23:00",
                    }
                ],
            }
        ],
    }
    (tmp_path / "v2.json").write_text(json.dumps(_varied_doc([correction])))
    db = str(tmp_path / "g.db")
    _run("registry", "load", str(tmp_path / "v1.json"), "--db", db)
    _run("replay", "--db", db, "--fixes", str(tmp_path / "fixes.jsonl"), "--no-progress",
         "--received-at", "2026-11-15T00:00:00Z")  # fmt: skip
    with Store(db) as st:
        before = {c.id: c for c in st.candidates()}
    _run("registry", "load", str(tmp_path / "v2.json"), "--db", db)
    effective = parse_ts(correction["effective"])
    with Store(db) as st:
        after = {c.id: c for c in st.candidates()}
        touched = {k for k, c in before.items() if c.opened_at >= effective}
        assert len(touched) == 8 and set(before) - touched <= set(after)
        assert not touched & set(after)
        for k in touched:
            (gone,) = [h for h in st.candidate_history(k) if h["action"] == "retracted"]
            new = gone["superseded_by"]
            assert after[new].opened_at == before[k].opened_at + 30 * 60_000  # from 12:30
            assert st.candidate_history(new)[0]["supersedes"] == k
            assert "variation V-2 of order O-0001 (correction" in gone["cause"]
    capsys.readouterr()
    _run("alerts", "history", next(iter(touched)), "--db", db)
    out = capsys.readouterr().out
    assert "retracted, superseded by C-" in out and "because of variation V-2" in out
