"""The web desk in a real browser (headless Chromium): log in, filter the queue, open a
candidate and see its map, dismiss it with a reason, see it leave the queue and appear in
the audit log. Screenshots kept."""

from __future__ import annotations

import time

import numpy as np
import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from geomonitor.app.desk.accounts import add_user
from geomonitor.rules.feed.family import outage_candidate
from geomonitor.rules.feed.watch import Outage
from geomonitor.store.domain import Store

from ..browser import chrome, keep
from .desk_fixtures import PASSWORD, desk_store, served


@pytest.fixture
def server(tmp_path):
    st, ids = desk_store(tmp_path / "d.db")
    st.close()
    with served(tmp_path / "d.db") as (base, _):
        yield base, ids, tmp_path / "d.db"


def _wait(b, until, seconds: float = 10):
    """Wait for ``until``, through pages being replaced under it."""
    return WebDriverWait(b, seconds, ignored_exceptions=[StaleElementReferenceException]).until(
        until
    )


def _rows(b) -> list[list[str]]:
    """The queue's rows as (candidate id, text), read at once from a loaded page."""
    _wait(b, lambda d: d.execute_script("return document.readyState") == "complete")
    return b.execute_script(
        "return [...document.querySelectorAll('tr.item')].map(r => [r.dataset.id, r.innerText])"
    )


def _login(b, base: str, user: str) -> None:
    b.get(f"{base}/login")
    b.find_element(By.NAME, "username").send_keys(user)
    b.find_element(By.NAME, "password").send_keys(PASSWORD)
    b.find_element(By.CSS_SELECTOR, "#login-form button").click()
    _wait(b, lambda d: d.find_elements(By.ID, "queue"))


def test_log_in_filter_open_dismiss_and_find_it_in_the_audit_log(server):
    base, ids, _ = server
    b = chrome(local=True)
    try:
        b.set_window_size(1300, 1000)
        _login(b, base, "dana")
        assert {cid for cid, _ in _rows(b)} == set(ids["Leeds"])
        b.save_screenshot(str(keep("desk-queue.png")))
        Select(b.find_element(By.NAME, "kind")).select_by_value("exclusion_zone")
        b.find_element(By.CSS_SELECTOR, "#filters button").click()
        _wait(b, lambda d: "kind=exclusion_zone" in d.current_url)
        rows = _rows(b)
        assert rows and all("\texclusion zone\t" in text for _, text in rows)  # kinds in words
        cid = rows[0][0]
        b.find_element(By.LINK_TEXT, cid).click()
        _wait(b, lambda d: d.find_elements(By.ID, "explanation"))
        # The evidence map, drawn inside its frame without a network.
        b.switch_to.frame(b.find_element(By.ID, "evidence-map"))
        _wait(b, lambda d: d.find_elements(By.CSS_SELECTOR, "path.accuracy"), 20)
        drawn = len(b.find_elements(By.CSS_SELECTOR, "path.accuracy"))
        b.switch_to.default_content()
        assert drawn >= 2
        b.save_screenshot(str(keep("desk-candidate.png")))
        form = b.find_element(By.ID, "dismiss-form")
        Select(form.find_element(By.NAME, "reason")).select_by_value("gps_drift")
        form.find_element(By.CSS_SELECTOR, "button").click()
        _wait(b, lambda d: d.find_element(By.ID, "review-state").text == "dismissed")
        b.get(f"{base}/")
        left = {c for c, _ in _rows(b)}
        assert cid not in left and left == set(ids["Leeds"]) - {cid}
        # The supervisor reads the audit log: the view and the decision are there.
        b.delete_all_cookies()
        _login(b, base, "sam")
        b.find_element(By.ID, "audit-link").click()
        _wait(b, lambda d: d.find_elements(By.ID, "audit"))
        entries = b.execute_script(
            "return [...document.querySelectorAll('#audit tbody tr')].map(r => r.innerText)"
        )
        assert any("dana" in e and "decide" in e and cid in e and "gps_drift" in e for e in entries)
        assert any("dana" in e and "view" in e and cid in e for e in entries)
        b.save_screenshot(str(keep("desk-audit-log.png")))
    finally:
        b.quit()


def test_the_health_page_in_a_browser(server):
    """A supervisor opens Service health: the feed's sources with their lag, the times to
    a person, a feed outage and the mail waiting, all drawn (looked at as a screenshot)."""
    base, ids, db = server
    now = int(time.time() * 1000)
    with Store(db) as st, st.transaction():
        ts = np.arange(now - 40 * 60_000, now - 10 * 60_000, 60_000, dtype=np.int64)
        st.note_arrival("geomonitor.fixes/0", now - 9 * 60_000, ts)
        st.note_arrival("geomonitor.fixes/1", now - 2 * 60 * 60_000, ts - 2 * 60 * 60_000)
        o = Outage(now - 3 * 3_600_000, now - 3_600_000, frozenset(range(8)), frozenset(range(6)))
        st.apply_candidates([outage_candidate(o, [f"BUD-{i:04d}" for i in range(8)], {})])
        cid = ids["Leeds"][0]
        st.queue_notification(cid, "first", "om@force.example", "high", now - 60_000, "<m1>")
        add_user(st, "fay", PASSWORD, "supervisor", "all", "cli:test", now)
    b = chrome(offline=False, local=True)
    try:
        _login(b, base, "sam")
        b.find_element(By.ID, "health-link").click()
        _wait(b, lambda d: d.find_elements(By.ID, "timeliness"))
        sources = b.find_element(By.ID, "sources").text
        assert "geomonitor.fixes/0" in sources and "geomonitor.fixes/1" in sources
        assert "2 h" in sources  # fixes/1 quiet for two hours
        assert "1 in this period, 0 still open" in b.find_element(By.ID, "outages").text
        assert "6 of 8" in b.find_element(By.TAG_NAME, "main").text
        assert "pending 1" in b.find_element(By.ID, "mail").text
        # A Leeds supervisor cannot open the force-wide outage: no link to it.
        assert not b.find_elements(By.CSS_SELECTOR, "#outages + table a")
        b.save_screenshot(str(keep("desk-health.png")))
        # A force-wide supervisor opens it: no subject, no evidence map, the explanation.
        b.delete_all_cookies()
        _login(b, base, "fay")
        b.get(f"{base}/health")
        _wait(b, lambda d: d.find_elements(By.CSS_SELECTOR, "#outages + table a"))
        b.find_element(By.CSS_SELECTOR, "#outages + table a").click()
        _wait(b, lambda d: d.find_elements(By.ID, "review-state"))
        text = b.find_element(By.TAG_NAME, "main").text
        assert text.startswith("feed outage: force-wide")
        assert "6 of 8 reporting tags sent nothing" in text
        assert not b.find_elements(By.ID, "evidence-map")
        assert not b.find_elements(By.CSS_SELECTOR, "a[href='/subjects/-']")
        steps = b.find_element(By.ID, "timeline").text
        assert "evidence began" in steps and "mailed not yet" in steps
        b.save_screenshot(str(keep("desk-feed-outage.png")))
    finally:
        b.quit()


def test_a_district_supervisor_sees_their_district_only(server):
    """A Leeds supervisor's audit log and tag audit in the browser: Leeds only, the
    refusal of a Bradford candidate in the log, looked at as screenshots."""
    base, ids, _ = server
    b = chrome(offline=False, local=True)
    try:
        _login(b, base, "brad")
        b.get(f"{base}/candidates/{ids['Bradford'][0]}")
        b.delete_all_cookies()
        _login(b, base, "sam")
        b.get(f"{base}/candidates/{ids['Bradford'][0]}")  # not found, and logged
        b.find_element(By.ID, "audit-link").click()
        _wait(b, lambda d: d.find_elements(By.ID, "audit"))
        text = b.find_element(By.TAG_NAME, "main").text
        assert "Only rows about Leeds's data and accounts" in text
        assert "brad" not in text.split("outcome detail")[-1]
        refused = b.find_elements(By.CSS_SELECTOR, "#audit tr.refused")
        assert len(refused) == 1 and ids["Bradford"][0] in refused[0].text
        assert "matches its checkpoints" in b.find_element(By.ID, "chain").text
        b.save_screenshot(str(keep("desk-audit-log-leeds.png")))
        b.get(f"{base}/reports/audit")
        _wait(b, lambda d: d.find_elements(By.ID, "summary"))
        body = b.find_element(By.TAG_NAME, "body").text
        assert "Leeds: summary" in body and "Bradford" not in body
        rows = b.find_elements(By.CSS_SELECTOR, "#summary tbody tr")
        assert [r.get_attribute("data-district") for r in rows] == ["Leeds"]
        b.save_screenshot(str(keep("desk-tag-audit-leeds.png")))
    finally:
        b.quit()
