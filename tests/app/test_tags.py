"""The tag inventory's commands: the rules a person meets, and one history with the
registry."""

from __future__ import annotations

import sqlite3

import pytest

from geomonitor.app.cli import main
from geomonitor.model.registry_load import parse_registry
from geomonitor.store.domain import Store

from ..conftest import BASE_DOC, make_doc

BRADFORD = {"code": "E08000032", "name": "Bradford"}


@pytest.fixture
def db(tmp_path):
    doc = make_doc(
        districts=[*BASE_DOC["districts"], BRADFORD],
        subjects=[
            *BASE_DOC["subjects"],
            {"id": "S-0003", "district": "Bradford", "birth_date": "1980-02-02"},
            {"id": "S-0004", "district": "Leeds", "birth_date": "2012-03-01"},  # 14
            {"id": "S-0005", "district": "Leeds", "birth_date": "2015-06-01"},  # 11
            {"id": "S-0006", "district": "Leeds", "birth_date": "1979-09-09"},
        ],
        tags=[dict(t, allocated_at="2026-01-01T00:00:00Z") for t in BASE_DOC["tags"]],
    )
    path = tmp_path / "t.db"
    with Store(path) as st:
        st.load_registry(parse_registry(doc))
    return str(path)


def ok(db, capsys, *args) -> str:
    code = main([*args, "--db", db])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def refused(db, capsys, *args) -> str:
    code = main([*args, "--db", db])
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert "Traceback" not in err
    return err


AT = ["--at", "2026-11-20T09:00:00Z", "--by", "pc1234"]


def test_a_units_life_with_who_when_and_why(db, capsys):
    ok(db, capsys, "tags", "add", "BUD-0100", "--model", "Buddi", *AT)
    out = ok(db, capsys, "tags", "allocate", "BUD-0100", "Bradford", *AT, "--reason", "demand")
    assert "allocated (Bradford)" in out
    out = ok(db, capsys, "tags", "fit", "BUD-0100", "S-0003",
             "--consent-recorded-at", "2026-11-20T08:30:00Z",
             "--at", "2026-11-20T10:00:00Z", "--by", "pc1234")  # fmt: skip
    assert "fitted (Bradford), worn by S-0003" in out
    ok(db, capsys, "tags", "remove", "BUD-0100", "--at", "2026-11-25T10:00:00Z", "--by", "pc9")
    ok(db, capsys, "tags", "flag", "BUD-0100", "faulty", "--at", "2026-11-25T11:00:00Z",
       "--by", "pc9", "--reason", "no GPS after a drop")  # fmt: skip
    hist = ok(db, capsys, "tags", "history", "BUD-0100")
    for text in ("add", "allocate", "fit", "remove", "faulty", "pc1234", "pc9", "demand",
                 "no GPS after a drop", "S-0003"):  # fmt: skip
        assert text in hist, text
    # The fitting and the removal are in the registry too: the engine attributes fixes.
    with Store(db) as st:
        (f,) = [f for f in st.current_registry().fittings if f.tag_id == "BUD-0100"]
        assert f.subject_id == "S-0003" and f.removed_at is not None
        assert [e.source for e in st.tag_events("BUD-0100")] == ["command"] * 5
    show = ok(db, capsys, "tags", "show", "BUD-0100")
    assert "faulty" in show and "Bradford" in show


def test_no_fitting_without_consent(db, capsys):
    err = refused(db, capsys, "tags", "fit", "BUD-0099", "S-0006", *AT)
    assert "no fitting without recorded consent" in err


def test_a_youth_needs_a_guardian_consenting_and_present(db, capsys):
    consent = ["--consent-recorded-at", "2026-11-20T08:00:00Z"]
    err = refused(db, capsys, "tags", "fit", "BUD-0099", "S-0004", *consent, *AT)
    assert "under 18" in err and "--guardian-present" in err
    err = refused(db, capsys, "tags", "fit", "BUD-0099", "S-0004", *consent, *AT,
                  "--guardian", "A. Parent")  # fmt: skip
    assert "--guardian-present" in err
    ok(db, capsys, "tags", "fit", "BUD-0099", "S-0004", *consent, *AT,
       "--guardian", "A. Parent", "--guardian-present")  # fmt: skip
    hist = ok(db, capsys, "tags", "history", "BUD-0099")
    assert "guardian consented and was present" in hist and "A. Parent" not in hist


def test_no_one_under_twelve_is_tagged(db, capsys):
    err = refused(db, capsys, "tags", "fit", "BUD-0099", "S-0005",
                  "--consent-recorded-at", "2026-11-20T08:00:00Z", *AT,
                  "--guardian", "A. Parent", "--guardian-present")  # fmt: skip
    assert "12" in err


@pytest.mark.parametrize("status", ["lost", "faulty", "damaged", "retired"])
def test_a_lost_faulty_damaged_or_retired_unit_is_not_fitted(db, capsys, status):
    ok(db, capsys, "tags", "flag", "BUD-0099", status, *AT, "--reason", "stock check")
    err = refused(db, capsys, "tags", "fit", "BUD-0099", "S-0006",
                  "--consent-recorded-at", "2026-11-20T08:00:00Z",
                  "--at", "2026-11-21T09:00:00Z")  # fmt: skip
    assert "cannot" in err and "BUD-0099" in err


def test_a_fitted_unit_is_not_transferred_and_a_unit_is_in_one_district(db, capsys):
    err = refused(db, capsys, "tags", "transfer", "BUD-0001", "Bradford", *AT, "--reason", "x")
    assert "fitted to S-0001; remove it before a transfer" in err
    err = refused(db, capsys, "tags", "transfer", "BUD-0099", "Leeds", *AT, "--reason", "x")
    assert "already in Leeds" in err
    # A Leeds unit is not fitted to a Bradford subject: it is transferred first.
    err = refused(db, capsys, "tags", "fit", "BUD-0099", "S-0003",
                  "--consent-recorded-at", "2026-11-20T08:00:00Z", *AT)  # fmt: skip
    assert "transfer it first" in err
    ok(db, capsys, "tags", "transfer", "BUD-0099", "Bradford", *AT, "--reason", "demand")
    ok(db, capsys, "tags", "fit", "BUD-0099", "S-0003",
       "--consent-recorded-at", "2026-11-20T08:00:00Z", "--at", "2026-11-20T12:00:00Z")  # fmt: skip


def test_registry_loads_and_commands_share_one_history(db, capsys):
    with Store(db) as st:
        got = {(e.tag_id, e.action, e.source) for e in st.tag_events()}
    assert ("BUD-0001", "fit", "registry") in got and ("BUD-0099", "add", "registry") in got
    ok(db, capsys, "tags", "flag", "BUD-0099", "lost", *AT, "--reason", "not found")
    with Store(db) as st:  # the same registry loaded again changes nothing in the history
        n = len(st.tag_events())
        st.load_registry(st.current_registry())
        assert len(st.tag_events()) == n
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            st.db.execute("UPDATE tag_events SET actor='someone else'")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            st.db.execute("DELETE FROM tag_events")


def test_demand_and_flex(db, capsys):
    ok(db, capsys, "demand", "set", "Bradford", "2", *AT, "--reason", "referrals list")
    out = ok(db, capsys, "tags", "flex", "--at", "2026-11-21T00:00:00Z")
    assert "BUD-0099" in out and "Leeds" in out and "Bradford" in out
    assert "recommendations only" in out
    assert "2" in ok(db, capsys, "demand", "list")
    err = refused(db, capsys, "demand", "set", "Leeds", "-1", *AT)
    assert "below zero" in err


def test_changes_are_recorded_in_order(db, capsys):
    ok(db, capsys, "tags", "flag", "BUD-0099", "faulty", *AT, "--reason", "x")
    err = refused(db, capsys, "tags", "flag", "BUD-0099", "repaired",
                  "--at", "2026-11-19T09:00:00Z", "--reason", "x")  # fmt: skip
    assert "record changes in order" in err


def test_usage_for_a_period_with_idle_units_and_how_long(db, capsys):
    ok(db, capsys, "demand", "set", "Leeds", "3", *AT)
    out = ok(db, capsys, "tags", "usage", "--from", "2026-11-01", "--to", "2026-11-11",
             "--district", "Leeds")  # fmt: skip
    # Leeds holds three units all ten days, two of them worn: 30 unit-days, 20 fitted.
    assert "30.0" in out and "20.0" in out and "66.7%" in out
    assert "idle units at the end (1)" in out and "BUD-0099" in out
    assert "314" in out  # idle since 1 January: 314 days by 11 November


def test_a_replaced_unit_names_its_replacement(db, capsys):
    ok(db, capsys, "tags", "add", "BUD-0200", "--district", "Leeds", *AT)
    ok(db, capsys, "tags", "flag", "BUD-0099", "returned", "--replaced-by", "BUD-0200", *AT,
       "--reason", "battery swollen")  # fmt: skip
    assert "replaced by BUD-0200" in ok(db, capsys, "tags", "history", "BUD-0099")
    err = refused(db, capsys, "tags", "flag", "BUD-0200", "returned", "--replaced-by",
                  "BUD-9999", *AT, "--reason", "x")  # fmt: skip
    assert "BUD-9999: not in the inventory" in err


def test_a_fitted_unit_is_not_flagged_until_it_is_removed(db, capsys):
    err = refused(db, capsys, "tags", "flag", "BUD-0001", "faulty", *AT, "--reason", "no GPS")
    assert "BUD-0001: fitted to S-0001; remove it first" in err
    ok(db, capsys, "tags", "remove", "BUD-0001", *AT, "--reason", "swap")
    ok(db, capsys, "tags", "flag", "BUD-0001", "faulty", "--at", "2026-11-20T10:00:00Z",
       "--by", "pc1234", "--reason", "no GPS")  # fmt: skip


@pytest.mark.parametrize("mark, needs", [("repaired", "faulty"), ("found", "lost")])
def test_only_a_faulty_damaged_or_lost_unit_is_repaired_or_found(db, capsys, mark, needs):
    err = refused(db, capsys, "tags", "flag", "BUD-0099", mark, *AT, "--reason", "x")
    assert f"BUD-0099: allocated, nothing to mark {mark}" in err
    ok(db, capsys, "tags", "flag", "BUD-0099", needs, *AT, "--reason", "x")
    ok(db, capsys, "tags", "flag", "BUD-0099", mark, "--at", "2026-11-21T09:00:00Z",
       "--by", "pc1234", "--reason", "back")  # fmt: skip
    assert "allocated" in ok(db, capsys, "tags", "show", "BUD-0099")


@pytest.mark.parametrize("at, accepted", [("2026-11-20T08:59:59.999Z", False),
                                          ("2026-11-20T09:00:00Z", True)])  # fmt: skip
def test_a_change_dated_before_the_units_last_one_is_refused(db, capsys, at, accepted):
    ok(db, capsys, "tags", "flag", "BUD-0099", "faulty", *AT, "--reason", "x")
    args = ["tags", "flag", "BUD-0099", "repaired", "--at", at, "--by", "pc1", "--reason", "y"]
    if accepted:
        ok(db, capsys, *args)
    else:
        assert "dated before its last recorded change" in refused(db, capsys, *args)
