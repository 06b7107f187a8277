"""Progress is drawn on a terminal's stderr, never into ``--json`` output or pipes."""

from __future__ import annotations

import json
from pathlib import Path

import pexpect

from tests.cli._run import command, environment


def on_a_terminal(*args: str) -> str:
    """Run the command on a pseudo-terminal (stdout and stderr both); return what it drew."""
    argv = command(*args)
    child = pexpect.spawn(argv[0], argv[1:], env=environment(), encoding="utf-8", timeout=60)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    return str(child.before)


def dump(tmp_path: Path, count: int) -> Path:
    path = tmp_path / "dump.jsonl"
    path.write_text(
        "".join(
            json.dumps({"key": str(n), "value": {"n": n}, "ttl": None}) + "\n" for n in range(count)
        ),
        "utf-8",
    )
    return path


def test_import_and_export_show_progress_on_a_terminal(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'p.db'}"
    shown = on_a_terminal("sessions", "import", "--storage", url, str(dump(tmp_path, 2000)))
    assert "importing" in shown
    assert "2000/2000" in shown
    exported = on_a_terminal("sessions", "export", "--storage", url, "-o", str(tmp_path / "o"))
    assert "exporting" in exported
    assert "2000 sessions" in exported


def test_json_output_has_no_progress_even_on_a_terminal(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'p.db'}"
    shown = on_a_terminal(
        "sessions", "import", "--json", "--storage", url, str(dump(tmp_path, 500))
    )
    assert json.loads(shown) == {"imported": 500, "locked": False}
    counted = on_a_terminal("sessions", "count", "--json", "--storage", url)
    assert json.loads(counted) == {"count": 500}
