"""How many SMS segments a text takes: GSM-7 (160/153) or UCS-2 (70/67)."""

from __future__ import annotations

from typing import Literal

import attrs

__all__ = ["SegmentCount", "count_segments"]

# GSM 03.38 default alphabet (without ESC, which only introduces the extension).
_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: each costs an escape septet plus its own.
_GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

_GSM7_SINGLE, _GSM7_PART = 160, 153
_UCS2_SINGLE, _UCS2_PART = 70, 67


@attrs.frozen
class SegmentCount:
    """The encoding a text needs and how many SMS segments it takes."""

    encoding: Literal["GSM-7", "UCS-2"]
    """``GSM-7`` when every character is in the GSM alphabet, else ``UCS-2``."""
    units: int
    """Septets (GSM-7) or UTF-16 code units (UCS-2) the text occupies."""
    segments: int
    """SMS parts billed; at least 1."""


def count_segments(text: str) -> SegmentCount:
    r"""Count the SMS segments ``text`` takes.

    One character outside GSM-7 makes the whole text UCS-2. A GSM-7 extension
    character (``^ { } \ [ ~ ] | €``) takes two septets, and neither an escape
    pair nor a UTF-16 surrogate pair is split across two segments.
    """
    widths: list[int] = []
    gsm7 = True
    for char in text:
        if char in _GSM7_BASIC:
            widths.append(1)
        elif char in _GSM7_EXTENSION:
            widths.append(2)
        else:
            gsm7 = False
            break
    if gsm7:
        return _pack("GSM-7", widths, _GSM7_SINGLE, _GSM7_PART)
    widths = [2 if ord(char) > 0xFFFF else 1 for char in text]
    return _pack("UCS-2", widths, _UCS2_SINGLE, _UCS2_PART)


def _pack(
    encoding: Literal["GSM-7", "UCS-2"], widths: list[int], single: int, part: int
) -> SegmentCount:
    units = sum(widths)
    if units <= single:
        return SegmentCount(encoding, units, 1)
    segments, used = 1, 0
    for width in widths:
        if used + width > part:
            segments += 1
            used = 0
        used += width
    return SegmentCount(encoding, units, segments)
