"""The SQLite store, on a real database file."""

from __future__ import annotations

import sqlite3

import pytest

from geomonitor.model.candidate import Candidate
from geomonitor.model.registry_load import parse_registry
from geomonitor.store.domain import SCHEMA_VERSION, Store, StoreError

from ..conftest import T0, fix_at, make_doc


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "g.db") as s:
        yield s


def test_new_file_is_migrated_and_in_wal_mode(tmp_path):
    with Store(tmp_path / "g.db") as s:
        assert s.schema_version == SCHEMA_VERSION
        assert s.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # Re-opening an up-to-date file changes nothing.
    with Store(tmp_path / "g.db") as s:
        assert s.schema_version == SCHEMA_VERSION


def test_file_from_a_newer_geomonitor_is_refused(tmp_path):
    db = sqlite3.connect(tmp_path / "g.db")
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StoreError, match="Upgrade geomonitor"):
        Store(tmp_path / "g.db")


def test_registry_load_is_idempotent_and_keeps_history(store):
    doc = make_doc()
    first = store.load_registry(parse_registry(doc), "r.json")
    assert (first.version, first.changed, first.removed) == (1, 0, 0) and first.added > 0
    again = store.load_registry(parse_registry(doc), "r.json")
    assert again.unchanged and again.version == 1

    doc["subjects"][1]["district"] = "Leeds"  # same district by name: no real change
    doc["zones"][0]["radius_m"] = 500
    doc["cameras"] = []
    edited = store.load_registry(parse_registry(doc), "r.json")
    assert (edited.version, edited.added, edited.changed, edited.removed) == (2, 0, 1, 1)
    hist = store.registry_history()
    assert [h["version"] for h in hist] == [1, 2]
    assert {(e["kind"], e["id"], e["change"]) for e in hist[1]["entities"]} == {
        ("zone", "Z-CIRCLE", "changed"),
        ("camera", "CAM-0001", "removed"),
    }
    # The old zone is still there as history, the current one is the edited one.
    rows = store.db.execute(
        "SELECT version_from, version_to FROM registry_entities WHERE kind='zone'"
    ).fetchall()
    assert sorted(rows, key=lambda r: r[0]) == [(1, 2), (2, None)]
    reg = store.current_registry()
    assert reg.zones["Z-CIRCLE"].area_m2 == pytest.approx(3.14159 * 500**2, rel=1e-3)
    assert reg.cameras == {}


def test_current_registry_needs_a_load(store):
    with pytest.raises(StoreError, match="registry load"):
        store.current_registry()


def test_fix_storage_keeps_the_better_duplicate_whatever_the_order(tmp_path):
    good = fix_at(0, 0, 1, acc=5.0)
    worse = fix_at(50, 0, 1, acc=40.0)
    got = []
    for i, order in enumerate(([good, worse], [worse, good])):
        with Store(tmp_path / f"{i}.db") as s:
            n = sum(s.insert_fixes([f]) for f in order)
            assert s.fix_count() == 1
            got.append((n, s.db.execute("SELECT accuracy_m FROM fixes").fetchone()[0]))
    assert got[0][1] == got[1][1] == 5.0
    assert got[0][0] == 1 and got[1][0] == 2  # second order: insert, then replace


def _cand(cid="C-1", status="open", closed=None, n=2) -> Candidate:
    return Candidate(
        cid,
        "exclusion_zone",
        "S-0001",
        "O-0001",
        "C-1",
        "Z-CIRCLE",
        T0,
        closed,
        status,
        n,
        "explained",
        T0,
    )


def test_candidate_changes_are_recorded(store):
    w = store.apply_candidates([_cand()])
    assert (w.opened, w.updated, w.closed) == (1, 0, 0)
    w = store.apply_candidates([_cand(n=5)])
    assert (w.opened, w.updated) == (0, 1)
    w = store.apply_candidates([_cand(status="closed", closed=T0 + 60_000, n=6)])
    assert w.closed == 1
    (c,) = store.candidates()
    assert (c.status, c.fix_count, c.closed_at) == ("closed", 6, T0 + 60_000)
    assert store.candidates(status="open") == []
    w = store.apply_candidates([], ["C-1"])
    assert w.retracted == 1 and store.candidates() == []
    assert [h["action"] for h in store.candidate_history("C-1")] == [
        "opened",
        "updated",
        "closed",
        "retracted",
    ]


def test_transaction_is_all_or_nothing(store):
    with pytest.raises(RuntimeError), store.transaction():
        store.insert_fixes([fix_at(0, 0, 1)])
        raise RuntimeError("crash mid-chunk")
    assert store.fix_count() == 0


def test_a_schema_8_audit_log_is_chained_with_the_key_when_migrated(tmp_path):
    """A store from before the keyed log: its rows (the old SHA-256 chain) are chained
    again with the key and a checkpoint written, so the log verifies and goes on."""
    import hashlib

    from geomonitor.store.schema import MIGRATIONS, split_sql

    db = tmp_path / "old.db"
    x = sqlite3.connect(db)
    for i in range(8):
        for stmt in split_sql(MIGRATIONS[i]):
            x.execute(stmt)
    x.execute("PRAGMA user_version=8")
    prev = "0" * 64
    for i in range(3):
        h = hashlib.sha256(f"{prev}{i}".encode()).hexdigest()
        x.execute("INSERT INTO audit_log (at, actor, action, target, origin, detail, prev_hash, "
                  "hash) VALUES (?,?,?,?,?,?,?,?)",
                  (i, "sam", "view", "C-1", "cli", None, prev, h))  # fmt: skip
        prev = h
    x.commit()
    x.close()
    db.chmod(0o600)
    with Store(db) as st:
        v = st.audit_verify()
        assert st.schema_version == SCHEMA_VERSION and v.ok and v.rows == 3 == v.checkpoint_seq
        st.audit(10, "sam", "view", "C-2", "cli")
        assert st.audit_verify().ok and [r["seq"] for r in st.audit_log()] == [4, 3, 2, 1]


def test_the_latest_fix_is_the_latest_of_any_tag(store):
    store.load_registry(parse_registry(make_doc()))
    assert store.latest_fix_at() is None
    fixes = [fix_at(0, 0, 10, tag="BUD-0001"), fix_at(0, 0, 5000, tag="BUD-0002"),
             fix_at(0, 0, 20, tag="BUD-0001"), fix_at(0, 0, 700, tag="BUD-0099")]  # fmt: skip
    store.insert_fixes(fixes)
    assert store.latest_fix_at() == max(f.ts for f in fixes) == fix_at(0, 0, 5000).ts
