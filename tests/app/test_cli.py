"""The command line, as an officer or analyst would use it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from geomonitor.app.cli import main
from geomonitor.model.times import iso

from ..conftest import fix_at, make_doc


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "registry.json").write_text(json.dumps(make_doc()))
    lines = []
    for m in range(40):
        f = fix_at(100 if 10 <= m < 30 else 1000, 0, m)
        lines.append(
            json.dumps(
                {"tag_id": f.tag_id, "ts": iso(f.ts), "lat": f.lat, "lon": f.lon, "accuracy_m": 10}
            )
        )
    lines.append('{"tag_id": "BUD-0001", "ts": "2026-11-21T18:00:30", "lat": 53.8, "lon": -1.5}')
    (tmp_path / "fixes.jsonl").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_load_replay_list_show(files, capsys):
    db = str(files / "g.db")
    assert main(["registry", "load", str(files / "registry.json"), "--db", db]) == 0
    assert "registry version 1" in capsys.readouterr().out
    assert main(["registry", "load", str(files / "registry.json"), "--db", db]) == 0
    assert "registry unchanged (version 1)" in capsys.readouterr().out

    assert main(["replay", "--db", db, "--fixes", str(files / "fixes.jsonl"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "fixes read                41" in out and "naive_time" in out
    assert "candidates opened          1" in out

    assert main(["alerts", "list", "--db", db, "--format", "jsonl"]) == 0
    (row,) = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    for key in (
        "id",
        "kind",
        "subject_id",
        "order_id",
        "condition_id",
        "zone_id",
        "opened_at",
        "closed_at",
        "status",
        "fix_count",
        "explanation",
    ):
        assert key in row
    assert row["opened_at"] == "2026-11-21T18:10:00Z" and row["closed_at"] == "2026-11-21T18:30:00Z"
    assert row["status"] == "closed" and row["fix_count"] == 20

    assert main(["alerts", "list", "--db", db, "--status", "open"]) == 0
    assert capsys.readouterr().out.strip() == "no candidates"
    assert main(["alerts", "list", "--db", db]) == 0
    table = capsys.readouterr().out
    assert row["id"] in table and "S-0001" in table

    assert main(["alerts", "show", row["id"], "--db", db]) == 0
    shown = capsys.readouterr().out
    assert (
        "evidence (20 fixes, 20 wholly past the boundary, 0 straddling it)" in shown
        # each fix in local time to the second, with its place and accuracy
        and re.search(
            r"fix +BUD-0001 +Sat 21 Nov 2026 18:10:00 GMT +53\.\d{5}, -1\.\d{5} ±\d+ m", shown
        )
    )
    assert "@2026-" not in shown  # no raw reference where people read
    assert "opened" in shown.split("history:")[1]
    assert main(["alerts", "show", "C-nope", "--db", db]) == 1

    assert main(["devices", "--db", db]) == 0
    assert capsys.readouterr().out.strip() == "no device events"

    assert main(["rejected", "--db", db]) == 0
    rej = capsys.readouterr().out
    assert "naive_time 1" in rej and "line 41" in rej and "raw:" not in rej


def test_show_an_undeclared_vehicle_journey(tmp_path, capsys):
    """The desk sees the plate, the cameras, and the reads and fixes behind the journey."""
    from ..rules.test_undeclared import DECLARED, drive, read

    doc = make_doc()
    doc["orders"][0]["conditions"] = [DECLARED]
    (tmp_path / "registry.json").write_text(json.dumps(doc))
    fixes = [
        {"tag_id": f.tag_id, "ts": iso(f.ts), "lat": f.lat, "lon": f.lon, "accuracy_m": 10}
        for f in drive()
    ]
    (tmp_path / "fixes.jsonl").write_text("".join(json.dumps(f) + "\n" for f in fixes))
    reads = [read(4.5), read(12.2, off=-40)]
    (tmp_path / "anpr.jsonl").write_text(
        "".join(
            json.dumps({"read_id": r.read_id, "camera_id": r.camera_id, "vrm": "ab12 cde",
                        "ts": iso(r.ts), "lat": r.lat, "lon": r.lon, "confidence": 0.95}) + "\n"
            for r in reads
        )
    )  # fmt: skip
    db = str(tmp_path / "g.db")
    assert main(["registry", "load", str(tmp_path / "registry.json"), "--db", db]) == 0
    args = ["replay", "--db", db, "--no-progress", "--fixes", str(tmp_path / "fixes.jsonl")]
    assert main([*args, "--anpr", str(tmp_path / "anpr.jsonl")]) == 0
    capsys.readouterr()
    assert main(["alerts", "list", "--db", db, "--format", "jsonl"]) == 0
    (row,) = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert row["kind"] == "undeclared_vehicle"
    assert main(["alerts", "show", row["id"], "--db", db]) == 0
    shown = capsys.readouterr().out
    assert "evidence (4 fixes, 2 ANPR reads):" in shown
    assert "vrm                AB12CDE" in shown and "straddling" not in shown


def test_invalid_registry_exits_2_and_names_fields(files, capsys):
    doc = make_doc()
    doc["orders"][0]["conditions"][0]["zone"] = "Z-9"
    (files / "bad.json").write_text(json.dumps(doc))
    assert main(["registry", "load", str(files / "bad.json"), "--db", str(files / "g.db")]) == 2
    err = capsys.readouterr().err
    assert 'orders[0].conditions[0].zone: unknown zone "Z-9"' in err


def test_replay_without_registry_explains(files, capsys):
    assert (
        main(
            [
                "replay",
                "--db",
                str(files / "g.db"),
                "--fixes",
                str(files / "fixes.jsonl"),
                "--no-progress",
            ]
        )
        == 2
    )
    assert "geomonitor registry load" in capsys.readouterr().err


def test_installed_command_and_db_from_environment(files):
    env = dict(os.environ, GEOMONITOR_DB=str(files / "env.db"))
    exe = Path(sys.executable).parent / "geomonitor"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "geomonitor.app.cli"]
    subprocess.run(
        [*cmd, "registry", "load", str(files / "registry.json")],
        env=env,
        check=True,
        capture_output=True,
        cwd=files,
    )
    r = subprocess.run(
        [*cmd, "replay", "--fixes", str(files / "fixes.jsonl"), "--json"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        cwd=files,
    )
    summary = json.loads(r.stdout)
    assert summary["fixes_accepted"] == 40 and summary["candidates_opened"] == 1
    assert (files / "env.db").exists() and not (files / "geomonitor.db").exists()


def test_rejected_says_how_many_it_left_out(files, capsys):
    db = str(files / "g.db")
    bad = ['{"tag_id": "BUD-0001"}', "not json", '{"ts": "2026-11-21T18:00:00Z"}']
    (files / "bad.jsonl").write_text("\n".join(bad) + "\n")
    assert main(["registry", "load", str(files / "registry.json"), "--db", db]) == 0
    main(["replay", "--db", db, "--fixes", str(files / "bad.jsonl"), "--no-progress"])
    capsys.readouterr()
    assert main(["rejected", "--db", db, "--limit", "2"]) == 0
    assert "showing 2 of 3" in capsys.readouterr().out
    assert main(["rejected", "--db", db]) == 0
    assert "showing" not in capsys.readouterr().out
