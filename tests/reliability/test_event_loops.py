"""The async suite runs under both event loops, asyncio and trio."""

from __future__ import annotations

import inspect
from collections import defaultdict

import pytest
import sniffio

BACKENDS = {"asyncio", "trio"}


def _coroutine(item: pytest.Item) -> bool:
    function = getattr(item, "obj", None)
    inner = getattr(getattr(function, "hypothesis", None), "inner_test", function)
    inner = getattr(inner, "_anyio_original_func", inner)
    return inspect.iscoroutinefunction(inner)


def _one_loop_on_purpose(item: pytest.Item) -> bool:
    """A test that picks its event loop itself: parametrized on ``anyio_backend``,
    or with a fixture of that name closer than the one in tests/conftest.py."""
    for marker in item.iter_markers("parametrize"):
        names = marker.args[0]
        if isinstance(names, str):
            names = names.split(",")
        if "anyio_backend" in (name.strip() for name in names):
            return True
    definitions = item._fixtureinfo.name2fixturedefs.get("anyio_backend", ())
    return bool(definitions) and definitions[-1].baseid != "tests"


def test_every_anyio_test_runs_under_asyncio_and_trio(request):
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and reporter.stats.get("deselected"):
        pytest.skip("tests were deselected: the check needs every variant")
    variants: defaultdict[tuple[object, ...], set[object]] = defaultdict(set)
    for item in request.session.items:
        if (
            item.get_closest_marker("anyio") is None
            or not _coroutine(item)
            or _one_loop_on_purpose(item)
        ):
            continue
        callspec = getattr(item, "callspec", None)
        ids = callspec.id.split("-") if callspec is not None else []
        backend = callspec.params.get("anyio_backend") if callspec else None
        key = (item.path, item.originalname, *(i for i in ids if i not in BACKENDS))
        variants[key].add(backend)
    if not variants:
        pytest.skip("no async test was collected")
    lopsided = {key: found for key, found in variants.items() if found != BACKENDS}
    assert not lopsided


@pytest.mark.anyio
async def test_the_loop_is_the_one_named(anyio_backend):
    assert sniffio.current_async_library() == anyio_backend
