"""What people see on the desk (issue 23): evidence and history in local time, kinds in
words, a decision asked for twice, the subject's tag, the audit opening on a month with
data, and every page usable on a phone without scrolling sideways."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from geomonitor.app.desk.web import create_app
from geomonitor.store.domain import Store

from ..browser import chrome, keep
from .desk_fixtures import PASSWORD, desk_store, served
from .test_desk_browser import _login, _wait


@pytest.fixture
def desk(tmp_path):
    st, ids = desk_store(tmp_path / "d.db")
    st.close()
    return tmp_path / "d.db", ids


def _client(db: Path, user: str) -> TestClient:
    c = TestClient(create_app(db), base_url="https://testserver")
    token = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
    r = c.post("/login", data={"username": user, "password": PASSWORD, "csrf": token},
               follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    return c


def _cells(html: str, table_id: str) -> list[list[str]]:
    body = html.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    cell = re.compile(r"<t[dh][^>]*>(.*?)</t[dh]>", re.S)
    return [[re.sub(r"<[^>]+>", "", c).strip() for c in cell.findall(r)] for r in rows]


def test_the_candidate_page_says_evidence_and_history_in_local_time_and_kinds_in_words(desk):
    db, ids = desk
    cid = ids["Leeds"][0]
    page = _client(db, "dana").get(f"/candidates/{cid}").text
    assert "@2026-" not in page and "exclusion_zone" not in page.split("<main>")[1]
    assert re.search(r"<h1>exclusion zone: ", page)
    rows = _cells(page, "evidence")
    assert rows[0] == ["#", "what", "tag or camera", "time", "position", "accuracy"]
    # the fixture's first evidence fix: 21 Nov 2026 18:00 UTC, GMT in November, ±10 m
    assert rows[1][:4] == ["1", "fix", "BUD-0001", "Sat 21 Nov 2026 18:00:00 GMT"]
    assert re.fullmatch(r"53\.\d{5}, -1\.\d{5}", rows[1][4]) and rows[1][5] == "±10 m"
    # the episode in event time (November), recorded now (not read as the episode's time)
    hist = _cells(page, "episode-history")
    assert hist[0] == ["when", "change", "recorded", "linked"]
    opened = next(r for r in hist if r[1] == "opened")
    assert opened[0] == "Sat 21 Nov 2026 18:00 GMT"
    assert re.fullmatch(r"\w{3} \d\d \w{3} \d{4} \d\d:\d\d (GMT|BST)", opened[2])
    assert "Z" not in opened[2]


def test_an_evidence_fix_removed_from_the_store_is_shown_as_such(desk):
    db, ids = desk
    cid = ids["Leeds"][0]
    with Store(db) as st:
        st.db.execute(
            "DELETE FROM fixes WHERE tag_id='BUD-0001' AND ts=(SELECT MIN(ts) FROM fixes)"
        )
        st.db.commit()
    rows = _cells(_client(db, "dana").get(f"/candidates/{cid}").text, "evidence")
    assert rows[1] == ["1", "fix", "BUD-0001", "Sat 21 Nov 2026 18:00:00 GMT",
                       "no longer in the store"]  # fmt: skip
    assert rows[2][4] != "no longer in the store"


def test_the_subject_page_names_the_tag_worn_and_says_none_yet(desk):
    db, _ = desk
    page = _client(db, "dana").get("/subjects/S-0001").text
    wears = re.search(r'<p id="wears">(.*?)</p>', page, re.S).group(1)
    assert re.sub(r"<[^>]+>", "", wears) == "Wears tag BUD-0001, fitted Thu 01 Jan 2026 00:00 GMT"
    assert _cells(page, "subject-decided")[1] == ["None yet."]


def test_a_subject_without_a_tag_is_said_to_have_none(desk):
    db, _ = desk
    with Store(db) as st:  # the tag comes off (a registry change as the inventory records it)
        st.db.execute("UPDATE registry_entities SET version_to=version_from WHERE kind='fitting'")
        st.db.commit()
    page = _client(db, "dana").get("/subjects/S-0001").text
    assert "No tag fitted now." in page


def test_the_audit_link_opens_the_latest_month_with_fixes_not_an_empty_current_month(desk):
    db, _ = desk
    c = _client(db, "sam")
    page = c.get("/reports/audit").text
    assert "November 2026" in page and "December 2026" not in page
    assert "December 2026" in c.get("/reports/audit?month=2026-12").text  # still reachable


def test_a_decision_is_not_preselected_and_is_asked_for_twice(desk):
    db, ids = desk
    cid = ids["Leeds"][0]
    c = _client(db, "dana")
    page = c.get(f"/candidates/{cid}").text
    form = page.split('id="decide-form"')[1].split("</form>")[0]
    assert re.search(r'<select name="outcome" required><option value="">', form)
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    ask = c.post(f"/candidates/{cid}/decide",
                 data={"csrf": token, "outcome": "warning_letter", "text": "first warning"},
                 follow_redirects=False)  # fmt: skip
    assert ask.status_code == 200 and 'id="confirm-form"' in ask.text
    assert "warning letter" in ask.text and "first warning" in ask.text
    with Store(db) as st:
        assert st.review(cid) is None  # nothing recorded yet
    # a decision the workflow refuses is refused at the first step, not after confirming
    bad = c.post(f"/candidates/{cid}/decide", data={"csrf": token, "outcome": ""},
                 follow_redirects=False)  # fmt: skip
    assert bad.status_code == 409
    done = c.post(f"/candidates/{cid}/decide",
                  data={"csrf": token, "outcome": "warning_letter", "text": "first warning",
                        "confirmed": "yes"}, follow_redirects=False)  # fmt: skip
    assert done.status_code == 303
    with Store(db) as st:
        assert st.review(cid)["state"] == "warning_letter"


def test_decide_in_a_browser_asks_first_and_cancel_records_nothing(desk):
    db, ids = desk
    cid = ids["Leeds"][0]
    with served(db) as (base, _):
        b = chrome(local=True)
        try:
            b.set_window_size(1300, 1000)
            _login(b, base, "dana")
            b.get(f"{base}/candidates/{cid}")
            form = b.find_element(By.ID, "decide-form")
            assert (
                Select(form.find_element(By.NAME, "outcome")).first_selected_option.text
                == "outcome…"
            )
            form.find_element(By.CSS_SELECTOR, "button").click()  # nothing chosen: not sent
            assert b.current_url.endswith(f"/candidates/{cid}") and not b.find_elements(
                By.ID, "confirm"
            )
            form = b.find_element(By.ID, "decide-form")
            Select(form.find_element(By.NAME, "outcome")).select_by_value("interview")
            form.find_element(By.CSS_SELECTOR, "button").click()
            _wait(b, lambda d: d.find_elements(By.ID, "confirm"))
            assert b.find_element(By.ID, "confirm-outcome").text == "interview"
            b.find_element(By.ID, "confirm-cancel").click()
            _wait(b, lambda d: d.find_elements(By.ID, "review-state"))
            assert b.find_element(By.ID, "review-state").text == "new"
            form = b.find_element(By.ID, "decide-form")
            Select(form.find_element(By.NAME, "outcome")).select_by_value("interview")
            form.find_element(By.CSS_SELECTOR, "button").click()
            _wait(b, lambda d: d.find_elements(By.ID, "confirm-form"))
            b.find_element(By.CSS_SELECTOR, "#confirm-form button").click()
            _wait(b, lambda d: d.find_elements(By.ID, "review-state"))
            assert b.find_element(By.ID, "review-state").text == "interview"
        finally:
            b.quit()


PHONE = (390, 844)


def test_every_desk_page_fits_a_phone_without_scrolling_sideways(desk):
    db, ids = desk
    cid = ids["Leeds"][0]
    with served(db) as (base, _):
        b = chrome(local=True)
        try:
            b.set_window_size(*PHONE)
            _login(b, base, "sam")
            wide = {}
            for path in ("/", f"/candidates/{cid}", "/subjects/S-0001", "/audit", "/health",
                         "/accounts"):  # fmt: skip
                b.get(base + path)
                _wait(b, lambda d: d.execute_script("return document.readyState") == "complete")
                sw, iw = b.execute_script(
                    "return [document.documentElement.scrollWidth, window.innerWidth]"
                )
                if sw > iw:
                    wide[path] = (sw, iw)
                if path.startswith("/candidates"):
                    b.save_screenshot(str(keep("desk-candidate-phone.png")))
            assert iw <= PHONE[0] and not wide, wide
        finally:
            b.quit()
