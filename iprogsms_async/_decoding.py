"""Undoing an answer's ``Content-Encoding`` on the aiohttp backend, as httpx does.

aiohttp can decompress by itself, but a body it cannot decode then fails
the whole answer, its status unread (a broken deflate in a 500 came out as
aiohttp's own "400, message='deflate'"). httpx reads the status and headers
first and fails on the body alone (`httpx.DecodingError`), which both wires
read as an answer whose body cannot be read: dropped from an error answer,
`ResponseFormatError` for a 2xx one. So the aiohttp wire asks aiohttp for
the bytes as they came, offers only what is undone here (gzip and deflate),
and undoes it with httpx's rules: encodings in reverse order of listing,
one it does not know left as it is, deflate with or without its zlib
header. Each step's output is bounded, so a small bomb cannot expand past
the body cap in memory.
"""

from __future__ import annotations

import zlib

import httpx

__all__ = ["ACCEPTED", "Decoding", "decoding_for"]

ACCEPTED = "gzip, deflate"
"""The ``Accept-Encoding`` the aiohttp wire sends: what `Decoding` undoes."""

_GZIP = zlib.MAX_WBITS | 16
_DEFLATE = zlib.MAX_WBITS
_RAW_DEFLATE = -zlib.MAX_WBITS


class _Inflate:
    """One gzip or deflate step, fed chunk by chunk."""

    __slots__ = ("_may_retry_raw", "_zlib")

    def __init__(self, wbits: int) -> None:
        self._zlib = zlib.decompressobj(wbits)
        # A "deflate" body without its zlib header (common) is raw deflate:
        # httpx tries that once, on the first chunk.
        self._may_retry_raw = wbits == _DEFLATE

    def decode(self, data: bytes, max_length: int) -> bytes:
        try:
            out = self._zlib.decompress(data, max_length)
        except zlib.error as exc:
            if self._may_retry_raw:
                self._may_retry_raw = False
                self._zlib = zlib.decompressobj(_RAW_DEFLATE)
                return self.decode(data, max_length)
            failure = httpx.DecodingError(str(exc))
        else:
            self._may_retry_raw = False
            return out
        raise failure  # outside the handler: zlib's error is no context of it

    def flush(self) -> bytes:
        try:
            return self._zlib.flush()
        except zlib.error as exc:
            failure = httpx.DecodingError(str(exc))
        raise failure


class Decoding:
    """The steps that undo one answer's encodings, in the order they apply."""

    __slots__ = ("_steps",)

    def __init__(self, steps: list[_Inflate]) -> None:
        self._steps = steps

    def decode(self, data: bytes, limit: int) -> bytes:
        """``data`` decoded; more than ``limit`` bytes only if it decodes to more.

        Raises `httpx.DecodingError` when it cannot be decoded.
        """
        for step in self._steps:
            data = step.decode(data, limit + 1)
        return data

    def flush(self, limit: int) -> bytes:
        """What the steps still hold once the body has ended."""
        data = b""
        for step in self._steps:
            if data:
                data = step.decode(data, limit + 1)
            data += step.flush()
        return data


def decoding_for(content_encoding: str | None) -> Decoding | None:
    """How to undo ``content_encoding`` (the header's value); None: nothing to undo."""
    if content_encoding is None:
        return None
    steps = []
    for name in reversed(content_encoding.split(",")):
        name = name.strip().lower()  # noqa: PLW2901 -- the same name, normalized
        if name == "gzip":
            steps.append(_Inflate(_GZIP))
        elif name == "deflate":
            steps.append(_Inflate(_DEFLATE))
    return Decoding(steps) if steps else None
