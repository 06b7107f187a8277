"""The import rule: lower layers never import higher ones.

botsessions is built in layers, lowest first:

    L0  botsessions._errors, botsessions._options        the error tree, option validation
    L1  botsessions.storage                              storage protocols and backends
    L2  botsessions.engine                               all per-update session code
    L3  botsessions._session, ._enhance, .keys           session(), enhance_storage(), keys,
        botsessions.telemetry                            instrument(): an OpenTelemetry wrapper
    L4  botsessions.bot, botsessions.integrations        the bot layer and framework glue
    L5  botsessions.testing                              test kit and Bot API emulator
    L6  botsessions._demo, ._cli, .__main__              the demo and the command line

A module may import its own layer and any lower one, never a higher one. Every import
statement counts: at module level, inside functions, and under ``if TYPE_CHECKING:``
(a core type alias spelled with the bot's ``Context`` is an upward import too).
``importlib.import_module("botsessions...")`` with a literal name counts as well.

``botsessions/__init__.py`` is the front door: it may reach every layer, but what it
imports while ``import botsessions`` runs must be L0-L3; L4 and up are loaded on first
attribute access (a module ``__getattr__``), or named under ``if TYPE_CHECKING:`` for
type checkers. Other modules import the front door only from L5 up, since its public
names include the bot layer's.

Layers are matched by module path prefix. The engine's private modules from before the
``engine`` package existed (``botsessions._engine``, ``_single`` ...) count as L2.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = "botsessions"
FRONT_DOOR_LAYER = 5
EAGER_LIMIT = 3  # the highest layer the front door may import while it is imported

LAYER_NAMES = {
    0: "errors and options",
    1: "storage",
    2: "engine",
    3: "session factories and keys",
    4: "bot layer and integrations",
    5: "testing",
    6: "demo and command line",
}

_ENGINE_BEFORE_THE_MOVE = (
    "_engine",
    "_single",
    "_multi",
    "_lazy",
    "_spec",
    "_manager",
    "_handoff",
    "_locks",
    "_codec",
    "_types",
)

LAYERS: dict[str, int] = {
    "botsessions._errors": 0,
    "botsessions._options": 0,
    "botsessions._exports": 0,
    "botsessions.storage": 1,
    "botsessions.engine": 2,
    **{f"botsessions.{name}": 2 for name in _ENGINE_BEFORE_THE_MOVE},
    "botsessions._session": 3,
    "botsessions._enhance": 3,
    "botsessions.keys": 3,
    "botsessions.telemetry": 3,
    "botsessions.bot": 4,
    "botsessions.integrations": 4,
    "botsessions.testing": 5,
    "botsessions._demo": 6,
    "botsessions._cli": 6,
    "botsessions.__main__": 6,
}


@dataclass(frozen=True)
class Import:
    """One import of a botsessions module found in a source file."""

    target: str
    line: int
    eager: bool  # runs while the importing module itself is being imported


def layer_of(module: str) -> int | None:
    """The layer of a botsessions module (``None`` when no prefix matches)."""
    if module == PACKAGE:
        return FRONT_DOOR_LAYER
    for prefix, layer in LAYERS.items():
        if module == prefix or module.startswith(prefix + "."):
            return layer
    return None


def eager_layer(module: str) -> int:
    """The layer used to judge the front door's eager imports (unknown counts as too high)."""
    layer = layer_of(module)
    return FRONT_DOOR_LAYER if layer is None else layer


def describe(module: str) -> str:
    layer = layer_of(module)
    if module == PACKAGE:
        return f"{module} (the front door, importable from L{layer} up)"
    if layer is None:
        return f"{module} (no layer)"
    return f"{module} (L{layer} {LAYER_NAMES[layer]})"


def module_name(path: Path) -> tuple[str, bool]:
    """Dotted name of a source file under ``SRC``, and whether it is a package."""
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join(parts), is_package


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _targets(node: ast.AST, module: str, is_package: bool, submodules: frozenset[str]) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        source = _resolve(node, module, is_package)
        # ``from botsessions import storage`` imports the submodule, not the front door.
        return [
            f"{source}.{alias.name}" if f"{source}.{alias.name}" in submodules else source
            for alias in node.names
        ]
    if (
        isinstance(node, ast.Call)
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
        and (
            (isinstance(node.func, ast.Name) and node.func.id in ("import_module", "__import__"))
            or (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
        )
    ):
        return [node.args[0].value]
    return []


def imports_of(
    source: str, module: str, *, is_package: bool = False, submodules: frozenset[str] = frozenset()
) -> list[Import]:
    """Every botsessions module that ``source`` (the text of ``module``) imports."""
    found: list[Import] = []

    def visit(node: ast.AST, eager: bool) -> None:
        for target in dict.fromkeys(_targets(node, module, is_package, submodules)):
            if target == PACKAGE or target.startswith(PACKAGE + "."):
                found.append(Import(target, getattr(node, "lineno", 0), eager))
        if isinstance(node, ast.If) and is_type_checking(node.test):
            for guarded in node.body:
                visit(guarded, False)
            for unguarded in node.orelse:
                visit(unguarded, eager)
            return
        lazy = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        for child in ast.iter_child_nodes(node):
            visit(child, eager and not lazy)

    visit(ast.parse(source), eager=True)
    return found


def sources() -> Iterator[tuple[Path, str, bool]]:
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        name, is_package = module_name(path)
        yield path, name, is_package


def all_modules() -> frozenset[str]:
    return frozenset(name for _, name, _ in sources())


def where(path: Path, line: int) -> str:
    return f"{path.relative_to(SRC.parent)}:{line}"


def test_every_module_belongs_to_a_layer() -> None:
    orphans = [name for _, name, _ in sources() if name != PACKAGE and layer_of(name) is None]
    assert orphans == [], f"add these modules to a layer in {__file__}: {orphans}"


def test_no_module_imports_a_higher_layer() -> None:
    modules = all_modules()
    problems: list[str] = []
    for path, name, is_package in sources():
        own = layer_of(name)
        if name == PACKAGE or own is None:
            continue
        text = path.read_text(encoding="utf-8")
        for found in imports_of(text, name, is_package=is_package, submodules=modules):
            target = layer_of(found.target)
            if target is None or target > own:
                problems.append(
                    f"{where(path, found.line)}: {describe(name)} imports {describe(found.target)}"
                )
    assert problems == [], "imports against the layer rule:\n" + "\n".join(problems)


def test_the_front_door_imports_only_the_core_while_botsessions_is_imported() -> None:
    path = SRC / PACKAGE / "__init__.py"
    found = imports_of(
        path.read_text(encoding="utf-8"), PACKAGE, is_package=True, submodules=all_modules()
    )
    problems = [
        f"{where(path, imp.line)}: imports {describe(imp.target)} eagerly; load it lazily "
        "in the module __getattr__ instead"
        for imp in found
        if imp.eager and eager_layer(imp.target) > EAGER_LIMIT
    ]
    assert problems == [], "\n".join(problems)


class TestTheChecker:
    """The rule is only as good as the import finder: it sees every kind of import."""

    SOURCE = """
from __future__ import annotations
import os
import botsessions.storage.memory
from typing import TYPE_CHECKING
from . import keys
from ._errors import StorageError
from botsessions import bot
from botsessions import session

if TYPE_CHECKING:
    from botsessions.bot._context import Context
else:
    from botsessions._options import SessionOptions

try:
    from botsessions.testing import LocalBotAPI
except ImportError:
    pass

class Holder:
    from botsessions.engine import manager

def later():
    from botsessions.integrations import ptb
    import importlib
    return importlib.import_module("botsessions._demo")
"""

    def found(self) -> list[tuple[str, int, bool]]:
        submodules = frozenset({"botsessions.keys", "botsessions.bot"})
        return [
            (imp.target, imp.line, imp.eager)
            for imp in imports_of(
                self.SOURCE, "botsessions._spec", is_package=False, submodules=submodules
            )
        ]

    def test_it_finds_module_level_relative_and_type_checking_imports(self) -> None:
        assert self.found() == [
            ("botsessions.storage.memory", 4, True),
            ("botsessions.keys", 6, True),
            ("botsessions._errors", 7, True),
            ("botsessions.bot", 8, True),
            ("botsessions", 9, True),
            ("botsessions.bot._context", 12, False),
            ("botsessions._options", 14, True),
            ("botsessions.testing", 17, True),
            ("botsessions.engine", 22, True),
            ("botsessions.integrations", 25, False),
            ("botsessions._demo", 27, False),
        ]

    def test_relative_imports_resolve_from_a_package(self) -> None:
        source = "from ..storage import memory\nfrom ._lazy import x\n"
        found = imports_of(source, "botsessions.engine", is_package=True)
        assert [imp.target for imp in found] == ["botsessions.storage", "botsessions.engine._lazy"]

    @pytest.mark.parametrize(
        ("module", "layer"),
        [
            ("botsessions._errors", 0),
            ("botsessions._options", 0),
            ("botsessions.storage.redis", 1),
            ("botsessions.engine.property", 2),
            ("botsessions._single", 2),
            ("botsessions.keys", 3),
            ("botsessions.bot._context", 4),
            ("botsessions.integrations.ptb", 4),
            ("botsessions.testing.bot_api", 5),
            ("botsessions._demo.chat", 6),
            ("botsessions.__main__", 6),
            ("botsessions.engines", None),
            ("botsessions._errorsx", None),
        ],
    )
    def test_layers_match_by_module_path_prefix(self, module: str, layer: int | None) -> None:
        assert layer_of(module) == layer
