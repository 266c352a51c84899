"""Every change to a candidate in its history, and the links between a retracted candidate
and its successor, as the store keeps them and the desk reads them."""

from __future__ import annotations

import json

import pytest

from geomonitor.app.cli import main
from geomonitor.engine import Engine
from geomonitor.model.times import iso
from geomonitor.store.domain import Store

from ..conftest import batch, fix_at, make_doc, make_registry


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "g.db") as s:
        s.load_registry(make_registry())
        yield s


def apply(store, engine, fixes):
    res = engine.process(batch(fixes))
    with store.transaction():
        return store.apply_candidates(res.upserts, res.retracted)


def actions(store, cid):
    return [h["action"] for h in store.candidate_history(cid)]


def test_a_candidate_opened_and_closed_in_one_batch_has_both_in_its_history(store):
    e = Engine(make_registry())
    w = apply(
        store, e, [fix_at(0, 0, m) for m in range(10)] + [fix_at(1000, 0, 10 + m) for m in range(3)]
    )
    (c,) = store.candidates()
    assert c.status == "closed"
    assert actions(store, c.id) == ["opened", "closed"]
    assert (w.opened, w.closed) == (1, 1)


def test_open_then_updated_then_closed_across_batches(store):
    e = Engine(make_registry())
    apply(store, e, [fix_at(0, 0, m) for m in range(3)])
    apply(store, e, [fix_at(0, 0, m) for m in range(3, 6)])
    apply(store, e, [fix_at(1000, 0, 6 + m) for m in range(3)])
    (c,) = store.candidates()
    assert actions(store, c.id) == ["opened", "updated", "closed"]


def test_a_retracted_candidate_names_its_successor_and_the_successor_what_it_replaced(
    store, tmp_path, capsys
):
    e = Engine(make_registry())
    apply(store, e, [fix_at(0, 0, m) for m in range(10, 20)])
    (old,) = store.candidates()
    # Store-and-forward: earlier fixes inside arrive late; the episode began at minute 5.
    w = apply(store, e, [fix_at(0, 0, m) for m in range(5, 10)])
    (new,) = store.candidates()
    assert new.id != old.id and w.retracted == 1
    assert store.candidate(old.id) is None
    gone = store.retracted_candidate(old.id)
    assert gone is not None and gone[1] == new.id and gone[0].opened_at == old.opened_at
    assert store.candidate_history(old.id)[-1] == {
        **store.candidate_history(old.id)[-1],
        "action": "retracted",
        "superseded_by": new.id,
    }
    assert store.candidate_history(new.id)[0]["supersedes"] == old.id

    db = str(tmp_path / "g.db")
    assert main(["alerts", "show", old.id, "--db", db]) == 0
    out = capsys.readouterr().out
    assert f"{old.id}: retracted, superseded by {new.id}" in out
    assert main(["alerts", "history", new.id, "--db", db]) == 0
    out = capsys.readouterr().out
    assert f"opened, replacing {old.id}" in out and "GMT" in out
    assert main(["alerts", "history", old.id, "--db", db]) == 0
    assert f"retracted, superseded by {new.id}" in capsys.readouterr().out


def test_a_retraction_without_successor_says_withdrawn(store, tmp_path, capsys):
    """Late fixes that show the subject was never inside for long enough."""
    e = Engine(make_registry())
    apply(store, e, [fix_at(0, 0, 10), fix_at(0, 0, 11)])
    (old,) = store.candidates()
    w = apply(store, e, [fix_at(1000, 0, 10.5)])  # outside between the two: no episode
    assert w.retracted == 1 and store.candidates() == []
    gone = store.retracted_candidate(old.id)
    assert gone is not None and gone[0].id == old.id and gone[1] is None
    assert main(["alerts", "show", old.id, "--db", str(tmp_path / "g.db")]) == 0
    assert "retracted, withdrawn by later evidence" in capsys.readouterr().out


# ---------------------------------------------------------------- the desk's list
@pytest.fixture
def desk(tmp_path):
    """Two subjects in two districts: S-0001 (Leeds) breaches its zone twice and goes
    silent; S-0002 (Bradford) has a tamper."""
    doc = make_doc()
    doc["districts"].append({"code": "E08000032", "name": "Bradford"})
    doc["subjects"][1]["district"] = "Bradford"
    (tmp_path / "registry.json").write_text(json.dumps(doc))
    fixes = [fix_at(0, 0, m) for m in range(10)] + [fix_at(1000, 0, 10 + m) for m in range(3)]
    fixes += [fix_at(0, 0, 60 + m) for m in range(10)] + [fix_at(1000, 0, 70 + m) for m in range(3)]
    fixes += [fix_at(5000, 0, m, tag="BUD-0002") for m in range(0, 400, 5)]
    fixes += [fix_at(5000, 0, 30 + m, tag="BUD-0002", strap="tamper") for m in range(3)]
    lines = [
        json.dumps(
            {"tag_id": f.tag_id, "ts": iso(f.ts), "lat": f.lat, "lon": f.lon,
             "accuracy_m": f.accuracy_m, "strap": f.strap}
        )
        for f in fixes
    ]  # fmt: skip
    (tmp_path / "fixes.jsonl").write_text("\n".join(lines) + "\n")
    db = str(tmp_path / "g.db")
    assert main(["registry", "load", str(tmp_path / "registry.json"), "--db", db]) == 0
    assert (
        main(["replay", "--db", db, "--fixes", str(tmp_path / "fixes.jsonl"), "--no-progress"]) == 0
    )
    return db


def listed(capsys, db, *args):
    capsys.readouterr()
    assert main(["alerts", "list", "--db", db, "--format", "jsonl", *args]) == 0
    return [json.loads(x) for x in capsys.readouterr().out.splitlines()]


def test_the_queue_is_sorted_by_severity_then_age_and_filters(desk, capsys):
    rows = listed(capsys, desk)
    sev = [r["severity"] for r in rows]
    order = ["critical", "high", "medium", "low"]
    open_first = [r["status"] for r in rows]
    assert open_first == sorted(open_first, key=lambda s: s != "open")
    for status in ("open", "closed"):
        group = [r for r in rows if r["status"] == status]
        keys = [(order.index(r["severity"]), r["opened_at"]) for r in group]
        assert keys == sorted(keys)
    assert "critical" in sev
    assert {r["kind"] for r in listed(capsys, desk, "--kind", "strap_tamper")} == {"strap_tamper"}
    assert {r["subject_id"] for r in listed(capsys, desk, "--district", "Bradford")} == {"S-0002"}
    assert {r["subject_id"] for r in listed(capsys, desk, "--district", "e08000035")} == {"S-0001"}
    crit = listed(capsys, desk, "--severity", "critical")
    assert crit and {r["severity"] for r in crit} == {"critical"}
    since = listed(capsys, desk, "--since", "2026-11-21T18:30:00Z")
    assert since and all(r["opened_at"] >= "2026-11-21T18:30:00Z" for r in since)
    until = listed(capsys, desk, "--until", "2026-11-21T18:30:00Z")
    assert len(since) + len(until) == len(rows)


def test_the_table_shows_severity_local_time_and_says_what_it_left_out(desk, capsys):
    capsys.readouterr()
    assert main(["alerts", "list", "--db", desk, "--limit", "1"]) == 0
    out = capsys.readouterr().out
    # the open outage (high) comes before the closed breaches (critical)
    assert "SEVERITY" in out and "HIGH" in out and "no_contact" in out and "GMT" in out
    assert "FIXES" in out and "READS" in out
    n = len(listed(capsys, desk))
    assert f"showing 1 of {n}" in out
    assert main(["alerts", "list", "--db", desk, "--district", "Atlantis"]) == 2
    assert "no district 'Atlantis'" in capsys.readouterr().err
    assert main(["alerts", "list", "--db", desk, "--since", "yesterday"]) == 2
    assert "--since" in capsys.readouterr().err
