"""The demo runs end to end and ends with the month's audit and the maps it promises."""

from __future__ import annotations

import re
from pathlib import Path

from geomonitor.app.demo import run_demo


def test_the_demo_writes_the_audit_and_the_maps_and_prints_their_paths(tmp_path, capsys):
    assert run_demo(tmp_path, subjects=10, days=2, seed=3) == 0
    out = capsys.readouterr().out
    paths = [Path(p) for p in re.findall(r"^   (/\S+\.(?:csv|html))$", out, re.M)]
    names = sorted(p.name for p in paths)
    assert [n for n in names if n.startswith("audit-")] == [
        "audit-2026-11-findings.csv",
        "audit-2026-11.csv",
        "audit-2026-11.html",
    ]
    assert "curfew-leeds.html" in names and any(n.startswith("alert-C-") for n in names)
    assert all(p.is_file() and p.stat().st_size > 0 for p in paths)
    # A few simulated crimes: one hit explained, one elimination.
    assert re.search(r"DEMO-1: S-\d+ was there: \d+ positions within 100 m \(A1", out)
    assert re.search(r"DEMO-\d: S-\d+ eliminated: every fix at least", out)
    assert (tmp_path / "crimes" / "hits.csv").is_file()
    # the batch it ran, as a file the README runs `crimes match` on
    batch = (tmp_path / "crimes.csv").read_text()
    assert batch.startswith("crime_ref,type,from,to,easting,northing\nDEMO-1,BIAD,")
    assert "Try: geomonitor alerts list --db" in out and "--review new" in out
    # it ends by writing one evidence pack, intact against its manifest
    (pack,) = (tmp_path / "packs").iterdir()
    from geomonitor.app.pack import verify

    assert re.search(rf"14. An evidence pack for {pack.name}: ", out) and verify(pack).intact
