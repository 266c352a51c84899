"""Forged or broken copies of stored fixes: the fix held stays, the copy is refused and the
conflict is recorded for the audit; honest resends behave as ever."""

from __future__ import annotations

import json

import pytest

from geomonitor.app.cli import main
from geomonitor.io.replay import replay
from geomonitor.model.times import iso
from geomonitor.store.domain import Store

from ..conftest import BASE_DOC, fix_at, make_registry
from ..rules.test_curfew import curfew


def line(f, **over) -> str:
    rec = {"tag_id": f.tag_id, "ts": iso(f.ts), "lat": f.lat, "lon": f.lon,
           "accuracy_m": f.accuracy_m, **over}  # fmt: skip
    return json.dumps(rec)


@pytest.fixture
def late_home(tmp_path):
    """S-0001 out 2 km away from 18:00 (before a 19:00 curfew) until 20:00, then home: a
    late return. Registry with the curfew; first file replayed."""
    orders = [dict(BASE_DOC["orders"][0], conditions=[curfew()])]
    reg = make_registry(orders=orders)
    away = [fix_at(2000, 0, m) for m in range(0, 120, 2)]
    home = [fix_at(0, 0, m) for m in range(120, 600, 5)]
    (tmp_path / "day.jsonl").write_text("\n".join(line(f) for f in away + home) + "\n")
    db = tmp_path / "g.db"
    with Store(db) as st:
        st.load_registry(reg)
        replay(st, tmp_path / "day.jsonl", progress=False)
        (c,) = st.candidates()
        assert c.kind == "curfew_late_return"
    return tmp_path, reg, away, c


def test_forged_copies_at_home_do_not_replace_the_stored_fixes(late_home):
    tmp_path, _, away, before = late_home
    # 23 copies of stored "away" fixes, placed at home with a better claimed accuracy.
    forged = [line(fix_at(0, 0, (f.ts - away[0].ts) / 60_000, acc=2.0)) for f in away[:23]]
    (tmp_path / "forged.jsonl").write_text("\n".join(forged) + "\n")
    with Store(tmp_path / "g.db") as st:
        s, _ = replay(st, tmp_path / "forged.jsonl", progress=False)
        assert s.fixes_rejected == {"conflicting_duplicate": 23} and s.fixes_accepted == 0
        (after,) = st.candidates()
        assert after.to_json() == before.to_json()  # the true late return stands
        refused = st.rejections("conflicting_duplicate")
        assert len(refused) == 23 and refused[0]["locator"] == "line 1"
        assert json.loads(refused[0]["raw"])["accuracy_m"] == 2.0
        events = st.device_events(kind="conflicting_fix")
        assert len(events) == 23 and events[0]["subject_id"] == "S-0001"
        assert events[0]["details"]["distance_m"] == pytest.approx(2000, abs=1)
    # The audit keeps them across a later replay (which syncs the engine's own events).
    (tmp_path / "more.jsonl").write_text(line(fix_at(0, 0, 700)) + "\n")
    with Store(tmp_path / "g.db") as st:
        replay(st, tmp_path / "more.jsonl", progress=False)
        assert len(st.device_events(kind="conflicting_fix")) == 23


def test_honest_resends_behave_as_ever(late_home):
    """The same fix again is a duplicate; a copy whose circle overlaps and claims a better
    accuracy replaces it (the better copy wins, whatever arrives first)."""
    tmp_path, _, away, before = late_home
    same = [line(f) for f in away[:5]]
    better = [line(fix_at(2000 + 5, 0, (away[5].ts - away[0].ts) / 60_000, acc=3.0))]
    (tmp_path / "again.jsonl").write_text("\n".join(same + better) + "\n")
    with Store(tmp_path / "g.db") as st:
        s, _ = replay(st, tmp_path / "again.jsonl", progress=False)
        assert s.fixes_rejected == {} and s.fixes_accepted == 6 and s.duplicates == 5
        (acc,) = st.db.execute("SELECT accuracy_m FROM fixes WHERE ts=?", (away[5].ts,)).fetchone()
        assert acc == 3.0
        assert [c.to_json()["opened_at"] for c in st.candidates()] == [
            before.to_json()["opened_at"]
        ]


def test_conflicting_copies_in_one_file_the_first_stays(tmp_path, capsys):
    reg_doc = tmp_path / "r.json"
    from ..conftest import make_doc

    reg_doc.write_text(json.dumps(make_doc()))
    first, copy = fix_at(0, 0, 1), fix_at(900, 0, 1, acc=5.0)
    (tmp_path / "f.jsonl").write_text(line(first) + "\n" + line(copy) + "\n")
    db = str(tmp_path / "g.db")
    assert main(["registry", "load", str(reg_doc), "--db", db]) == 0
    assert main(["replay", "--db", db, "--no-progress", "--fixes", str(tmp_path / "f.jsonl")]) == 0
    with Store(db) as st:
        ((lat, acc),) = st.db.execute("SELECT lat, accuracy_m FROM fixes").fetchall()
        assert (lat, acc) == (pytest.approx(first.lat), first.accuracy_m)
        (r,) = st.rejections("conflicting_duplicate")
        assert r["locator"] == "line 2" and "900 m from it" in r["message"]
    capsys.readouterr()
    assert main(["devices", "--db", db, "--kind", "conflicting_fix"]) == 0
    assert "conflicting_fix" in capsys.readouterr().out
