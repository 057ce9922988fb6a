"""The testing page's examples: the complete one is the test file that runs, word
for word, and the retry fixture works as a project's own conftest."""

import subprocess
import sys
import textwrap
from pathlib import Path

from ..doc_blocks import code_block

EXAMPLE = Path(__file__).with_name("test_documented_example.py")


def test_the_documented_example_is_the_tested_one():
    assert code_block("docs/testing.md", "A complete example") == EXAMPLE.read_text()


def test_the_no_backoff_fixture_works_in_a_project(tmp_path):
    fixture = code_block("docs/testing.md", "Testing your code")
    (tmp_path / "conftest.py").write_text(fixture, encoding="utf-8")
    (tmp_path / "test_mode.py").write_text(
        textwrap.dedent(
            """
            from iprogsms_async.testing import is_testing


            def test_retries_do_not_wait():
                assert is_testing()
            """
        ),
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "1 passed" in result.stdout
