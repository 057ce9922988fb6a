"""Build hook: the README as the package's description, with absolute links.

The README links to the documentation as files of the repository
(``docs/client.md``), which a checkout, a Git host and the documentation site
all resolve. On PyPI a relative link leads nowhere, so the description built
here points each of them at the published site instead. Its address is
``Documentation`` under ``[project.urls]`` in pyproject.toml, the one place to
set it; until it is set, the README goes out as it is.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from hatchling.metadata.plugin.interface import MetadataHookInterface

_DOCS_LINK = re.compile(r"\]\(docs/([^)#\s]+)\.md(#[^)\s]*)?\)")
"""A Markdown link to a page of docs/, with its anchor if any."""


def absolute_links(readme: str, docs_url: str) -> str:
    """Point every link to a page of docs/ at that page of the site at `docs_url`.

    The site is MkDocs' with directory URLs: ``docs/client.md#errors`` is
    ``{docs_url}/client/#errors``, and an ``index.md`` is its folder.
    """
    base = docs_url.rstrip("/") + "/"

    def page(match: re.Match[str]) -> str:
        name, anchor = match.group(1), match.group(2) or ""
        folder = "" if name == "index" else name.removesuffix("/index") + "/"
        return f"]({base}{folder}{anchor})"

    return _DOCS_LINK.sub(page, readme)


class ReadmeHook(MetadataHookInterface):
    """Sets ``readme`` (dynamic in pyproject.toml) from README.md."""

    def update(self, metadata: dict[str, Any]) -> None:
        """Fill in the description, its links made absolute when the site is known."""
        readme = Path(self.root, "README.md").read_text(encoding="utf-8")
        docs_url = metadata.get("urls", {}).get("Documentation")
        if docs_url:
            readme = absolute_links(readme, docs_url)
        metadata["readme"] = {"content-type": "text/markdown", "text": readme}
