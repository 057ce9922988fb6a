"""broadcast_stream runs in memory that does not grow with the number of recipients."""

import tracemalloc

import anyio
import httpx
import pytest

from iprogsms_async import IProgSMS

pytestmark = pytest.mark.slow


def handler(request):
    return httpx.Response(200, json={"status": 200, "message_id": "iSms-1"})


async def peak_memory(count: int, *, deduplicate: bool) -> int:
    """Peak bytes allocated while streaming ``count`` recipients (after warm-up)."""
    transport = httpx.MockTransport(handler)
    async with IProgSMS(
        "t", base_url="http://127.0.0.1/api/v1", transport=transport
    ) as client:
        recipients = (f"0917{i:07d}" for i in range(count))
        tracemalloc.start()
        try:
            async with client.broadcast_stream(
                recipients, message="Hi", poll=False, deduplicate=deduplicate
            ) as results:
                async for _ in results:
                    pass
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()


@pytest.mark.parametrize("deduplicate", [False, True])
def test_memory_does_not_grow_with_the_count(deduplicate):
    small = anyio.run(lambda: peak_memory(500, deduplicate=deduplicate))
    large = anyio.run(lambda: peak_memory(4500, deduplicate=deduplicate))
    per_extra_recipient = (large - small) / 4000
    if deduplicate:
        # One small key per recipient, documented: well under 200 bytes.
        assert per_extra_recipient < 200
    else:
        assert per_extra_recipient < 20  # flat, give or take allocator noise
