"""Every rule of the review workflow and of access, refused and allowed (issue 24): each
role, each action, from each review state, against a table written out by hand; every
dismissal reason; another district's candidate refused for every action."""

from __future__ import annotations

import time

import pytest

from geomonitor.app.desk.accounts import user_of
from geomonitor.app.desk.review import (
    DISMISS_REASONS,
    Desk,
    NotAllowed,
    NotFound,
    ReviewError,
)

from .desk_fixtures import desk_store

#: who may do what, from which review state: "ok", "role" (NotAllowed) or "state"
#: (ReviewError). States: new, acknowledged, decided (a warning letter), dismissed.
TABLE = {
    "viewer": {
        a: dict.fromkeys(("new", "acknowledged", "decided", "dismissed"), "role")
        for a in ("ack", "decide", "dismiss", "note", "reopen")
    },
    "desk": {
        "ack": {"new": "ok", "acknowledged": "state", "decided": "state", "dismissed": "state"},
        "decide": {"new": "ok", "acknowledged": "ok", "decided": "state", "dismissed": "state"},
        "dismiss": {"new": "ok", "acknowledged": "ok", "decided": "state", "dismissed": "state"},
        "note": {"new": "ok", "acknowledged": "ok", "decided": "ok", "dismissed": "ok"},
        "reopen": dict.fromkeys(("new", "acknowledged", "decided", "dismissed"), "role"),
    },
    "supervisor": {
        "ack": {"new": "ok", "acknowledged": "state", "decided": "state", "dismissed": "state"},
        "decide": {"new": "ok", "acknowledged": "ok", "decided": "state", "dismissed": "state"},
        "dismiss": {"new": "ok", "acknowledged": "ok", "decided": "state", "dismissed": "state"},
        "note": {"new": "ok", "acknowledged": "ok", "decided": "ok", "dismissed": "ok"},
        "reopen": {"new": "state", "acknowledged": "state", "decided": "ok", "dismissed": "ok"},
    },
}
USERS = {"viewer": "vic", "desk": "dana", "supervisor": "sam"}


@pytest.fixture
def store(tmp_path):
    st, ids = desk_store(tmp_path / "d.db")
    yield st, ids
    st.close()


def _desk(st, name: str) -> Desk:
    return Desk(st, user_of(st, name), "test", int(time.time() * 1000))


def _to_state(st, cid: str, state: str) -> None:
    sam = _desk(st, "sam")
    if state in ("acknowledged", "decided"):
        sam.acknowledge(cid)
    if state == "decided":
        sam.decide(cid, "warning_letter", text="first warning")
    if state == "dismissed":
        sam.dismiss(cid, "gps_drift")


def _do(d: Desk, action: str, cid: str):
    return {
        "ack": lambda: d.acknowledge(cid),
        "decide": lambda: d.decide(cid, "interview", text="to see them"),
        "dismiss": lambda: d.dismiss(cid, "duplicate"),
        "note": lambda: d.note(cid, "spoke to the officer"),
        "reopen": lambda: d.reopen(cid, "new information"),
    }[action]()


@pytest.mark.parametrize("role", list(TABLE))
@pytest.mark.parametrize("state", ["new", "acknowledged", "decided", "dismissed"])
def test_each_role_and_action_from_each_state_as_the_table_says(store, role, state):
    st, ids = store
    got = {}
    for action in TABLE[role]:
        cid = ids["Leeds"][0]
        st.db.execute("DELETE FROM reviews WHERE candidate_id=?", (cid,))
        _to_state(st, cid, state)
        before = st.review(cid)
        try:
            _do(_desk(st, USERS[role]), action, cid)
            got[action] = "ok"
        except NotAllowed:
            got[action] = "role"
        except ReviewError:
            got[action] = "state"
        if got[action] != "ok":  # a refusal changes nothing
            assert st.review(cid) == before, action
    assert got == {a: TABLE[role][a][state] for a in TABLE[role]}


@pytest.mark.parametrize("reason", DISMISS_REASONS)
def test_every_dismissal_reason_is_accepted_other_only_in_words(store, reason):
    st, ids = store
    dana = _desk(st, "dana")
    cid = ids["Leeds"][0]
    if reason == "other":
        with pytest.raises(ReviewError, match="in words"):
            dana.dismiss(cid, "other")
        assert dana.dismiss(cid, "other", "the subject was in hospital").reason == (
            "other: the subject was in hospital"
        )
    else:
        assert dana.dismiss(cid, reason).state == "dismissed"


@pytest.mark.parametrize("reason", [None, "", "because", "GPS_DRIFT", "gps drift"])
def test_a_dismissal_without_one_of_the_reasons_is_refused(store, reason):
    st, ids = store
    cid = ids["Leeds"][0]
    with pytest.raises(ReviewError, match="needs a reason"):
        _desk(st, "dana").dismiss(cid, reason)
    assert st.review(cid) is None


@pytest.mark.parametrize("action", ["ack", "decide", "dismiss", "note", "reopen"])
def test_another_districts_candidate_is_not_found_for_any_action(store, action):
    st, ids = store
    cid = ids["Bradford"][0]
    with pytest.raises((NotFound, NotAllowed)):
        _do(_desk(st, "sam"), action, cid)
    with pytest.raises(NotFound):
        _desk(st, "dana").get(cid)
    assert st.review(cid) is None


def test_a_decision_changed_by_new_evidence_may_be_decided_again(store):
    st, ids = store
    cid = ids["Leeds"][0]
    _to_state(st, cid, "decided")
    dana = _desk(st, "dana")
    with pytest.raises(ReviewError, match="already decided"):
        dana.decide(cid, "interview")
    st.db.execute("UPDATE reviews SET decided_at = decided_at - 86400000 WHERE candidate_id=?",
                  (cid,))  # fmt: skip
    st.db.execute(
        "INSERT INTO candidate_events (candidate_id, action, recorded_at, body, link) "
        "SELECT candidate_id, 'updated', strftime('%Y-%m-%dT%H:%M:%fZ','now'), body, NULL "
        "FROM candidate_events WHERE candidate_id=? ORDER BY seq DESC LIMIT 1",
        (cid,),
    )
    assert dana.get(cid).look_again
    assert dana.decide(cid, "interview").state == "interview"
