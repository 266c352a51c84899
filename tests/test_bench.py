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
