"""Progress of long runs, drawn by tqdm on stderr, and only where someone watches.

The bar appears only when stderr is a terminal and the command is not asked for ``--json``
output, so scripts and pipes never see it; stdout (where data and JSON go) is never drawn
on.
"""

from __future__ import annotations

import sys
from typing import Any

from botsessions.storage._lifecycle import Closing

__all__ = ["Progress"]


class Progress(Closing):
    """A count of sessions done, with rate (and ETA when ``total`` is known)."""

    __slots__ = ("_bar",)

    def __init__(self, description: str, *, total: int | None = None, enabled: bool) -> None:
        self._bar: Any = None
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(
                desc=description,
                total=total,
                unit=" sessions",
                file=sys.stderr,
                mininterval=0.2,
                dynamic_ncols=True,
            )

    @property
    def shown(self) -> bool:
        """Whether a bar is drawn."""
        return self._bar is not None

    def advance(self, count: int = 1) -> None:
        """``count`` more sessions are done."""
        if self._bar is not None:
            self._bar.update(count)

    def close(self) -> None:
        """Finish the bar (leaving its last state on the terminal)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
