"""The benchmark's startup phase: its measurements run, and its report and targets read them."""

from __future__ import annotations

import shutil
import sys
from typing import Any

import pytest
from bench import startup
from bench.__main__ import _parse
from bench._report import render
from bench._runner import NODE_DIR, Progress
from bench._targets import check


def timing(median: float) -> dict[str, Any]:
    return {"median": median, "min": median, "max": median, "values": [median]}


def imports_row(module: str, seconds: float, modules: int) -> dict[str, Any]:
    return {
        "label": f"import {module}",
        "seconds": timing(seconds),
        "modules": modules,
        "max_rss_mb": timing(40.0),
    }


RESULTS: dict[str, Any] = {
    "meta": {
        "command": "python -m bench --only startup",
        "date": "today",
        "wall_s": 60.0,
        "machine": {"nproc": "2"},
    },
    "startup": {
        "runs": 1,
        "imports": {
            "botsessions": imports_row("botsessions", 0.1, 200),
            "python-telegram-bot": imports_row("telegram.ext", 0.4, 420),
            "aiogram": imports_row("aiogram", 4.0, 1100),
        },
        "first_reply": {
            "botsessions": {"label": "python counter.py", "seconds": timing(0.9)},
            "grammY": {"label": "node counter.cjs", "seconds": timing(0.5)},
        },
        "demo": {
            "first_line": "Sessions are stored in memory (forgotten when the demo exits).",
            "first_line_s": timing(0.3),
        },
        "failures": {},
    },
}


def test_only_startup_selects_the_startup_phase_alone() -> None:
    assert _parse(["--only", "startup"]).only == {"startup"}
    assert _parse(["--only", "W1,Startup"]).only == {"W1", "startup"}


def test_an_unknown_phase_is_refused() -> None:
    with pytest.raises(SystemExit):
        _parse(["--only", "warmup"])


def test_targets_compare_first_reply_with_grammy_and_import_with_telegram_ext() -> None:
    rows = "\n".join(check(RESULTS))
    assert "| startup: process start → first reply" in rows
    assert "| 1.80 | ≤ 1.5× | **missed** |" in rows
    assert "| startup: import botsessions / import telegram.ext | 0.25 | ≤ 0.5× | met |" in rows
    assert "| startup: import botsessions / import aiogram | 0.03 | reported | met |" in rows


def test_the_report_has_a_startup_table_and_lists_what_failed() -> None:
    results = {**RESULTS, "startup": {**RESULTS["startup"], "failures": {"demo": "it broke"}}}
    markdown = render(results, check(results))
    assert "## Startup (1 runs each after one warm-up, fresh processes)" in markdown
    assert "| import telegram.ext (in the child, interpreter start excluded) |" in markdown
    assert "| 1.80× vs grammY |" in markdown
    assert "“Sessions are stored in memory" in markdown
    assert "- demo: not available (it broke)" in markdown


def test_a_missing_measurement_is_reported_not_available() -> None:
    results = {**RESULTS, "startup": {**RESULTS["startup"], "first_reply": {}}}
    rows = "\n".join(check(results))
    assert "first reply, examples/counter.py / grammY's counter bot | not available |" in rows


def test_an_import_is_timed_in_a_fresh_interpreter() -> None:
    sample = startup.import_once("botsessions")
    assert sample["seconds"] > 0
    assert sample["modules"] > 0


def test_an_import_that_fails_says_which() -> None:
    with pytest.raises(startup.StartupFailed, match="import no_such_module_here failed"):
        startup.import_once("no_such_module_here")


@pytest.mark.timeout(300)
async def test_the_counter_example_answers_its_first_message() -> None:
    commands = {"botsessions": startup.counter_commands()["botsessions"]}
    rows, failures = await startup.measure_first_replies(1, Progress(1), commands)
    assert failures == {}
    assert rows["botsessions"]["seconds"]["median"] > 0


@pytest.mark.timeout(300)
@pytest.mark.skipif(
    shutil.which("node") is None or not (NODE_DIR / "node_modules" / "grammy").exists(),
    reason="grammY is installed by `python -m bench` (ensure_node_modules)",
)
async def test_grammys_counter_bot_answers_its_first_message() -> None:
    commands = {"grammY": startup.counter_commands()["grammY"]}
    rows, failures = await startup.measure_first_replies(1, Progress(1), commands)
    assert failures == {}
    assert rows["grammY"]["seconds"]["median"] > 0


@pytest.mark.timeout(300)
async def test_the_demo_prints_its_first_line() -> None:
    sample = await startup.demo_once()
    assert "memory" in sample["first_line"]
    assert sample["first_line_s"] > 0


async def test_a_bot_that_exits_before_replying_is_reported() -> None:
    commands = {"broken": [sys.executable, "-c", "raise SystemExit(3)"]}
    rows, failures = await startup.measure_first_replies(1, Progress(1), commands)
    assert rows == {}
    assert "exited with code 3 before replying" in failures["broken"]
