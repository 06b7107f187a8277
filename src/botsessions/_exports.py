"""PEP 562 lazy exports: a package's names that load their module on first access."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    module_name: str, table: Mapping[str, str], *, listed: Iterable[str] | None = None
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``module_name`` for its lazy names.

    ``table`` maps each lazy name to the module that defines it; the first access imports
    that module and stores the value in the package, so later lookups skip ``__getattr__``.
    ``__dir__`` lists ``listed`` when given, else the package's globals and the lazy names.
    """
    shown = None if listed is None else sorted(listed)

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[module_name], name, value)
        return value

    def __dir__() -> list[str]:
        if shown is not None:
            return list(shown)
        return sorted(set(vars(sys.modules[module_name])) | set(table))

    return __getattr__, __dir__
