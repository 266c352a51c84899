"""The benchmark script still runs (tiny sizes; no timing is asserted)."""

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "replay_bench.py"


def test_replay_bench_runs_and_reports_every_figure():
    r = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--subjects",
            "10",
            "--fixes",
            "3000",
            "--naive-sample",
            "500",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    for label in ("engine:", "naive:", "ratio:", "replay:"):
        assert label in r.stdout
    assert "3,000 fixes" in r.stdout


def test_anpr_bench_runs_and_the_index_agrees_with_the_full_scan():
    bench = BENCH.parent / "anpr_bench.py"
    r = subprocess.run(
        [
            sys.executable,
            str(bench),
            "--subjects", "40",
            "--reads", "20000",
            "--cameras", "300",
            "--vehicles", "5000",
            "--naive-sample", "300",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )  # fmt: skip
    for label in ("engine:", "naive:", "ratio:", "setup:"):
        assert label in r.stdout
    assert "the same" in r.stdout  # the co-locations both found in the sample
    assert (
        "journeys: 1 (subject and car pairs), 1 found; other pairs with a candidate: 0" in r.stdout
    )


def test_audit_bench_runs_and_reports_every_figure():
    bench = BENCH.parent / "audit_bench.py"
    r = subprocess.run(
        [sys.executable, str(bench), "--units", "10", "--days", "2", "--naive-sample", "5"],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    for label in ("store:", "audit:", "naive:", "ratio:"):
        assert label in r.stdout
    assert "of 10 units" in r.stdout


def test_maps_bench_runs_and_reports_every_figure():
    bench = BENCH.parent / "maps_bench.py"
    r = subprocess.run(
        [sys.executable, str(bench), "--days", "1"],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    for label in ("trail:", "thinned:", "every fix:", "ratio:"):
        assert label in r.stdout
    assert "1,440 fixes" in r.stdout


def test_crimes_bench_runs_and_both_ways_agree():
    bench = BENCH.parent / "crimes_bench.py"
    r = subprocess.run(
        [sys.executable, str(bench), "--subjects", "8", "--days", "2", "--crimes", "20",
         "--scan-sample", "5"],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )  # fmt: skip
    for label in ("store:", "index:", "scan:", "ratio:"):
        assert label in r.stdout
    assert "same verdicts on the sample: yes" in r.stdout


def test_zone_cover_bench_runs():
    bench = BENCH.parent / "zone_cover_bench.py"
    r = subprocess.run([sys.executable, str(bench), "--repeat", "1"], capture_output=True,
                       text=True, check=True, timeout=300)  # fmt: skip
    assert "124 zones built" in r.stdout and "read back" in r.stdout and "ratio" in r.stdout
