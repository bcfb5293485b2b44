"""The rooms of official.recommendation import one way, and no two modules in a circle."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent
PACKAGE = "official.recommendation"
# Higher rooms first: a module may import its own room, a lower room or anything outside.
# The search (--model auto) and the report drive whole runs, as the commands do.
LEVELS = {"commands": 0, "benchmarks": 0, "search": 0, "reporting": 0, "training": 1,
          "models": 2, "evaluation": 2, "data": 3, "config": 3, "serving": 3}


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[2] if len(parts) > 3 else "commands"


def _imports() -> dict[str, set[str]]:
    """Module -> the official.recommendation modules it imports (tests left out)."""
    graph = {}
    for path in ROOT.rglob("*.py"):
        if path.name.endswith("_test.py") or path.name == "conftest.py":
            continue
        relative = path.relative_to(ROOT.parent.parent).with_suffix("")
        module = ".".join(relative.parts).removesuffix(".__init__")
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(
                    PACKAGE):
                for alias in node.names:
                    candidate = f"{node.module}.{alias.name}"
                    is_module = (ROOT.parent.parent / (candidate.replace(".", "/") + ".py")
                                 ).exists()
                    found.add(candidate if is_module else node.module)
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith(PACKAGE)}
        graph[module] = found - {module, PACKAGE}
    return graph


GRAPH = _imports()


def test_the_rooms_exist_and_every_module_is_in_one():
    rooms = {_room(m) for m in GRAPH if m.count(".") >= 2}
    assert rooms == set(LEVELS), rooms


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_no_import_runs_from_a_lower_room_up(module):
    mine = LEVELS[_room(module)]
    upward = [m for m in GRAPH[module] if LEVELS[_room(m)] < mine]
    assert not upward, f"{module} imports {upward} from a higher room"


def test_no_two_modules_import_each_other_in_a_circle():
    state, cycle = {}, []

    def visit(module, path):
        state[module] = "open"
        for other in sorted(GRAPH.get(module, ())):
            if state.get(other) == "open":
                cycle.append(path + [other])
            elif other not in state:
                visit(other, path + [other])
        state[module] = "done"

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    assert not cycle, cycle[0]
