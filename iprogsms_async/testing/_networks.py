"""Which mobile network a Philippine number's prefix belongs to.

The gateway's ``/phone_numbers/detect`` answers from the first four digits, and
so does the fake, from this table. It follows the vendor's own description
(Smart/TNT includes Sun Cellular) and public prefix lists. Where those lists
disagree, the newest NTC allocation wins: 0991-0994 went to DITO in 2020, so
0992 (once listed as Smart) and 0994 (once listed as Globe) are DITO here.

Number portability means the prefix tells where a number started, not where it
is now; the real gateway has the same limitation.

The 08xx prefixes (0813, 0817, 0895-0898) are in the table for completeness,
but the phone rule both the vendor and this package document accepts only
``09XXXXXXXXX`` numbers, so the fake's endpoints refuse those numbers as
``Invalid Format`` before looking them up.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "DITO",
    "GLOBE_TM",
    "INVALID_FORMAT",
    "PREFIXES",
    "SMART_TNT",
    "UNKNOWN_NETWORK",
    "network_of",
]

SMART_TNT = "Smart/TNT"
GLOBE_TM = "Globe/TM"
DITO = "DITO"
UNKNOWN_NETWORK = "Unknown Network"
"""What the gateway answers for a valid number with an unlisted prefix."""
INVALID_FORMAT = "Invalid Format"
"""The ``network`` of the error answer for a number that is not a mobile number."""


def _span(first: int, last: int) -> list[str]:
    return [f"0{prefix}" for prefix in range(first, last + 1)]


_SMART_TNT = [
    "0813",
    *_span(907, 914),
    *_span(918, 921),
    *_span(922, 925),  # Sun Cellular, now Smart
    *_span(928, 930),
    *_span(931, 934),  # Sun
    *_span(938, 939),
    *_span(940, 944),  # Sun
    *_span(946, 951),
    "0960",
    "0961",
    "0962",  # Sun
    "0963",
    *_span(968, 970),
    "0973",  # Sun
    "0974",  # Sun
    "0981",
    "0985",
    "0989",
    "0998",
    "0999",
]
_GLOBE_TM = [
    "0817",
    *_span(904, 906),
    *_span(915, 917),
    "0926",
    "0927",
    *_span(935, 937),
    "0945",
    *_span(953, 956),
    *_span(965, 967),
    *_span(975, 979),
    *_span(995, 997),
]
_DITO = [*_span(895, 898), *_span(991, 994)]

PREFIXES: Mapping[str, str] = MappingProxyType(
    {
        **dict.fromkeys(_SMART_TNT, SMART_TNT),
        **dict.fromkeys(_GLOBE_TM, GLOBE_TM),
        **dict.fromkeys(_DITO, DITO),
    }
)
"""Four-digit prefix (``"0917"``) to network name."""


def network_of(number: str) -> str:
    """Return the network of a canonical ``09XXXXXXXXX`` number, by its prefix."""
    return PREFIXES.get(number[:4], UNKNOWN_NETWORK)
