"""The sdist carries what its own tests need, and the licence; so does the wheel.

Builds both with the build backend itself (hatchling, in the dev group: no
network, no isolated build environment), unpacks the sdist in a temporary
folder and runs its tests from there: all of them collected, a few of the
fast ones that read the examples, the benchmarks, the README and the docs run.
"""

import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(
    not (ROOT / "pyproject.toml").exists() or not (ROOT / ".git").exists(),
    reason="builds from a checkout, not from an unpacked sdist",
)


def build(kind, outdir):
    pytest.importorskip("hatchling")
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys, hatchling.build as b; print(b.build_{kind}(sys.argv[1]))",
            str(outdir),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return outdir / result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def unpacked(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("dist")
    sdist = build("sdist", outdir)
    with tarfile.open(sdist) as archive:
        # The safe filter where this Python has it (3.10.12 and later).
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        archive.extractall(outdir, **safe)  # noqa: S202 -- our own fresh build
    (folder,) = [path for path in outdir.iterdir() if path.is_dir()]
    return folder


def test_the_sdist_has_the_licence_examples_and_benchmark_scripts(unpacked):
    assert "MIT License" in (unpacked / "LICENSE").read_text(encoding="utf-8")
    assert (unpacked / "examples" / "fastapi_app.py").is_file()
    assert (unpacked / "benchmarks" / "bench_broadcast.py").is_file()
    assert (unpacked / "benchmarks" / "_harness.py").is_file()
    assert not (unpacked / "benchmarks" / "out").exists()
    # The description's build hook, to build a wheel from the sdist, and the
    # documentation its tests read.
    assert (unpacked / "hatch_build.py").is_file()
    assert (unpacked / "mkdocs.yml").is_file()
    assert (unpacked / "docs" / "client.md").is_file()
    metadata = (unpacked / "PKG-INFO").read_text(encoding="utf-8")
    assert "License-Expression: MIT" in metadata
    assert "License-File: LICENSE" in metadata
    assert "Project-URL: iProgSMS gateway, https://www.iprogsms.com" in metadata
    assert "Description-Content-Type: text/markdown" in metadata
    assert "## Quick start" in metadata  # the README is the description


def test_the_wheel_has_the_licence(tmp_path):
    wheel = build("wheel", tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        licences = [name for name in names if name.endswith("licenses/LICENSE")]
        assert licences, names
        assert b"MIT License" in archive.read(licences[0])
    assert not any(name.startswith(("tests/", "examples/")) for name in names)


def run_tests(folder, *args):
    # The unpacked source comes first on the path, before the checkout's
    # editable install; plugins autoload as in CI (the pytest plugin included).
    env = {**os.environ, "PYTHONPATH": str(folder), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_sdist_collects_all_its_tests(unpacked):
    result = run_tests(unpacked, "--collect-only", "-q")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "error" not in result.stdout.lower().splitlines()[-1], result.stdout[-3000:]


def test_the_sdist_runs_the_tests_that_read_examples_and_benchmarks(unpacked):
    result = run_tests(
        unpacked,
        "-q",
        "tests/examples/test_fastapi.py",
        "tests/test_readme.py",
        "tests/test_docs_blocks.py",
        "tests/test_benchmarks_smoke.py::test_every_script_is_smoke_tested",
        "tests/test_benchmarks_smoke.py::test_every_script_has_a_quick_size",
        "tests/cli/test_help.py",
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " passed" in result.stdout
    assert "skipped" not in result.stdout.splitlines()[-1]
    # It ran the sdist's own code, not the checkout's.
    which = subprocess.run(
        [sys.executable, "-c", "import iprogsms_async; print(iprogsms_async.__file__)"],
        cwd=unpacked,
        env={**os.environ, "PYTHONPATH": str(unpacked)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(which.stdout.strip()).is_relative_to(unpacked)
