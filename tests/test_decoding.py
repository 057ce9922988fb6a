"""The aiohttp wire undoes Content-Encoding exactly as httpx does, within the cap.

Each case is decoded by `iprogsms_async._decoding` and by httpx itself (an
`httpx.Response` reads and decodes its content): the same bytes, or both
refuse it with `httpx.DecodingError`. The wire's reading of a broken body
over loopback is in tests/test_aiohttp_wire.py.
"""

from __future__ import annotations

import gzip
import zlib

import httpx
import pytest

from iprogsms_async._decoding import ACCEPTED, decoding_for

BODY = b'{"status": 200, "message_id": "iSms-1", "padding": "' + b"x" * 5000 + b'"}'


def raw_deflate(data):
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


CASES = {
    "gzip": ("gzip", gzip.compress(BODY)),
    "deflate with its zlib header": ("deflate", zlib.compress(BODY)),
    "deflate without it": ("deflate", raw_deflate(BODY)),
    "upper case, spaces": (" GZIP ", gzip.compress(BODY)),
    "gzip over deflate": ("deflate, gzip", gzip.compress(zlib.compress(BODY))),
    "identity": ("identity", BODY),
    "an encoding neither knows, left as it is": ("compress", BODY),
    "broken gzip": ("gzip", b"not gzip at all"),
    "broken deflate": ("deflate", b"\x00\x01\x02 nor deflate"),
    "gzip cut short": ("gzip", gzip.compress(BODY)[:40]),
}


def ours(encoding, data, chunk=1000, limit=1 << 20):
    decoding = decoding_for(encoding)
    if decoding is None:
        return data
    parts = [
        decoding.decode(data[i : i + chunk], limit) for i in range(0, len(data), chunk)
    ]
    return b"".join([*parts, decoding.flush(limit)])


def httpx_s(encoding, data):
    return httpx.Response(200, headers={"Content-Encoding": encoding}, content=data)


@pytest.mark.parametrize("name", CASES)
def test_decoded_as_httpx_decodes(name):
    encoding, data = CASES[name]
    try:
        expected = httpx_s(encoding, data).content
    except httpx.DecodingError:
        with pytest.raises(httpx.DecodingError):
            ours(encoding, data)
    else:
        assert ours(encoding, data) == expected


def test_nothing_to_undo_without_the_header_or_for_identity():
    assert decoding_for(None) is None
    assert decoding_for("identity") is None
    assert decoding_for("br") is None  # never asked for: left as it is


def test_only_what_it_undoes_is_asked_for():
    asked = {name.strip() for name in ACCEPTED.split(",")}
    for name in asked:
        assert decoding_for(name) is not None


def test_a_bomb_decodes_no_further_than_just_past_the_limit():
    bomb = gzip.compress(b"0" * (64 << 20))  # 64 MiB of zeros in about 64 KB
    decoding = decoding_for("gzip")
    out = decoding.decode(bomb, 1 << 20)
    assert len(out) == (1 << 20) + 1  # enough to know it is over, no more
