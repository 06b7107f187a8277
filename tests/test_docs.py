"""Every ```python block of the docs and the README runs as written, and the site builds.

A block is a complete program: the test saves it as a file in an empty directory and runs
it with a fresh interpreter, as a reader would (``python block.py``). The only exception
is a block marked as an excerpt: the line right before its fence is ``<!-- snippet -->``
(``<!-- illustrative -->`` is accepted too), which renders as nothing on the site.

Blocks that need a server read its address from the environment: ``REDIS_URL`` and
``POSTGRES_DSN`` point at the servers the rest of the tests use. A block that starts a
bot must end by itself, which ``LocalBotAPI`` makes easy, unless it is marked
``<!-- bot -->``: a bot program that polls until stopped, like the quick start. Such a
block is run the way the docs say to run a bot offline, with ``BOT_TOKEN`` and
``BOT_API_SERVER`` of a local Bot API server; it must log that it is polling, and exit
with 0 on Ctrl+C.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from botsessions.testing.bot_api import LocalBotAPI

ROOT = Path(__file__).resolve().parent.parent
PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
SNIPPET_MARKERS = ("<!-- snippet -->", "<!-- illustrative -->")
BOT_MARKER = "<!-- bot -->"
FENCE_OPEN = re.compile(r"^(?P<indent>[ \t]*)```python\s*$")
PRIVATE_IMPORT = re.compile(
    r"^\s*(?:from|import)\s+botsessions(?:\.[A-Za-z]\w*)*\._\w*", re.MULTILINE
)
BLOCK_TIMEOUT = 60.0
PARALLEL_RUNS = 2

# Pages whose owners are converting them to the rule above; their failing blocks are
# reported as expected failures until then (a passing one does not fail the suite).
PAGES_BEING_CONVERTED: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Block:
    """One ```python block: its page, the line of its opening fence, its source."""

    page: Path
    line: int
    source: str
    snippet: bool
    bot: bool = False

    @property
    def name(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def services(self) -> set[str]:
        """The environment variables of servers this block reads."""
        return {name for name in ("REDIS_URL", "POSTGRES_DSN") if name in self.source}


def extract_blocks(page: Path) -> list[Block]:
    """Return every ```python block of ``page`` in order, snippets included."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        match = FENCE_OPEN.match(lines[i])
        if match is None:
            i += 1
            continue
        indent = match["indent"]
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i].removeprefix(indent))
            i += 1
        if i == len(lines):
            raise ValueError(f"{page.name}:{start + 1}: unclosed ```python fence")
        i += 1
        marker = lines[start - 1].strip() if start > 0 else ""
        blocks.append(
            Block(
                page,
                start + 1,
                "\n".join(body) + "\n",
                snippet=marker in SNIPPET_MARKERS,
                bot=marker == BOT_MARKER,
            )
        )
    return blocks


ALL_BLOCKS = [block for page in PAGES if page.exists() for block in extract_blocks(page)]
PROGRAMS = [block for block in ALL_BLOCKS if not block.snippet]


def run_program(
    block: Block, directory: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run ``block`` as ``directory/block.py`` in a fresh interpreter."""
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "block.py"
    script.write_text(block.source, encoding="utf-8")
    if block.bot:
        return asyncio.run(run_bot_program(script, env))
    try:
        return subprocess.run(
            [sys.executable, str(script)],
            cwd=directory,
            env=env,
            capture_output=True,
            text=True,
            timeout=BLOCK_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        output = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        return subprocess.CompletedProcess(exc.cmd, -1, "", f"timed out\n{output}")


async def run_bot_program(script: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the bot program ``script`` against a local Bot API server, then press Ctrl+C."""
    async with LocalBotAPI() as api:
        token = api.add_bot(username="docs_bot")
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(script),
            cwd=script.parent,
            env={**env, "BOT_TOKEN": token, "BOT_API_SERVER": api.url},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert process.stderr is not None
        log: list[str] = []
        polling = False
        try:
            async with asyncio.timeout(BLOCK_TIMEOUT):
                while not polling and (line := await process.stderr.readline()):
                    log.append(line.decode())
                    polling = f" is polling {api.url}" in log[-1]
        except TimeoutError:
            log.append("timed out before it logged that it is polling\n")
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
        stdout, rest = await asyncio.wait_for(process.communicate(), BLOCK_TIMEOUT)
        stderr = "".join(log) + rest.decode()
        code = process.returncode
        returncode = (1 if code is None else code) if polling else (code or 1)
        return subprocess.CompletedProcess(str(script), returncode, stdout.decode(), stderr)


def service_url(request: pytest.FixtureRequest, fixture: str) -> str | None:
    """The URL a conftest fixture gives, or ``None`` when that server is unavailable."""
    try:
        return str(request.getfixturevalue(fixture))
    except pytest.skip.Exception:
        return None


@dataclass
class ProgramRuns:
    """Every complete block, started on a small thread pool at once, awaited one by one."""

    runs: dict[Block, Future[subprocess.CompletedProcess[str]]]
    environment: dict[str, str]


@pytest.fixture(scope="module")
def program_runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ProgramRuns]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("BOT_")}
    env["PYTHONUNBUFFERED"] = "1"
    for name, fixture in (("REDIS_URL", "redis_url"), ("POSTGRES_DSN", "postgres_dsn")):
        url = service_url(request, fixture)
        if url is not None:
            env[name] = url
    root = tmp_path_factory.mktemp("docs")
    with ThreadPoolExecutor(PARALLEL_RUNS) as pool:
        runs = {
            block: pool.submit(run_program, block, root / f"block{index}", env)
            for index, block in enumerate(PROGRAMS)
            if block.services <= env.keys()
        }
        yield ProgramRuns(runs, env)
        pool.shutdown(cancel_futures=True)


def expected_failure(block: Block) -> list[pytest.MarkDecorator]:
    if block.page.name in PAGES_BEING_CONVERTED:
        return [pytest.mark.xfail(reason="page not converted yet", strict=False)]
    return []


@pytest.mark.parametrize(
    "block",
    [pytest.param(block, marks=expected_failure(block)) for block in PROGRAMS],
    ids=[block.name for block in PROGRAMS],
)
def test_docs_code_block_runs_as_its_own_file(block: Block, program_runs: ProgramRuns) -> None:
    if block not in program_runs.runs:
        pytest.skip(f"needs {', '.join(sorted(block.services - program_runs.environment.keys()))}")
    result = program_runs.runs[block].result()
    assert result.returncode == 0, (
        f"{block.name} failed as a file (exit {result.returncode}); mark it "
        f"<!-- snippet --> if it is an excerpt:\n{result.stderr[-4000:]}"
    )


def test_docs_blocks_are_found() -> None:
    assert any(block.page.name == "quickstart.md" for block in PROGRAMS)
    assert any(block.page.name == "README.md" for block in PROGRAMS)


def test_a_marker_makes_only_the_next_block_a_snippet(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- snippet -->\n```python\nexcerpt()\n```\n\n```python\nx = 1\n```\n"
        "- item\n\n    <!-- illustrative -->\n    ```python\n    y = x + 1\n    ```\n",
        encoding="utf-8",
    )
    assert [(b.line, b.source, b.snippet) for b in extract_blocks(page)] == [
        (2, "excerpt()\n", True),
        (6, "x = 1\n", False),
        (12, "y = x + 1\n", True),
    ]


def test_a_bot_block_is_run_against_a_local_server_and_stopped(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- bot -->\n```python\nfrom botsessions import Bot\nimport os\n\n"
        'Bot(os.environ["BOT_TOKEN"]).start()\n```\n',
        encoding="utf-8",
    )
    (block,) = extract_blocks(page)
    assert block.bot
    assert not block.snippet
    result = run_program(block, tmp_path / "run", dict(os.environ))
    assert result.returncode == 0, result.stderr
    assert "Bot @docs_bot is polling http://127.0.0.1:" in result.stderr


def test_a_block_runs_in_a_fresh_interpreter_in_an_empty_directory(tmp_path: Path) -> None:
    block = Block(
        tmp_path / "page.md",
        1,
        "import os, sys\nassert os.listdir('.') == ['block.py']\n"
        "assert 'pytest' not in sys.modules\n",
        snippet=False,
    )
    result = run_program(block, tmp_path / "run", dict(os.environ))
    assert result.returncode == 0, result.stderr
    failing = Block(tmp_path / "page.md", 1, "await something()\n", snippet=False)
    assert run_program(failing, tmp_path / "fail", dict(os.environ)).returncode != 0


@pytest.mark.parametrize("page", [page for page in PAGES if page.exists()], ids=lambda p: p.name)
def test_no_page_is_a_placeholder(page: Path) -> None:
    assert "being written" not in page.read_text(encoding="utf-8").lower()


@pytest.mark.parametrize("page", [page for page in PAGES if page.exists()], ids=lambda p: p.name)
def test_no_page_imports_a_private_module(page: Path) -> None:
    imports = PRIVATE_IMPORT.findall(page.read_text(encoding="utf-8"))
    assert imports == [], f"{page.name} imports private modules: {imports}"


def test_readme_names_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for command in ("scripts/demo", "scripts/test"):
        assert f"{command} " in readme
        assert os.access(ROOT / command, os.X_OK)


def test_every_nav_page_exists_and_the_site_builds_strictly(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
