"""The package's import graph has no circle.

Two checks. A static one reads every module's imports that run at import
time (at module level, in a class body, under ``try``/``if``; not under
``if TYPE_CHECKING:`` nor inside a function, which run later or never) and
looks for a cycle among the package's own modules: a circle is a two-way
dependency even when import order happens to make it work today. It looks
again counting the imports inside functions too, which only defer a circle. A dynamic
one imports each module alone in a fresh interpreter, which is what a user
(or a tool importing one submodule first) does.

An AST walk and not a tool such as import-linter or pydeps: it needs no
dependency nor network, and it knows exactly which imports run at import
time (pydeps counts the ones under ``TYPE_CHECKING`` too). The sources are
parsed in a fresh interpreter (`parse`), not in the test's own.
"""

from __future__ import annotations

import ast
import functools
import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

import iprogsms_async

PACKAGE = Path(iprogsms_async.__file__).parent
ROOT = "iprogsms_async"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


# Reads JSON, writes pickle: what the parent unpickles is its own child's output.
_PARSE = """
import ast, json, pickle, sys
sources = json.load(sys.stdin)
pickle.dump([ast.parse(source) for source in sources], sys.stdout.buffer)
"""


def parse(*sources: str) -> list[ast.Module]:
    """The trees of ``sources``, parsed in a fresh interpreter.

    Not in this one: in CPython 3.11.7 what ran before in the same process
    (on an xdist worker, the fuzz tests and their RecursionErrors) can leave
    every later ``ast.parse`` failing with "AST constructor recursion depth
    mismatch" (python/cpython#106905). Unpickling builds the trees from the
    node classes, without that constructor.
    """
    done = subprocess.run(
        [sys.executable, "-c", _PARSE],
        input=json.dumps(sources).encode(),
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return pickle.loads(done.stdout)  # noqa: S301 -- our own child's output


@functools.cache
def package_trees() -> dict[str, ast.Module]:
    """Each module's tree, by module name."""
    sources = [path.read_text(encoding="utf-8") for path in MODULES.values()]
    return dict(zip(MODULES, parse(*sources), strict=True))


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def import_statements(body: list[ast.stmt], *, deferred: bool):
    """The import statements of ``body`` that run when its module is imported.

    With ``deferred``, also those that run later (in a function's body):
    those make no circle at import time, yet still a two-way dependency.
    Never those under ``if TYPE_CHECKING:``, which never run.
    """
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If):
            if not is_type_checking(node.test):
                yield from import_statements(node.body, deferred=deferred)
            yield from import_statements(node.orelse, deferred=deferred)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not deferred:
            continue  # runs when called, not when imported
        else:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.stmt):
                    yield from import_statements([child], deferred=deferred)
                elif isinstance(child, (ast.excepthandler, ast.match_case)):
                    yield from import_statements(child.body, deferred=deferred)


def imported(
    name: str, tree: ast.Module, *, is_package: bool = False, deferred: bool = False
) -> set[str]:
    """The package's modules that importing ``name`` imports directly.

    Importing ``a.b.c`` runs ``a.b``'s ``__init__`` too, so a target's
    parent packages count, except those of the importer itself (already
    imported by then); importing names from a parent package counts.
    """
    targets: set[str] = set()
    for node in import_statements(tree.body, deferred=deferred):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
            continue
        if node.level:
            here = name.split(".") if is_package else name.split(".")[:-1]
            base_parts = here[: len(here) - (node.level - 1)]
            base = ".".join([*base_parts, *([node.module] if node.module else [])])
        else:
            base = node.module or ""
        submodules = {f"{base}.{alias.name}" for alias in node.names} & MODULES.keys()
        targets.update(submodules)
        if len(submodules) < len(node.names):  # names defined in ``base`` itself
            targets.add(base)
    # Python imports a module's own packages before the module itself, so
    # only the parents of a target that are not the importer's count.
    ancestors = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
    ours = {t for t in targets if t == ROOT or t.startswith(ROOT + ".")}
    parents = {
        ".".join(target.split(".")[:i])
        for target in ours
        for i in range(1, target.count(".") + 1)
    }
    edges = (ours | (parents - ancestors)) - {name}
    return {edge for edge in edges if edge in MODULES}


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    """Every module that importing ``start`` imports, directly or not."""
    seen: set[str] = set()
    todo = list(graph[start])
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(graph[node])
    return seen


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each group of modules that import one another, directly or not."""
    reach = {node: reachable(graph, node) for node in graph}
    found: list[list[str]] = []
    for node in sorted(graph):
        if node in reach[node]:
            circle = sorted(n for n in reach[node] if node in reach[n])
            if circle not in found:
                found.append(circle)
    return found


def graph(*, deferred: bool) -> dict[str, set[str]]:
    return {
        name: imported(
            name,
            package_trees()[name],
            is_package=path.name == "__init__.py",
            deferred=deferred,
        )
        for name, path in MODULES.items()
    }


def test_the_walk_counts_only_imports_that_run_at_import_time():
    source = """
from typing import TYPE_CHECKING
import httpx
from . import _errors
from ._pool import ReservingPool
from .broadcast._options import choose_options
try:
    from .resources import sms
except ImportError:
    from . import _phone
if TYPE_CHECKING:
    from ._client import IProgSMS
else:
    from . import _models
def later():
    from ._aiohttp import AiohttpTransport
class Holder:
    from . import _segments
"""
    tree, init = parse(source, "from ._engine import x")
    at_import_time = imported("iprogsms_async._x", tree)
    assert at_import_time == {
        "iprogsms_async._errors",
        "iprogsms_async._pool",
        # Importing a submodule runs its package's __init__ first.
        "iprogsms_async.broadcast",
        "iprogsms_async.broadcast._options",
        "iprogsms_async.resources",
        "iprogsms_async.resources.sms",
        "iprogsms_async._phone",
        "iprogsms_async._models",
        "iprogsms_async._segments",
    }
    assert imported("iprogsms_async._x", tree, deferred=True) == {
        *at_import_time,
        "iprogsms_async._aiohttp",
    }
    # In a package's __init__, "." is the package itself.
    assert imported("iprogsms_async.broadcast", init, is_package=True) == {
        "iprogsms_async.broadcast._engine"
    }


def test_the_cycle_finder_finds_a_circle_where_there_is_one():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_of_the_package_imports_itself_back():
    assert cycles(graph(deferred=False)) == []


def test_nor_through_an_import_inside_a_function():
    # A lazy import hides a circle from the interpreter, not from the design
    # (``_transports`` importing ``_aiohttp`` in a function while ``_aiohttp``
    # imported ``_transports`` was one).
    assert cycles(graph(deferred=True)) == []


# A ``__main__`` module runs its program when imported.
@pytest.mark.parametrize(
    "name", sorted(n for n in MODULES if not n.endswith("__main__"))
)
def test_each_module_imports_alone_in_a_fresh_interpreter(name):
    done = subprocess.run(
        [sys.executable, "-c", f"import {name}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
