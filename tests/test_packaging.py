"""The distribution builds, its metadata passes ``twine check --strict``, and the long
description (the README) works on PyPI: every link in it is absolute."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
REPOSITORY = "https://github.com/botsessions/botsessions"
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)|<(https?://[^>]+)>|href=\"([^\"]+)\"")


def readme_links() -> list[str]:
    text = README.read_text(encoding="utf-8")
    return [next(group for group in match.groups() if group) for match in LINK.finditer(text)]


def test_every_readme_link_is_absolute() -> None:
    links = readme_links()
    assert links, "the README has no links?"
    relative = [link for link in links if not re.match(r"(https?|mailto):", link)]
    assert relative == [], f"relative links are dead on PyPI: {relative}"


def test_readme_links_into_the_repository_name_files_that_exist() -> None:
    prefix = re.compile(rf"{re.escape(REPOSITORY)}/(?:blob|tree)/main/(?P<path>[^#?]*)")
    paths = [match["path"] for link in readme_links() if (match := prefix.match(link))]
    assert paths
    missing = [path for path in paths if not (ROOT / path).exists()]
    assert missing == []


def test_install_hints_quote_the_extras_for_every_shell() -> None:
    # zsh expands an unquoted botsessions[redis]; every hint must be copy-pasteable.
    unquoted = re.compile(r"pip install botsessions\[")
    places = [ROOT / "README.md", *(ROOT / "docs").rglob("*.md"), *(ROOT / "src").rglob("*.py")]
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in places
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if unquoted.search(line)
    ]
    assert found == []


def test_project_urls_name_the_repository_docs_changelog_and_issues() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    urls = project["urls"]
    assert set(urls) >= {"Homepage", "Documentation", "Source", "Changelog", "Issues"}
    assert urls["Source"] == REPOSITORY
    assert urls["Issues"] == f"{REPOSITORY}/issues"
    assert all(url.startswith("https://") for url in urls.values())


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_sdist_and_wheel_build_and_pass_twine_check(tmp_path: Path) -> None:
    # --no-isolation: build with the setuptools already installed, no download.
    build = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    sdists = list(tmp_path.glob("botsessions-*.tar.gz"))
    wheels = list(tmp_path.glob("botsessions-*.whl"))
    assert len(sdists) == 1
    assert len(wheels) == 1
    check = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(sdists[0]), str(wheels[0])],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count("PASSED") == 2, check.stdout
