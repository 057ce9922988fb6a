"""The pause a 429 imposes on every request of a client, not only the one refused."""

from __future__ import annotations

import anyio

__all__ = ["ServerPause"]


class ServerPause:
    """A point in time before which no request of this client starts.

    When the gateway answers 429 it is talking about the account, not about one
    request: every concurrent caller (every worker of a broadcast) waits.
    """

    __slots__ = ("_until",)

    def __init__(self) -> None:
        self._until = 0.0

    def pause(self, seconds: float) -> None:
        """Hold back every request for ``seconds`` from now (never shortens a pause)."""
        self._until = max(self._until, anyio.current_time() + seconds)

    def remaining(self) -> float:
        """Seconds left of the current pause; 0 when none."""
        return max(0.0, self._until - anyio.current_time())

    @property
    def holding(self) -> bool:
        """Whether a pause may be in force: then `wait` before a request starts.

        False (no need to wait) once a `wait` has seen the last pause end:
        known without reading the clock.
        """
        return bool(self._until)

    async def wait(self) -> None:
        """Return once no pause is in force; at once (no checkpoint) when none is."""
        if not self._until:
            return  # no pause since the last one ended: not even a clock read
        # A pause may be extended while we sleep, so look again after each sleep.
        while (left := self._until - anyio.current_time()) > 0:  # noqa: ASYNC110
            await anyio.sleep(left)
        self._until = 0.0  # over (no other task ran since the look)
