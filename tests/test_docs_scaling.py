"""The scaling page's example runs as written, against a real Redis."""

import pytest

from iprogsms_async.testing import FakeGateway

from .doc_blocks import code_block, run_async_block


def test_the_shared_rate_limit_runs_as_written(redis_url, redis_key, monkeypatch):
    pytest.importorskip("redis")
    code = code_block(
        "docs/scaling.md", "One rate limit for every process: `RedisRateLimit`"
    )
    assert '"redis://redis:6379/0", key="account-1"' in code
    code = code.replace('"redis://redis:6379/0"', repr(redis_url))
    code = code.replace('"account-1"', repr(redis_key))
    fake = FakeGateway()
    numbers = ["09171251234", "09181234567"]
    with fake.serve_in_thread() as base_url:
        monkeypatch.setenv("IPROGSMS_BASE_URL", base_url)
        monkeypatch.setenv("IPROGSMS_API_TOKEN", fake.token)
        # Redis's client is asyncio's only: the page says so.
        found = run_async_block(
            code, {"numbers": numbers}, backend="asyncio", name="scaling"
        )
    assert found["report"].counts == {"delivered": 2}
    assert sorted(fake.texts_to(n)[0] for n in numbers) == ["Hi", "Hi"]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_many_workers_run_as_written(postgres_url, monkeypatch, backend):
    code = code_block("docs/scaling.md", "Many workers, one broadcast")
    assert 'JOURNAL = "postgresql://sms@db.internal/sms"' in code
    code = code.replace('"postgresql://sms@db.internal/sms"', repr(postgres_url))
    fake = FakeGateway()
    numbers = [f"0917125{i:04d}" for i in range(30)]
    with fake.serve_in_thread() as base_url:
        monkeypatch.setenv("IPROGSMS_BASE_URL", base_url)
        monkeypatch.setenv("IPROGSMS_API_TOKEN", fake.token)
        found = run_async_block(
            code, {"numbers": numbers}, backend=backend, name="shared"
        )
    # Run one after the other, the first worker did everything; the second
    # joined, found nothing left, and left.
    assert sorted(r.index for r in found["report"].results) == list(range(30))
    assert len(found["joined"]) == 0
    for number in numbers:
        assert fake.texts_to(number) == ["Your bill is due"]
