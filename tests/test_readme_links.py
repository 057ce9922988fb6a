"""The README's links: absolute, or to a page of docs/ that the build makes absolute.

The README is the package's description on PyPI, where a relative link leads
nowhere. hatch_build.py points each ``docs/PAGE.md`` link at the documentation
site named by ``[project.urls] Documentation``.
"""

import re
import shutil
import subprocess
import sys
from email import message_from_string
from pathlib import Path

import pytest

from .doc_blocks import ROOT

hatch_build = pytest.importorskip("hatch_build", reason="needs hatchling")

LINK = re.compile(r"\]\(([^)\s]+)\)")
SITE = "https://docs.example.invalid/iprogsms-async/"


def slug(heading: str) -> str:
    """The anchor MkDocs (and GitHub) give a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = page.read_text(encoding="utf-8")
    if page.name == "index.md":  # the home page includes the README's first part
        text += (ROOT / "README.md").read_text(encoding="utf-8")
    return {slug(h) for h in re.findall(r"^#{1,6} (.+)$", text, re.MULTILINE)}


@pytest.fixture
def readme():
    path = ROOT / "README.md"
    if not path.exists():
        pytest.skip("no README beside the tests")
    return path.read_text(encoding="utf-8")


def test_every_readme_link_is_absolute_or_to_a_page_of_the_docs(readme):
    targets = LINK.findall(readme)
    assert targets
    for target in targets:
        if target.startswith("https://"):
            continue
        assert target.startswith("docs/"), target
        path, _, anchor = target.partition("#")
        page = ROOT / path
        assert path.endswith(".md"), target
        assert page.is_file(), target
        assert not anchor or anchor in anchors(page), target


def test_the_readme_links_to_every_guide():
    linked = set(LINK.findall((ROOT / "README.md").read_text(encoding="utf-8")))
    pages = {
        f"docs/{page.relative_to(ROOT / 'docs').as_posix()}"
        for page in (ROOT / "docs").glob("*.md")
    }
    assert pages - {"docs/index.md"} <= linked


def test_links_to_docs_become_links_to_the_site():
    readme = (
        "[The client](docs/client.md), [errors](docs/client.md#errors), "
        "[the API](docs/reference/index.md), [home](docs/index.md), "
        "[iProgSMS](https://www.iprogsms.com)"
    )
    assert hatch_build.absolute_links(readme, SITE.rstrip("/")) == (
        f"[The client]({SITE}client/), [errors]({SITE}client/#errors), "
        f"[the API]({SITE}reference/), [home]({SITE}), "
        "[iProgSMS](https://www.iprogsms.com)"
    )


def metadata(tmp_path, pyproject):
    """The package's core metadata, as hatchling builds it for a wheel."""
    source = tmp_path / "source"
    (source / "iprogsms_async").mkdir(parents=True)
    for name in ("README.md", "LICENSE", "hatch_build.py"):
        shutil.copy(ROOT / name, source / name)
    shutil.copy(ROOT / "iprogsms_async" / "_version.py", source / "iprogsms_async")
    (source / "pyproject.toml").write_text(pyproject, encoding="utf-8")
    build = "import sys, hatchling.build as b; print(b.{}(sys.argv[1]))"
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            build.format("prepare_metadata_for_build_wheel"),
            str(tmp_path),
        ],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    dist_info = tmp_path / result.stdout.strip().splitlines()[-1]
    return message_from_string((dist_info / "METADATA").read_text(encoding="utf-8"))


@pytest.mark.skipif(
    not (ROOT / "pyproject.toml").exists(), reason="builds from the project's files"
)
def test_the_description_links_to_the_site_once_it_has_an_address(tmp_path):
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    # Whatever address is set (none yet), this test's own stands in for it.
    pyproject = re.sub(r"(?m)^Documentation = .*\n", "", pyproject)
    with_site = pyproject.replace(
        "[project.urls]\n", f'[project.urls]\nDocumentation = "{SITE}"\n', 1
    )
    built = metadata(tmp_path / "with", with_site)
    description = built.get_payload()
    assert built["Description-Content-Type"] == "text/markdown"
    assert f"Project-URL: Documentation, {SITE}" in str(built)
    assert "](docs/" not in description
    assert f"[The client]({SITE}client/)" in description
    assert f"[API reference]({SITE}reference/)" in description
    # Nothing else changed: the README minus its links is the description.
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert LINK.sub("", description) == LINK.sub("", readme)


@pytest.mark.skipif(
    not (ROOT / "pyproject.toml").exists(), reason="builds from the project's files"
)
def test_without_an_address_the_description_is_the_readme(tmp_path):
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    pyproject = re.sub(r"(?m)^Documentation = .*\n", "", pyproject)
    built = metadata(tmp_path, pyproject)
    assert built.get_payload() == (ROOT / "README.md").read_text(encoding="utf-8")
