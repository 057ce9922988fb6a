"""The code blocks of the README and the documentation pages, found by heading.

Tests take a block with `code_block(path, heading)` and run it as written.
A block that cannot run as written says so just above its fence, with a
reason, in a comment that neither GitHub, PyPI nor the documentation site
shows:

    <!-- not run: the signature with its defaults, compared with the real one -->

`tests/test_docs_blocks.py` checks that every python block is one or the other.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest

ROOT = Path(__file__).resolve().parents[1]

_FENCE = re.compile(r"^( *)```(\w*)\s*$")
_HEADING = re.compile(r"^#{1,6} (.+?)\s*$")
_NOT_RUN = re.compile(r"^<!-- not run: (.+?) -->$")


@dataclass(frozen=True)
class Block:
    """One fenced code block: where it is, what it holds, and why it is not run."""

    path: str
    heading: str
    language: str
    index: int
    line: int
    code: str
    not_run: str | None


def documents() -> list[str]:
    """The README and every page of the documentation site, relative to the root."""
    pages = sorted(
        path.relative_to(ROOT).as_posix() for path in (ROOT / "docs").rglob("*.md")
    )
    return ["README.md", *pages]


def blocks(path: str) -> list[Block]:
    """Every fenced code block of a Markdown file, under its nearest heading.

    A block may be indented (inside a list item); its code is dedented. `index`
    counts the blocks of the same language under the same heading.
    """
    lines = (ROOT / path).read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    heading = ""
    previous = ""
    number = 0
    while number < len(lines):
        line = lines[number]
        fence = _FENCE.match(line)
        if fence is None:
            title = _HEADING.match(line)
            if title is not None:
                heading = title.group(1)
            if line.strip():
                previous = line.strip()
            number += 1
            continue
        indent, language = fence.groups()
        end = number + 1
        while lines[end].strip() != "```" or not lines[end].startswith(indent):
            end += 1
        code = textwrap.dedent("\n".join(lines[number + 1 : end])) + "\n"
        index = sum(1 for b in found if (b.heading, b.language) == (heading, language))
        not_run = _NOT_RUN.match(previous)
        found.append(
            Block(
                path=path,
                heading=heading,
                language=language,
                index=index,
                line=number + 1,
                code=code,
                not_run=not_run.group(1) if not_run else None,
            )
        )
        previous = ""
        number = end + 1
    return found


def code_block(
    path: str, heading: str, index: int = 0, language: str = "python"
) -> str:
    """The code of one block: the `index`-th of its language under `heading`."""
    if not (ROOT / path).exists():
        pytest.skip(f"{path} is not beside the tests")
    for block in blocks(path):
        if (block.heading, block.language, block.index) == (heading, language, index):
            return block.code
    msg = f"no {language} block {index} under the heading {heading!r} in {path}"
    raise LookupError(msg)


def run_async_block(
    code: str, namespace: dict[str, Any], *, backend: str = "asyncio", name: str
) -> dict[str, Any]:
    """Run a block written with top-level ``await`` as one async function.

    The names given in `namespace` are its globals; returns its local names as
    they were at the end, for the test to look at.
    """
    body = textwrap.indent(code, "    ")
    program = f"async def _block():\n{body}\n    return locals()\n"
    exec(compile(program, name, "exec"), namespace)  # noqa: S102 -- our own docs
    return anyio.run(namespace["_block"], backend=backend)
