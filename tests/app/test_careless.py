"""Careless operations, as an operator would make them: each is one clear line and a
documented exit code, never a traceback, and never a silent loss."""

from __future__ import annotations

import gzip
import json
import os
import stat

import pytest

from geomonitor.app.cli import main
from geomonitor.model.times import iso
from geomonitor.store.domain import Store, StorePermissionWarning

from ..conftest import fix_at, make_doc


@pytest.fixture
def files(tmp_path):
    (tmp_path / "registry.json").write_text(json.dumps(make_doc()))
    lines = [
        json.dumps({"tag_id": f.tag_id, "ts": iso(f.ts), "lat": f.lat, "lon": f.lon})
        for f in (fix_at(0, 0, m) for m in range(30))
    ]
    (tmp_path / "fixes.jsonl").write_text("\n".join(lines) + "\n")
    db = str(tmp_path / "g.db")
    assert main(["registry", "load", str(tmp_path / "registry.json"), "--db", db]) == 0
    return tmp_path


def replay(files, *args):
    return main(["replay", "--db", str(files / "g.db"), "--no-progress", *args])


def test_a_new_store_is_readable_by_its_owner_only(files):
    mode = stat.S_IMODE(os.stat(files / "g.db").st_mode)
    assert mode == 0o600
    assert replay(files, "--fixes", str(files / "fixes.jsonl")) == 0
    for suffix in ("-wal", "-shm"):
        p = files / f"g.db{suffix}"
        if p.exists():
            assert stat.S_IMODE(os.stat(p).st_mode) & 0o077 == 0


def test_an_existing_store_readable_by_others_is_warned_about(files):
    os.chmod(files / "g.db", 0o644)
    with pytest.warns(StorePermissionWarning, match="chmod 600"), Store(files / "g.db"):
        pass


def test_read_commands_never_create_a_store(tmp_path, capsys):
    missing = tmp_path / "typo.db"
    for cmd in (["alerts", "list"], ["devices"], ["rejected"], ["registry", "history"]):
        assert main([*cmd, "--db", str(missing)]) == 2
        err = capsys.readouterr().err
        assert f"no store at {missing}" in err and "geomonitor registry load" in err
        assert "Traceback" not in err
    assert not missing.exists()


def test_a_store_in_a_folder_that_does_not_exist(tmp_path, capsys):
    db = tmp_path / "nowhere" / "g.db"
    assert main(["registry", "load", str(tmp_path / "x.json"), "--db", str(db)]) == 2
    (tmp_path / "r.json").write_text(json.dumps(make_doc()))
    assert main(["registry", "load", str(tmp_path / "r.json"), "--db", str(db)]) == 2
    assert f"no folder {tmp_path / 'nowhere'}" in capsys.readouterr().err


def test_an_empty_registry_does_not_remove_everyone(files, capsys):
    (files / "empty.json").write_text("{}")
    db = str(files / "g.db")
    assert main(["registry", "load", str(files / "empty.json"), "--db", db]) == 2
    assert "has no districts: nothing was loaded" in capsys.readouterr().err
    (files / "nobody.json").write_text(json.dumps({"districts": make_doc()["districts"]}))
    assert main(["registry", "load", str(files / "nobody.json"), "--db", db]) == 2
    err = capsys.readouterr().err
    assert "would remove" in err and "subject(s): S-0001, S-0002" in err
    assert "--allow-removals" in err
    with Store(db) as st:
        assert set(st.current_registry().subjects) == {"S-0001", "S-0002"}  # untouched
    doc = make_doc()
    doc["subjects"] = doc["subjects"][:1]
    doc["orders"] = [o for o in doc["orders"] if o["subject"] == "S-0001"]
    doc["fittings"] = [f for f in doc["fittings"] if f["subject"] == "S-0001"]
    (files / "fewer.json").write_text(json.dumps(doc))
    assert main(["registry", "load", str(files / "fewer.json"), "--db", db]) == 2
    assert (
        main(["registry", "load", str(files / "fewer.json"), "--db", db, "--allow-removals"]) == 0
    )
    with Store(db) as st:
        assert set(st.current_registry().subjects) == {"S-0001"}


def test_fixes_naming_a_folder(files, capsys):
    assert replay(files, "--fixes", str(files)) == 2
    err = capsys.readouterr().err
    assert "is a folder, not a file" in err and "Traceback" not in err


def test_a_truncated_gzip_keeps_what_was_read_and_says_where_it_stopped(files, capsys):
    data = gzip.compress((files / "fixes.jsonl").read_bytes())
    (files / "cut.jsonl.gz").write_bytes(data[: len(data) * 2 // 3])
    assert replay(files, "--fixes", str(files / "cut.jsonl.gz")) == 1
    captured = capsys.readouterr()
    assert "ends early" in captured.err
    with Store(files / "g.db") as st:
        kept = st.fix_count()
        (r,) = st.rejections("truncated")
        partial = len(st.rejections("malformed"))  # a last line cut in the middle
    assert 0 < kept < 30 and partial <= 1
    assert r["locator"] == f"line {kept + partial + 1}"


def test_oversize_records_are_refused_and_the_rest_is_kept(files, capsys):
    lines = (files / "fixes.jsonl").read_text().splitlines()
    huge = json.loads(lines[5])
    huge["note"] = "x" * (1 << 20)
    lines[5] = json.dumps(huge)
    (files / "big.jsonl").write_text("\n".join(lines) + "\n")
    assert replay(files, "--fixes", str(files / "big.jsonl")) == 0
    with Store(files / "g.db") as st:
        assert st.fix_count() == 29
        (r,) = st.rejections("too_large")
        assert r["locator"] == "line 6" and len(r["raw"]) <= 4096
    header = "tag_id,ts,lat,lon,note"
    rows = [header] + [
        f"{f.tag_id},{iso(f.ts)},{f.lat},{f.lon},{'y' * ((1 << 20) + 10) if m == 3 else 'ok'}"
        for m, f in enumerate(fix_at(0, 0, 100 + m) for m in range(6))
    ]
    (files / "big.csv").write_text("\n".join(rows) + "\n")
    assert replay(files, "--fixes", str(files / "big.csv")) == 0
    with Store(files / "g.db") as st:
        assert st.fix_count() == 29 + 5
        assert len(st.rejections("too_large")) == 2


def test_a_file_where_every_record_is_rejected_or_nothing_is_read_exits_1(files, capsys):
    (files / "bad.jsonl").write_text('{"tag_id": "BUD-0001"}\nnot json\n')
    assert replay(files, "--fixes", str(files / "bad.jsonl")) == 1
    assert "every record was rejected" in capsys.readouterr().err
    (files / "empty.jsonl").write_text("")
    assert replay(files, "--fixes", str(files / "empty.jsonl")) == 1
    assert "no record was read" in capsys.readouterr().err


def test_a_second_replay_waits_for_the_first_with_a_message(files):
    """Two replays on one store at once gave different candidates than one after the
    other; now the second waits, says so, and the result is that of running them in turn."""
    import subprocess
    import sys

    db = files / "g.db"
    cmd = [sys.executable, "-m", "geomonitor", "replay", "--db", str(db), "--no-progress",
           "--fixes", str(files / "fixes.jsonl")]  # fmt: skip
    with Store(db) as st, st.writer():  # another replay holds the store
        proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = proc.stderr.readline()
        assert "another replay is writing to this store; waiting" in line
        assert proc.poll() is None  # still waiting
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "fixes read" in out


def test_two_replays_at_once_give_what_they_give_one_after_the_other(tmp_path):
    import subprocess
    import sys

    from geomonitor.sim import simulate

    simulate(tmp_path / "sc", subjects=6, days=1, seed=4)
    lines = (tmp_path / "sc" / "fixes.jsonl").read_text().splitlines()
    half = len(lines) // 2
    (tmp_path / "a.jsonl").write_text("\n".join(lines[:half]) + "\n")
    (tmp_path / "b.jsonl").write_text("\n".join(lines[half:]) + "\n")
    results = []
    for together in (False, True):
        db = tmp_path / f"{together}.db"
        assert (
            main(["registry", "load", str(tmp_path / "sc" / "registry.json"), "--db", str(db)]) == 0
        )
        cmds = [
            [sys.executable, "-m", "geomonitor", "replay", "--db", str(db), "--no-progress",
             "--fixes", str(tmp_path / name)]
            for name in ("a.jsonl", "b.jsonl")
        ]  # fmt: skip
        if together:
            procs = [subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                     for c in cmds]  # fmt: skip
            assert [p.wait(timeout=120) for p in procs] == [0, 0]
        else:
            for c in cmds:
                subprocess.run(c, check=True, capture_output=True)
        with Store(db) as st:
            results.append(sorted(json.dumps(c.to_json(), sort_keys=True) for c in st.candidates()))
    assert results[0] == results[1] and results[0]


def test_a_read_only_store_is_one_line(files, capsys):
    """An immutable store file (chattr +i: read-only even to root): a listing is refused
    (its consultation could not be logged) and a replay into it stops, each with one line
    and exit 2, no traceback."""
    import shutil
    import subprocess

    db = files / "g.db"
    if (
        shutil.which("chattr") is None
        or subprocess.run(["chattr", "+i", str(db)], capture_output=True).returncode
    ):
        pytest.skip("this filesystem cannot make a file immutable")
    try:
        assert main(["alerts", "list", "--db", str(db)]) == 2
        assert "cannot be written: nothing is shown" in capsys.readouterr().err
        assert replay(files, "--fixes", str(files / "fixes.jsonl")) == 2
        err = capsys.readouterr().err
        assert "the store cannot be used as asked" in err and "readonly" in err
        assert "Traceback" not in err
    finally:
        subprocess.run(["chattr", "-i", str(db)], check=True)


def test_small_things_a_new_user_meets(files, tmp_path, capsys, monkeypatch):
    """From issue 23: a password asked with no terminal, a machine listing cut short, an
    option's bad value not named, files readable by everyone."""
    import io
    import json
    import stat

    db = str(files / "g.db")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # no terminal, no --password-stdin
    assert main(["users", "add", "x1", "--role", "desk", "--district", "Leeds",
                 "--db", db]) == 2  # fmt: skip
    assert "--password-stdin" in capsys.readouterr().err
    # a machine-readable listing is whole unless a limit is asked for: 60 zone visits
    visits = [fix_at(0 if m % 20 < 5 else 2000, 0, m) for m in range(0, 1200)]
    path = tmp_path / "visits.jsonl"
    path.write_text("".join(json.dumps({"tag_id": f.tag_id, "ts": iso(f.ts), "lat": f.lat,
                                        "lon": f.lon}) + "\n" for f in visits))  # fmt: skip
    assert replay(files, "--fixes", str(path)) == 0
    capsys.readouterr()
    n = len(Store(files / "g.db", create=False).candidates())
    assert n > 50
    assert main(["alerts", "list", "--format", "jsonl", "--db", db]) == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(rows) == n
    assert main(["alerts", "list", "--format", "jsonl", "--limit", "1", "--db", db]) == 0
    assert len(capsys.readouterr().out.splitlines()) == min(1, n)
    # an option's bad value is named
    assert main(["simulate", "--out", str(tmp_path / "s"), "--start", "2026-07-10T00:00",
                 "--subjects", "2", "--days", "1"]) == 2  # fmt: skip
    assert capsys.readouterr().err.startswith("geomonitor: --start: ")
    assert main(["simulate", "--out", str(tmp_path / "s"), "--start", "2026-07-10",
                 "--subjects", "2", "--days", "1"]) == 0  # fmt: skip
    capsys.readouterr()
    # what a command writes is its user's alone, like the store
    out = tmp_path / "m.html"
    assert main(["map", "zones", "--out", str(out), "--db", db]) == 0
    assert stat.S_IMODE(out.stat().st_mode) & 0o077 == 0
    folder = tmp_path / "audit"
    assert main(["audit", "monthly", "--month", "2026-11", "--out", str(folder), "--db", db]) == 0
    assert all(stat.S_IMODE(p.stat().st_mode) & 0o077 == 0 for p in folder.iterdir())


def test_a_district_typo_names_the_districts_and_history_shows_all(files, capsys, monkeypatch):
    db = str(files / "g.db")
    for argv in (["alerts", "list", "--district", "Leds"],
                 ["map", "zones", "--district", "Leds", "--out", str(files / "z.html")],
                 ["map", "curfew", "--district", "Leds", "--out", str(files / "c.html")],
                 ["tags", "list", "--district", "Leds"]):  # fmt: skip
        assert main([*argv, "--db", db]) == 2, argv
        assert "'Leds'" in (err := capsys.readouterr().err) and "(Leeds" in err, argv
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert main(["users", "add", "x1", "--role", "desk", "--district", "Leds",
                 "--password-stdin", "--db", db]) == 2  # fmt: skip
    assert "(Leeds, or 'all')" in capsys.readouterr().err
    assert main(["registry", "history", "--limit", "3", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "showing 3 of" in out and "(--limit 0 for all)" in out
    assert main(["registry", "history", "--limit", "0", "--db", db]) == 0
    assert "showing" not in capsys.readouterr().out


def test_registry_check_with_a_store_says_what_loading_would_change(files, capsys):
    db = files / "g.db"
    assert main(["registry", "check", str(files / "registry.json"), "--db", str(db)]) == 0
    assert "loading it would change nothing" in capsys.readouterr().out
    doc = json.loads((files / "registry.json").read_text())
    doc["zones"][0]["radius_m"] = 250
    doc["fittings"] = doc["fittings"][:-1]  # S-0002's tag taken off the registry
    edited = files / "edited.json"
    edited.write_text(json.dumps(doc))
    assert main(["registry", "check", str(edited), "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "would make version 2: 0 added, 1 changed, 1 removed" in out
    assert "remove 1 entries: it would need --allow-removals" in out
    with Store(db, create=False) as st:
        assert st.registry_version() == 1  # nothing was written


def test_a_second_tag_is_fitted_only_when_meant(files, capsys):
    db = str(files / "g.db")
    fit = ["tags", "fit", "BUD-0099", "S-0001", "--consent-recorded-at",
           "2026-11-20T09:00:00Z", "--db", db]  # fmt: skip
    assert main(fit) == 2
    assert "S-0001 wears BUD-0001 already" in capsys.readouterr().err
    assert main(["tags", "fit", "BUD-0099", "S-0002", "--consent-recorded-at",
                 "2026-11-20T09:00:00Z", "--db", db]) == 2  # S-0002 wears BUD-0002  # fmt: skip
    capsys.readouterr()
    assert main([*fit, "--second-tag"]) == 0
    with Store(files / "g.db", create=False) as st:
        worn = {f.tag_id for f in st.current_registry().fittings if f.subject_id == "S-0001"}
    assert worn == {"BUD-0001", "BUD-0099"}
