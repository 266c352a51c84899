from hypothesis import given
from hypothesis import strategies as st

from geomonitor.model.candidate import (
    Candidate,
    Emitted,
    candidate_id,
    fix_ref,
    fix_refs,
    reconcile,
)
from geomonitor.model.times import parse_ts


@given(st.lists(st.integers(0, 4_000_000_000_000), max_size=20))
def test_vectorised_references_read_exactly_like_single_ones(ts):
    tags = [f"BUD-{i:04d}" for i in range(len(ts))]
    assert fix_refs(tags, ts) == [fix_ref(t, x) for t, x in zip(tags, ts, strict=True)]


def test_reference_format():
    assert fix_ref("BUD-0017", parse_ts("2026-11-21T21:14:05Z")) == "BUD-0017@2026-11-21T21:14:05Z"
    assert fix_ref("B", parse_ts("2026-11-21T21:14:05.120Z")) == "B@2026-11-21T21:14:05.120Z"


def test_candidate_ids_are_stable_and_distinct():
    a = candidate_id("exclusion_zone", "S-1", "O-1", "C-1", 1000)
    assert a == candidate_id("exclusion_zone", "S-1", "O-1", "C-1", 1000)
    assert a != candidate_id("exclusion_zone", "S-1", "O-1", "C-1", 1001)
    assert a != candidate_id("curfew_absent", "S-1", "O-1", "C-1", 1000)
    # The same in every process, on every machine: the desk's ids survive restarts and
    # reach other systems (a salted hash() would pass the lines above, not this one).
    assert a == "C-7e690610e11d2600"


def _cand(cid: str, status: str = "open", closed_at: int | None = None) -> Candidate:
    return Candidate(
        cid, "exclusion_zone", "S-1", "O-1", "C-1", "Z-1", 1000, closed_at, status, 2, "x", 1000
    )


def test_reconcile_sends_only_what_is_new_changed_or_gone():
    emitted: Emitted = {}
    up: list[Candidate] = []
    gone: list[str] = []
    reconcile(emitted, [_cand("C-a"), _cand("C-b")], up, gone)
    assert [c.id for c in up] == ["C-a", "C-b"] and gone == []
    # A closed candidate judged again, an equal copy: nothing is sent again.
    closed = _cand("C-a", "closed", 5000)
    up, gone = [], []
    reconcile(emitted, [closed, _cand("C-b")], up, gone)
    assert [(c.id, c.status) for c in up] == [("C-a", "closed")] and gone == []
    for _ in range(2):
        up, gone = [], []
        reconcile(emitted, [_cand("C-a", "closed", 5000), _cand("C-b")], up, gone)
        assert (up, gone) == ([], [])
    # Gone from the judgement: retracted, once.
    reconcile(emitted, [_cand("C-a", "closed", 5000)], up, gone)
    assert (up, gone) == ([], ["C-b"])
    up, gone = [], []
    reconcile(emitted, [_cand("C-a", "closed", 5000)], up, gone)
    assert (up, gone) == ([], [])


def test_json_round_trip():
    c = Candidate(
        "C-x",
        "curfew_absent",
        "S-1",
        "O-1",
        "C-3",
        None,
        1_795_000_000_000,
        None,
        "open",
        3,
        "explained",
        1_795_000_060_000,
        details={"spells": 2},
    )
    assert Candidate.from_json(c.to_json()) == c
    assert c.to_json()["opened_at"].endswith("Z") and c.to_json()["closed_at"] is None
