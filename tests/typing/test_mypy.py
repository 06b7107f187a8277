"""mypy --strict accepts typed bots and rejects wrong session types.

One mypy run covers the typed cases in ``cases/``, the typed examples, and a file of
mistakes written below: every line marked ``# error`` must be reported, and nothing else.
The cache lives in pytest's temporary root, so later runs are incremental.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CASES = sorted((Path(__file__).parent / "cases").glob("typed_*.py"))
EXAMPLES = [ROOT / "examples" / f"{name}.py" for name in ("counter", "pizza", "lazy", "multi")]

MISTAKES = """\
from dataclasses import dataclass
from typing import Protocol

from botsessions import Bot, Context, LazyContext, session


@dataclass
class Counter:
    count: int = 0


class Fragments(Protocol):
    chat: Counter


bot = Bot("123:abc")
bot.use(session(initial=Counter))


async def strict(ctx: Context[Counter]) -> None:
    ctx.session.count = "x"  # error
    ctx.session = 3  # error
    ctx.session.missing += 1  # error


async def lazy(ctx: LazyContext[Counter]) -> None:
    ctx.session.count += 1  # error
    data = await ctx.session
    data.count = "x"  # error
    ctx.session = "x"  # error


async def multi(ctx: Context[Fragments]) -> None:
    ctx.session.chat.count = "x"  # error


def not_async(ctx: Context[Counter]) -> None:
    pass


@bot.command("start")
async def start(ctx: Context[Counter]) -> None:
    pass


bot.on("message", not_async)  # error
start(3)  # error
"""


@pytest.fixture(scope="module")
def mypy_output(tmp_path_factory: pytest.TempPathFactory) -> str:
    mistakes = tmp_path_factory.mktemp("typing") / "session_type_mistakes.py"
    mistakes.write_text(MISTAKES, encoding="utf-8")
    cache = tmp_path_factory.getbasetemp().parent / "botsessions-mypy-cache"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(cache),
            "--no-error-summary",
            "--hide-error-context",
            "--show-absolute-path",
            *map(str, [*CASES, *EXAMPLES, mistakes]),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr  # 2: mypy itself failed
    return result.stdout


def errors_by_file(output: str) -> dict[str, set[int]]:
    found: dict[str, set[int]] = {}
    for match in re.finditer(r"^(.+?\.py):(\d+): error:", output, re.MULTILINE):
        found.setdefault(Path(match[1]).name, set()).add(int(match[2]))
    return found


def test_the_typed_cases_and_examples_pass_mypy_strict(mypy_output: str) -> None:
    checked = {path.name for path in [*CASES, *EXAMPLES]}
    assert len(CASES) == 5
    failing = {
        name: lines for name, lines in errors_by_file(mypy_output).items() if name in checked
    }
    assert failing == {}, mypy_output


def test_mypy_reports_every_wrong_session_type_and_nothing_else(mypy_output: str) -> None:
    marked = {
        number
        for number, line in enumerate(MISTAKES.splitlines(), start=1)
        if line.endswith("# error")
    }
    reported = errors_by_file(mypy_output).get("session_type_mistakes.py", set())
    assert reported == marked, mypy_output


def test_assigning_a_string_to_an_int_field_names_both_types(mypy_output: str) -> None:
    line = MISTAKES.splitlines().index('    ctx.session.count = "x"  # error') + 1
    assert re.search(
        rf"session_type_mistakes\.py:{line}: error: Incompatible types in assignment "
        r'\(expression has type "str", variable has type "int"\)',
        mypy_output,
    ), mypy_output
