"""Telling the responsible officer, against a real SMTP server on 127.0.0.1 (aiosmtpd):
what is mailed and to whom, nothing personal, once across a SIGKILL, retries while the
server is down, escalation to the duty inbox after the set time."""

from __future__ import annotations

import copy
import os
import socket
import subprocess
import sys
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller

from geomonitor.app.notify import Notifier
from geomonitor.io.kafka.config import NotifyConfig
from geomonitor.model.candidate import Candidate, candidate_id
from geomonitor.store.domain import Store

from ..conftest import BASE_DOC, make_registry

MIN = 60_000
NOW = 1_795_300_000_000  # 2026-11-21T...Z
OFFICER = "om01@force.example"
DUTY = "iom-duty.leeds@force.example"


class Inbox:
    """What the SMTP server received."""

    def __init__(self) -> None:
        self.mail: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's hook
        self.mail.append((list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK"

    def messages(self):
        return [(to, message_from_bytes(raw, policy=policy.default)) for to, raw in self.mail]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp():
    inbox = Inbox()
    port = free_port()
    ctl = Controller(inbox, hostname="127.0.0.1", port=port)
    ctl.start()
    yield inbox, ctl, port
    try:
        ctl.stop()
    except Exception:
        pass


def registry(officer: str | None = OFFICER):
    doc = copy.deepcopy(BASE_DOC)
    doc["districts"][0]["duty_inbox"] = DUTY
    if officer is not None:
        doc["subjects"][0]["officer"] = officer
    return make_registry(**{k: doc[k] for k in ("districts", "subjects")})


def cand(kind: str, opened: int, subject: str = "S-0001") -> Candidate:
    return Candidate(
        id=candidate_id(kind, subject, "O-0001", "C-1", opened),
        kind=kind,
        subject_id=subject,
        order_id="O-0001",
        condition_id="C-1",
        zone_id="Z-CIRCLE",
        opened_at=opened,
        closed_at=None,
        status="open",
        fix_count=3,
        explanation=f"{subject} at 53.7997, -1.5492 in the victim's street, car YX12 ABC",
        last_evidence_at=opened,
        evidence=["BUD-0001@2026-11-21T21:00:00Z"],
        details={"plate": "YX12ABC", "lat": 53.7997},
    )


@pytest.fixture
def store(tmp_path):
    st = Store(tmp_path / "g.db")
    st.load_registry(registry())
    with st.transaction():
        st.apply_candidates(
            [
                cand("exclusion_zone", NOW - 10 * MIN),  # critical
                cand("curfew_absent", NOW - 20 * MIN),  # high
                cand("curfew_no_signal", NOW - 30 * MIN),  # low: not mailed by default
            ]
        )
    yield st
    st.close()


def config(port: int, **kw) -> NotifyConfig:
    base = dict(host="127.0.0.1", port=port, starttls=False, desk_url="https://desk.force.example")
    return NotifyConfig(**{**base, **kw})


def test_critical_and_high_are_mailed_to_the_officer_once_with_nothing_personal(store, smtp):
    inbox, _, port = smtp
    n = Notifier(store, config(port))
    n.run_once(NOW)
    n.run_once(NOW + MIN)  # a second round sends nothing again
    got = inbox.messages()
    assert sorted(m["Subject"].split()[-2] for _, m in got) == ["absent", "zone"]
    for to, m in got:
        assert to == [OFFICER] and m["To"] == OFFICER
        body = m.get_content()
        cid = m["Subject"].split()[-1]
        assert f"Candidate: {cid}" in body
        assert f"https://desk.force.example/candidates/{cid}" in body
        assert "Began: Sat 21 Nov 2026" in body and "GMT" in body
        assert "Severity: critical" in body or "Severity: high" in body
        text = m.as_string()
        for personal in ("S-0001", "53.79", "-1.54", "YX12", "victim", "BUD-0001"):
            assert personal not in text, personal
    assert {r["state"] for r in store.notifications()} == {"sent"}


def test_the_candidate_history_is_read_page_by_page_to_its_end(store, smtp, monkeypatch):
    from geomonitor.app import notify

    inbox, _, port = smtp
    monkeypatch.setattr(notify, "PAGE", 1)  # one history row a transaction
    Notifier(store, config(port)).run_once(NOW)
    assert len(inbox.mail) == 2
    assert store.meta_value("notify/cursor") == str(
        store.db.execute("SELECT MAX(seq) FROM candidate_events").fetchone()[0]
    )


def test_a_second_sender_on_the_store_is_refused_until_the_first_stops(store, smtp):
    from geomonitor.store.stream_state import LeaseHeld

    inbox, _, port = smtp
    first, second = Notifier(store, config(port)), Notifier(store, config(port))
    first.run_once(NOW)
    with pytest.raises(LeaseHeld, match="another notification sender is running"):
        second.run_once(NOW)
    first.release()
    second.run_once(NOW + MIN)
    assert len(inbox.mail) == 2  # nothing twice


def test_the_severities_mailed_are_configurable(store, smtp):
    inbox, _, port = smtp
    Notifier(store, config(port, severities=["low"])).run_once(NOW)
    assert [m["Subject"].split()[1:3] for _, m in inbox.messages()] == [["low", "curfew"]]


def test_no_officer_goes_to_the_duty_inbox(tmp_path, smtp):
    inbox, _, port = smtp
    with Store(tmp_path / "g.db") as st:
        st.load_registry(registry(officer=None))
        with st.transaction():
            st.apply_candidates([cand("strap_tamper", NOW)])
        Notifier(st, config(port)).run_once(NOW)
    assert [to for to, _ in inbox.messages()] == [[DUTY]]


def test_no_escalation_to_the_inbox_that_was_told_first(tmp_path, smtp):
    """A subject with no officer: the duty inbox had the first mail, and is not mailed
    again as an escalation of it."""
    inbox, _, port = smtp
    with Store(tmp_path / "g.db") as st:
        st.load_registry(registry(officer=None))
        with st.transaction():
            st.apply_candidates([cand("strap_tamper", NOW)])
        n = Notifier(st, config(port))
        n.run_once(NOW)
        n.run_once(NOW + 60 * MIN)
        assert [r["purpose"] for r in st.notifications()] == ["first"]
    assert [to for to, _ in inbox.messages()] == [[DUTY]]


def test_mail_server_down_then_up_retries_with_back_off(store, smtp):
    inbox, ctl, port = smtp
    ctl.stop()
    n = Notifier(store, config(port, retry_first_s=60, retry_max_s=600))
    n.run_once(NOW)
    rows = store.notifications()
    assert [r["state"] for r in rows] == ["pending", "pending"]
    assert all(r["next_attempt_at"] == NOW + 60_000 for r in rows)
    assert all("Connection" in r["last_error"] for r in rows)
    n.run_once(NOW + 59_000)  # not yet due: no attempt
    assert all(r["attempts"] == 1 for r in store.notifications())
    n.run_once(NOW + 60_000)  # due, still down: the wait doubles
    assert all(r["next_attempt_at"] == NOW + 60_000 + 120_000 for r in store.notifications())
    ctl = Controller(inbox, hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        n.run_once(NOW + 180_000)
    finally:
        ctl.stop()
    assert len(inbox.mail) == 2
    for r in store.notifications():
        assert r["state"] == "sent" and r["attempts"] == 3
        outcomes = [a["outcome"] for a in store.notification_attempts(r["id"])]
        assert outcomes == ["retry", "retry", "sent"]
        assert all(OFFICER not in (a["error"] or "") for a in store.notification_attempts(r["id"]))


@pytest.mark.parametrize(
    ("minutes", "escalated"), [(14, False), (15, True), (16, True)], ids=["-1", "at", "+1"]
)
def test_unacknowledged_critical_is_escalated_after_the_set_time(store, smtp, minutes, escalated):
    inbox, _, port = smtp
    n = Notifier(store, config(port))
    n.run_once(NOW)
    assert len(inbox.mail) == 2
    n.run_once(NOW + minutes * MIN)
    esc = [m for to, m in inbox.messages() if to == [DUTY]]
    assert len(esc) == (1 if escalated else 0)
    if escalated:
        assert esc[0]["Subject"].startswith("[geomonitor] Escalated: critical exclusion zone")
        assert "Not acknowledged on the desk within 15 minutes" in esc[0].get_content()
    n.run_once(NOW + 30 * MIN)
    assert len([1 for to, _ in inbox.mail if to == [DUTY]]) == 1  # once


def test_an_acknowledged_candidate_is_not_escalated(store, smtp):
    inbox, _, port = smtp
    n = Notifier(store, config(port))
    n.run_once(NOW)
    high = candidate_id("curfew_absent", "S-0001", "O-0001", "C-1", NOW - 20 * MIN)
    crit = candidate_id("exclusion_zone", "S-0001", "O-0001", "C-1", NOW - 10 * MIN)
    with store.transaction():
        store.save_review(crit, NOW + MIN, "desk1", "ack", "acknowledged", None, None, None, None)
    n.run_once(NOW + 61 * MIN)  # both past their time; only the high one unacknowledged
    esc = [m["Subject"].split()[-1] for to, m in inbox.messages() if to == [DUTY]]
    assert esc == [high]


def test_retracted_before_sending_is_cancelled_and_old_evidence_is_not_mailed(store, smtp):
    inbox, ctl, port = smtp
    ctl.stop()
    n = Notifier(store, config(port, max_age_hours=1))
    with store.transaction():
        store.apply_candidates([cand("strap_tamper", NOW - 2 * 60 * MIN)])
    n.run_once(NOW)  # queued (two), the old tamper skipped; server down
    crit = candidate_id("exclusion_zone", "S-0001", "O-0001", "C-1", NOW - 10 * MIN)
    with store.transaction():
        store.apply_candidates([], [crit])
    ctl = Controller(inbox, hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        n.run_once(NOW + 10 * MIN)
    finally:
        ctl.stop()
    states = {r["candidate_id"]: r["state"] for r in store.notifications()}
    assert states[crit] == "cancelled"
    assert sorted(states.values()) == ["cancelled", "sent", "skipped"]
    assert len(inbox.mail) == 1


def _notify_once(db, port, crash=None):
    env = dict(os.environ)
    env.update(
        GEOMONITOR_NOTIFY_HOST="127.0.0.1",
        GEOMONITOR_NOTIFY_PORT=str(port),
        GEOMONITOR_NOTIFY_STARTTLS="false",
    )
    env.pop("GEOMONITOR_TEST_CRASH_AT", None)
    if crash:
        env["GEOMONITOR_TEST_CRASH_AT"] = crash
    return subprocess.run(
        [sys.executable, "-m", "geomonitor", "notify", "--once", "--db", str(db)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _fresh_store(tmp_path):
    """A store with two candidates of now (the command reads the wall clock)."""
    import time

    db = tmp_path / "g.db"
    now = int(time.time() * 1000)
    with Store(db) as st:
        st.load_registry(registry())
        with st.transaction():
            st.apply_candidates([cand("exclusion_zone", now - MIN), cand("strap_tamper", now)])
    return db


def test_sigkill_between_the_commit_and_the_send_mails_once(tmp_path, smtp):
    inbox, _, port = smtp
    db = _fresh_store(tmp_path)
    killed = _notify_once(db, port, "notify_queued@1")
    assert killed.returncode == -9, killed.stderr
    assert inbox.mail == []
    with Store(db) as st:
        assert [r["state"] for r in st.notifications()] == ["pending", "pending"]
    again = _notify_once(db, port)
    assert again.returncode == 0, again.stderr
    assert "sent 2" in again.stdout
    ids = [m["Message-ID"] for _, m in inbox.messages()]
    assert len(ids) == 2 and len(set(ids)) == 2
    assert _notify_once(db, port).returncode == 0
    assert len(inbox.mail) == 2  # never again


def test_sigkill_after_the_server_accepted_resends_with_the_same_message_id(tmp_path, smtp):
    """The one window no sender can close (accepted, not yet recorded): the copy carries
    the same Message-ID, by which mail systems drop it."""
    inbox, _, port = smtp
    db = _fresh_store(tmp_path)
    killed = _notify_once(db, port, "notify_sent@1")
    assert killed.returncode == -9
    assert len(inbox.mail) == 1
    first = inbox.messages()[0][1]["Message-ID"]
    assert _notify_once(db, port).returncode == 0
    ids = [m["Message-ID"] for _, m in inbox.messages()]
    assert sorted(ids) == sorted([first, first, *(set(ids) - {first})])
    assert len(set(ids)) == 2
    with Store(db) as st:
        assert [r["state"] for r in st.notifications()] == ["sent", "sent"]
