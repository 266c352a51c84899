"""Authorised absences on the desk's subject page: recorded and cancelled in a real browser
(the candidate they cover leaves the queue and is listed as kept off the desk, then comes
back), refused to a viewer and to another district, a bad one answered 409; the page shows
the conditions as in force with their variations, and the minutes late per month."""

from __future__ import annotations

import json

import pytest
from selenium.webdriver.common.by import By

from geomonitor.app.cli import main
from geomonitor.app.desk.accounts import add_user
from geomonitor.model.times import iso
from geomonitor.store.domain import Store

from ..browser import chrome, keep
from ..conftest import BASE_DOC, make_doc
from ..rules.test_curfew import curfew
from .desk_fixtures import PASSWORD, desk_store, served
from .test_desk import _client, _csrf
from .test_desk_browser import _login, _rows, _wait

FORM = {"starts": "2026-11-21T17:55", "ends": "2026-11-21T18:08",
        "authorised_by": "OM Patel", "reason": "probation appointment"}  # fmt: skip


@pytest.fixture
def desk(tmp_path):
    st, ids = desk_store(tmp_path / "d.db")
    yield st, ids, tmp_path / "d.db"
    st.close()


def _first(st: Store, subject: str) -> str:
    return min(st.candidates(subject_id=subject), key=lambda c: c.opened_at).id


def test_an_absence_recorded_and_cancelled_in_a_browser(tmp_path):
    st, _ = desk_store(tmp_path / "d.db")
    first = _first(st, "S-0001")  # inside the zone 18:00-18:04
    st.close()
    with served(tmp_path / "d.db") as (base, _):
        b = chrome(local=True)
        try:
            b.set_window_size(1300, 1400)
            _login(b, base, "dana")
            assert first in {cid for cid, _ in _rows(b)}
            b.get(f"{base}/subjects/S-0001")
            form = b.find_element(By.ID, "absence-form")
            for name, value in FORM.items():  # (a datetime-local field takes its value so)
                el = form.find_element(By.NAME, name)
                b.execute_script("arguments[0].value = arguments[1]", el, value)
            form.find_element(By.CSS_SELECTOR, "button").click()
            _wait(b, lambda d: "A-0001" in d.find_element(By.ID, "absence-list").text)
            listed = b.find_element(By.ID, "absence-list").text
            assert "OM Patel" in listed and "probation appointment" in listed
            assert "Sat 21 Nov 2026 17:55 GMT" in listed and "anywhere" in listed
            kept = b.find_element(By.ID, "authorised").text
            assert "exclusion zone" in kept and "A-0001" in kept
            b.save_screenshot(str(keep("desk-subject-absence.png")))
            b.get(f"{base}/")
            assert first not in {cid for cid, _ in _rows(b)}
            # cancelled from the page: the candidate is back on the desk
            b.get(f"{base}/subjects/S-0001")
            cancel = b.find_element(By.CSS_SELECTOR, "form.cancel-absence")
            cancel.find_element(By.NAME, "reason").send_keys("recorded for the wrong day")
            cancel.find_element(By.CSS_SELECTOR, "button").click()
            _wait(b, lambda d: "cancelled" in d.find_element(By.ID, "absence-list").text)
            assert "Nothing." in b.find_element(By.ID, "authorised").text
            b.get(f"{base}/")
            assert first in {cid for cid, _ in _rows(b)}
        finally:
            b.quit()


def test_only_the_desk_and_supervisors_of_the_district_record_absences(desk):
    st, _, db = desk
    viewer = _client(db, "vic")
    page = viewer.get("/subjects/S-0001").text
    assert "Authorised absences" in page and 'id="absence-form"' not in page
    r = viewer.post("/subjects/S-0001/absences", data={**FORM, "csrf": _csrf(viewer)},
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 403
    other = _client(db, "brad")  # a Bradford desk officer, a Leeds subject
    r = other.post("/subjects/S-0001/absences", data={**FORM, "csrf": _csrf(other)},
                   follow_redirects=False)  # fmt: skip
    assert r.status_code == 404
    dana = _client(db, "dana")
    bad = {**FORM, "ends": "2026-11-21T17:50"}  # ends before it starts
    r = dana.post("/subjects/S-0001/absences", data={**bad, "csrf": _csrf(dana)},
                  follow_redirects=False)  # fmt: skip
    assert r.status_code == 409 and "must end after it starts" in r.text
    r = dana.post("/subjects/S-0001/absences", data={**FORM, "lat": "53.8", "csrf": _csrf(dana)},
                  follow_redirects=False)  # fmt: skip
    assert r.status_code == 409 and "both latitude and longitude" in r.text
    assert st.absence_rows() == []
    r = dana.post("/subjects/S-0001/absences", data={**FORM, "csrf": _csrf(dana)},
                  follow_redirects=False)  # fmt: skip
    assert r.status_code == 303 and r.headers["location"] == "/subjects/S-0001#absences"
    (row,) = st.absence_rows()
    assert row["recorded_by"] == "dana"
    r = other.post("/absences/A-0001/cancel", data={"reason": "not mine", "csrf": _csrf(other)},
                   follow_redirects=False)  # fmt: skip
    assert r.status_code == 404
    for code in (303, 409):  # the second time: cancelled already
        r = dana.post("/absences/A-0001/cancel", data={"reason": "wrong day", "csrf": _csrf(dana)},
                      follow_redirects=False)  # fmt: skip
        assert r.status_code == code
    # the candidate it had covered is back, its history saying why
    page = dana.get(f"/candidates/{_first(st, 'S-0001')}").text
    assert "because of authorised absence A-0001" in page and "cancelled: wrong day" in page
    logged = st.db.execute("SELECT action FROM audit_log WHERE actor='dana'").fetchall()
    assert ("absence_recorded",) in logged and ("absence_cancelled",) in logged


def test_the_subject_page_shows_variations_and_minutes_late(tmp_path, capsys):
    """A curfew varied from 20 Nov (later start); the subject home 12 minutes late on two
    nights: 24 minutes late in November against a limit of 20, over it."""
    from ..rules.test_orders import month_of_lateness

    cond = curfew(lateness_minutes=20)
    varied = dict(cond, timetable=[{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                                    "start": "19:00", "end": "07:00"}])  # fmt: skip
    order = dict(BASE_DOC["orders"][0], conditions=[cond], variations=[
        {"id": "V-1", "type": "licence_change", "reason": "curfew confirmed at licence review",
         "effective": "2026-11-20T00:00:00Z", "conditions": [varied]}])  # fmt: skip
    (tmp_path / "r.json").write_text(json.dumps(make_doc(orders=[order])))
    (tmp_path / "f.jsonl").write_text("".join(
        json.dumps({"tag_id": f.tag_id, "ts": iso(f.ts), "lat": f.lat, "lon": f.lon}) + "\n"
        for f in month_of_lateness([12, 12], start_day=21)))  # fmt: skip
    db = str(tmp_path / "d.db")
    assert main(["registry", "load", str(tmp_path / "r.json"), "--db", db]) == 0
    assert main(["replay", "--fixes", str(tmp_path / "f.jsonl"), "--db", db, "--no-progress",
                 "--received-at", "2026-11-23T12:00:00Z"]) == 0  # fmt: skip
    capsys.readouterr()
    with Store(db) as st:
        (late,) = [c for c in st.candidates() if c.kind == "curfew_lateness"]
        add_user(st, "sam", PASSWORD, "supervisor", "all", "cli:test", 0)
    assert late.details["minutes_late"] == 24 and late.details["limit_minutes"] == 20
    page = _client(db, "sam").get("/subjects/S-0001").text
    assert "V-1" in page and "licence change" in page and "curfew confirmed" in page
    assert "from Fri 20 Nov 2026 00:00 GMT" in page  # the varied curfew, in force from then
    assert "<td>2026-11</td><td>O-0001</td><td>24 <b>over the limit</b>" in page
    assert "<td>2026-10</td>" not in page  # no month before the first fix
