"""bench/engine_ab.py keeps working: both engines run the counter and lose nothing.

It swaps ``botsessions`` packages in ``sys.modules``, so it runs in a child process.
The baseline here is ``HEAD`` (light to import); no timing is checked.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_engine_ab_harness_runs_both_engines_and_reports_ratios() -> None:
    argv = [sys.executable, "-m", "bench.engine_ab", "--ref", "HEAD", "--n", "300", "--reps", "2"]
    done = subprocess.run(
        [*argv, "--json"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result["overhead_us"]) == {"current", "baseline HEAD"}
    assert all(len(runs) == 2 for runs in result["overhead_us"].values())
    assert result["ratio_of_best"] > 0
    low, high = result["paired_ratio_range"]
    assert low <= result["paired_ratio_median"] <= high
