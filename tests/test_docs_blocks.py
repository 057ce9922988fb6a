"""Every python block of the README and the documentation is run by a test, or
says, just above it, why it is not."""

import ast
import re
from pathlib import Path

from .doc_blocks import ROOT, blocks, documents

TESTS = Path(__file__).resolve().parent


def _constants(tree: ast.Module) -> dict[str, object]:
    """A test module's top-level names bound to a literal (``PAGE = "docs/..."``)."""
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found[target.id] = node.value.value
    return found


def run_by_tests() -> set[tuple[str, str, int]]:
    """The python blocks the tests take with `code_block`: (path, heading, index)."""
    taken = set()
    for module in TESTS.rglob("*.py"):
        tree = ast.parse(module.read_text(encoding="utf-8"))
        names = _constants(tree)

        def value(node: ast.expr, names: dict[str, object] = names) -> object:
            if isinstance(node, ast.Constant):
                return node.value
            assert isinstance(node, ast.Name), ast.dump(node)
            return names[node.id]

        for node in ast.walk(tree):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "code_block"
            ):
                continue
            args = [value(arg) for arg in node.args]
            keywords = {k.arg: value(k.value) for k in node.keywords}
            language = keywords.get("language", args[3] if len(args) > 3 else "python")
            index = keywords.get("index", args[2] if len(args) > 2 else 0)
            if language == "python":
                taken.add((args[0], args[1], index))
    return taken


def test_every_python_block_is_run_or_says_why_not():
    taken = run_by_tests()
    unaccounted = []
    for path in documents():
        for block in blocks(path):
            if block.language != "python":
                continue
            run = (block.path, block.heading, block.index) in taken
            where = f"{block.path}:{block.line} under {block.heading!r}"
            assert not (run and block.not_run), f"{where} is run, yet says it is not"
            if not run and not block.not_run:
                unaccounted.append(where)
    assert not unaccounted, (
        "run these blocks in a test with code_block(), or put "
        "<!-- not run: REASON --> just above them: " + ", ".join(unaccounted)
    )


def test_every_block_a_test_takes_exists():
    for path, heading, index in run_by_tests():
        if not (ROOT / path).exists():
            continue
        assert any(
            (b.heading, b.language, b.index) == (heading, "python", index)
            for b in blocks(path)
        ), (path, heading, index)


def test_a_block_not_run_names_what_covers_it_and_that_exists():
    notes = [b for path in documents() for b in blocks(path) if b.not_run]
    assert notes
    for block in notes:
        files = re.findall(r"\b(?:tests|examples)/[\w/]+\.py\b", block.not_run)
        assert files, f"{block.path}:{block.line}: say which test covers it"
        for file in files:
            assert (ROOT / file).is_file(), f"{block.path}:{block.line}: {file}"
