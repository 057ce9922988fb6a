"""The README's testing example is the test file that runs, word for word."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECTION = ROOT / "README.md"
EXAMPLE = Path(__file__).with_name("test_readme_example.py")


@pytest.mark.skipif(not SECTION.exists(), reason="the README is not beside the tests")
def test_the_documented_example_is_the_tested_one():
    blocks = re.findall(r"```python\n(.*?)```", SECTION.read_text(), re.DOTALL)
    assert EXAMPLE.read_text() in blocks
