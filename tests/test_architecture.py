"""The import graph: one direction of dependency, no cycles, no reaching into private modules.

Every ``persona_sdk/**/*.py`` is parsed with ``ast``; every import counts, at module level,
inside functions and under ``TYPE_CHECKING`` alike (a type-only import is still a dependency
a reader has to follow, and the moment it becomes a runtime import it would close a cycle).

A *unit* is a subpackage or top-level module of ``persona_sdk`` (``delivery``, ``client``,
``_errors``), except ``persona_sdk.plugins.kit``, the plugin-author kit, which builds on the
layers above the contract and so is a unit of its own (``plugins.kit``): the contract
``persona_sdk.plugins`` itself is a leaf.

``ALLOWED`` is the layering, bottom to top. A new import between units that the table does
not allow fails here: either it is a back edge to remove, or the table gains a row on
purpose (and the picture in ``docs/architecture.md`` with it).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

import persona_sdk

#: the package under test, where it is imported from: the checkout, or an installed wheel
#: (CI runs the suite against the built wheel from a tree without ``persona_sdk/``)
PACKAGE = Path(persona_sdk.__file__).resolve().parent
ROOT = PACKAGE.parent

#: leaf utilities: they import nothing of the package
LEAVES = frozenset({
    "_errors", "_strenum", "_secret", "_logonce", "_speed", "_retry_after", "_meta",
    "_stats", "_lifecycle", "_ports",
})
#: shared machinery built on leaves only (the one circuit breaker)
UTILITIES = frozenset({"_breaker"})
#: what every runtime layer may build on: the leaves, the plugin contract, the config classes
BASE = LEAVES | UTILITIES | {"plugins", "config"}
#: the write path (collect): events -> tags -> delivery -> destinations
WRITE_PATH = frozenset({"tags", "delivery", "destinations"})
#: the read path (decide): profiles -> rules/allocation -> decisions (content, unleash)
READ_PATH = frozenset({"profiles", "allocation", "content", "decisions", "unleash"})
#: shared by both paths: the event model, the condition language, privacy rules
SHARED = frozenset({"events", "rules", "privacy"})

ALLOWED: dict[str, frozenset[str]] = {
    **{leaf: frozenset() for leaf in LEAVES},
    **dict.fromkeys(UTILITIES, LEAVES),
    # the plugin contract: Protocols and value types, nothing else of the SDK
    "plugins": LEAVES,
    # config classes and loading: the contract's value types (BatchConfig, PiiConfig) only
    "config": LEAVES | {"plugins"},
    # the foundations both paths share
    "events": BASE,
    "rules": BASE,
    "privacy": BASE,
    "plugins.kit": BASE | {"privacy"},
    "_stores": BASE,
    # the read path
    "allocation": BASE,
    "profiles": BASE | {"events", "rules", "plugins.kit"},
    "content": BASE | {"events", "rules", "allocation"},
    "decisions": BASE | {"rules", "allocation", "content"},
    "unleash": BASE | {"rules", "allocation"},
    # next-best actions: run on the facade's callables (track, identify), never on its paths
    "actions": BASE | {"events", "rules"},
    # the write path
    "tags": BASE | {"events", "rules", "privacy"},
    "delivery": BASE | {"events"},
    # built-in destinations are plugins: the contract, the kit and public names only
    "destinations": BASE | {"plugins.kit", "events", "privacy"},
    # the facade: where the two paths meet (client.Persona, assembled from _facade's parts)
    "_facade": BASE | SHARED | READ_PATH | WRITE_PATH | {"plugins.kit", "_stores", "actions"},
    "client": BASE
    | SHARED
    | READ_PATH
    | WRITE_PATH
    | {"plugins.kit", "_stores", "actions", "_facade"},
    # front ends over the facade
    # (decisions: the Visitor the facade returns, rendered into the page)
    "web": BASE | {"client", "events", "privacy", "decisions"},
    # test helpers: CaptureDestination is a plugin like any other
    "testing": BASE,
    "_cli": BASE
    | SHARED
    | READ_PATH
    | WRITE_PATH
    | {"plugins.kit", "_stores", "actions", "client", "web", "testing"},
    "cli": frozenset({"_cli"}),
    # the top-level package: re-exports, resolved lazily
    "__init__": BASE | SHARED | READ_PATH | WRITE_PATH | {"_stores", "client"},
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
assert MODULES, f"no sources under {PACKAGE}"  # else every test here would pass vacuously


def unit_of(module: str) -> str:
    """The unit a module belongs to (see the module docstring)."""
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    if parts[1:3] == ["plugins", "kit"]:
        return "plugins.kit"
    return parts[1]


def imports_of(module: str) -> Iterator[str]:
    """Every ``persona_sdk`` module ``module`` imports, anywhere in its body."""
    path = MODULES[module]
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                if not is_package:
                    base = base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # ``from pkg import sub`` depends on the submodule ``pkg.sub`` when there is one
            # (``pkg`` itself, an enclosing package, is then not what the code uses)
            targets = [
                f"{target}.{alias.name}" if f"{target}.{alias.name}" in MODULES else target
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            if target in MODULES:
                yield target


def _unresolved(module: str) -> Iterator[str]:
    """``persona_sdk`` modules ``module`` imports from that do not exist (a stale import
    after a move, which the graph would otherwise skip)."""
    path = MODULES[module]
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith(
            "persona_sdk"
        )):
            base = module.split(".")
            if node.level:
                if not is_package:
                    base = base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target not in MODULES:
                yield target


def test_every_import_of_the_package_names_an_existing_module() -> None:
    bad = sorted(f"{m} -> {t}" for m in MODULES for t in _unresolved(m))
    assert bad == []


def _edges() -> dict[tuple[str, str], list[str]]:
    """``(unit, imported unit)`` -> the imports that make that edge (for the messages)."""
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for module in MODULES:
        for target in imports_of(module):
            a, b = unit_of(module), unit_of(target)
            if a != b:
                edges[a, b].append(f"{module} -> {target}")
    return edges


EDGES = _edges()


def test_every_unit_has_a_place_in_the_layering() -> None:
    """A new subpackage or top-level module must be placed in ``ALLOWED`` on purpose."""
    units = {unit_of(m) for m in MODULES}
    assert units - set(ALLOWED) == set(), "add the new unit to ALLOWED (and the docs' picture)"


def test_imports_follow_the_layering() -> None:
    """Every import between units is one the table allows."""
    bad = [
        f"{a} may not import {b}: {', '.join(sorted(how)[:3])}"
        for (a, b), how in sorted(EDGES.items())
        if b not in ALLOWED.get(a, frozenset())
    ]
    assert bad == []


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_cycle_between_units() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for a, b in EDGES:
        graph[a].add(b)
    cycle = _find_cycle(graph)
    assert cycle is None, " -> ".join(cycle or [])


def test_the_layering_table_itself_has_no_cycle_and_keeps_the_paths_apart() -> None:
    """The table, not only today's imports: the two paths meet only in the facade."""
    graph = {unit: set(allowed) for unit, allowed in ALLOWED.items()}
    assert _find_cycle(graph) is None
    for unit in WRITE_PATH:
        assert ALLOWED[unit] & READ_PATH == set(), unit
    for unit in READ_PATH:
        assert ALLOWED[unit] & WRITE_PATH == set(), unit


def test_the_cycle_finder_finds_a_back_edge() -> None:
    """The check above can fail: a back edge from the contract to a runtime package."""
    graph = {unit: set(allowed) for unit, allowed in ALLOWED.items()}
    graph["plugins"] = graph["plugins"] | {"delivery"}
    assert _find_cycle(graph) is not None


def _private_part(module: str) -> bool:
    # a private module inside a subpackage: persona_sdk.<pkg>._x (or deeper)
    return any(part.startswith("_") for part in module.split(".")[2:])


def test_no_import_of_another_units_private_module() -> None:
    bad = sorted(
        f"{module} -> {target}"
        for module in MODULES
        for target in imports_of(module)
        if unit_of(module) != unit_of(target) and _private_part(target)
    )
    assert bad == []


#: the built-in plugins: written as a third-party plugin would be
BUILT_IN_PLUGINS = sorted(
    m
    for m in MODULES
    if (m.startswith("persona_sdk.destinations.") and m != "persona_sdk.destinations._factory")
    or m.startswith("persona_sdk.profiles._source_")
)


@pytest.mark.parametrize("module", BUILT_IN_PLUGINS)
def test_built_in_plugins_use_only_the_public_contract(module: str) -> None:
    """Destinations and profile sources import the contract, the kit, public names of public
    modules, and modules of their own package; no private module of the SDK."""
    assert BUILT_IN_PLUGINS, "the selection above found nothing"
    # a destination may use its own package's helpers (GA4's rules); a profile source is one
    # module on the contract and the kit, like a third party's
    own = module if ".profiles." in module else module.rsplit(".", 1)[0]
    bad = [
        target
        for target in imports_of(module)
        if not target.startswith(own + ".")
        and any(part.startswith("_") for part in target.split(".")[1:])
    ]
    assert bad == []


def _loaded_by(statement: str) -> set[str]:
    code = (
        f"import sys; {statement}; "
        "print('\\n'.join(sorted(m for m in sys.modules if m.startswith('persona_sdk'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    return set(out.split())


def _leaf_modules() -> set[str]:
    return {f"persona_sdk.{leaf}" for leaf in LEAVES}


def test_importing_config_loads_only_config_and_what_it_needs() -> None:
    loaded = _loaded_by("import persona_sdk.config")
    contract = {m for m in MODULES if unit_of(m) == "plugins"}
    own = {m for m in MODULES if unit_of(m) == "config"}
    assert "persona_sdk.config._container" in loaded
    assert loaded - {"persona_sdk"} - own - contract - _leaf_modules() == set()


def test_importing_the_contract_loads_nothing_else() -> None:
    loaded = _loaded_by("import persona_sdk.plugins")
    contract = {m for m in MODULES if unit_of(m) == "plugins"}
    assert "persona_sdk.plugins._destinations" in loaded
    assert loaded - {"persona_sdk"} - contract - _leaf_modules() == set()


def test_importing_the_package_loads_nothing_until_a_name_is_used() -> None:
    assert _loaded_by("import persona_sdk") == {"persona_sdk"}
    assert "persona_sdk.client" in _loaded_by("from persona_sdk import Persona")
