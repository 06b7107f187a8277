"""Every ```python block of the docs and the README runs, and the site builds strictly.

A page's blocks run in order in one namespace (later blocks may use what earlier ones
defined), with top-level ``await`` allowed. A block is skipped only when the line right
before its fence is ``<!-- illustrative -->``.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
ILLUSTRATIVE = "<!-- illustrative -->"
FENCE_OPEN = re.compile(r"^(?P<indent>[ \t]*)```python\s*$")


@dataclass(frozen=True)
class Block:
    """One runnable code block: its page, the line of its opening fence, its source."""

    page: Path
    line: int
    source: str

    @property
    def name(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def extract_blocks(page: Path) -> list[Block]:
    """Return the runnable ```python blocks of ``page`` in order."""
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
        if start > 0 and lines[start - 1].strip() == ILLUSTRATIVE:
            continue
        blocks.append(Block(page, start + 1, "\n".join(body) + "\n"))
    return blocks


BLOCKS = [block for page in PAGES if page.exists() for block in extract_blocks(page)]


@dataclass
class PageRun:
    """The shared state of one page's blocks: namespace, event loop, working directory."""

    blocks: list[Block]
    directory: Path
    namespace: dict[str, Any] = field(default_factory=lambda: {"__name__": "__docs__"})
    runner: asyncio.Runner = field(default_factory=asyncio.Runner)
    done: int = 0
    failed_at: str | None = None

    def run_through(self, block: Block) -> None:
        """Run every block of the page up to and including ``block``, each once."""
        target = self.blocks.index(block)
        while self.done <= target:
            current = self.blocks[self.done]
            if self.failed_at is not None:
                pytest.fail(f"not run: an earlier block of this page failed ({self.failed_at})")
            self.done += 1
            try:
                self._execute(current)
            except BaseException:
                self.failed_at = current.name
                raise

    def _execute(self, block: Block) -> None:
        # Padded so that tracebacks point at the page's own line numbers.
        source = "\n" * block.line + block.source
        code = compile(
            source, str(block.page), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True
        )
        previous = Path.cwd()
        os.chdir(self.directory)
        try:
            if code.co_flags & inspect.CO_COROUTINE:
                self.runner.run(eval(code, self.namespace))
            else:
                exec(code, self.namespace)
        finally:
            os.chdir(previous)

    def close(self) -> None:
        self.runner.close()


@pytest.fixture(scope="module")
def page_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[Path, PageRun]]:
    runs: dict[Path, PageRun] = {}
    for page in PAGES:
        blocks = [block for block in BLOCKS if block.page == page]
        if blocks:
            runs[page] = PageRun(blocks, tmp_path_factory.mktemp(page.stem))
    yield runs
    for run in runs.values():
        run.close()


@pytest.mark.parametrize("block", BLOCKS, ids=[block.name for block in BLOCKS])
def test_docs_code_block_runs(block: Block, page_runs: dict[Path, PageRun]) -> None:
    page_runs[block.page].run_through(block)


def test_docs_blocks_are_found() -> None:
    assert any(block.page.name == "quickstart.md" for block in BLOCKS)
    assert any(block.page.name == "README.md" for block in BLOCKS)


def test_illustrative_marker_skips_only_the_next_block(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- illustrative -->\n```python\nskipped()\n```\n\n```python\nx = 1\n```\n"
        "- item\n\n    ```python\n    y = x + 1\n    ```\n",
        encoding="utf-8",
    )
    assert [(b.line, b.source) for b in extract_blocks(page)] == [
        (6, "x = 1\n"),
        (11, "y = x + 1\n"),
    ]


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
