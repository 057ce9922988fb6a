"""The fake gateway's side of the wire: UNSTABLE, with no compatibility promise.

`iprogsms_async.testing` exports what a test of your code needs, and promises
to keep it. This module holds the rest of what the fake is made of, for the
few who build on it and accept that it may change in any release, even a
patch release:

- running the fake behind a front-end of your own: `exchange` (one request
  through the fake: `Exchange`, answered by a `Reply` or a `Drop`),
  `FakeASGIApp` (what `FakeGateway.app` is) and `ConnectionDropped` (what it
  raises to drop a connection: filter it from another ASGI server's log),
  `FakeTransport` (what `FakeGateway.transport` returns);
- serving an ASGI app of yours that wraps the fake (one that watches the
  wire, or switches between fakes): `serve_in_thread`;
- the gateway's names and values: `PREFIX` (where the API lives),
  `ENDPOINTS` and `SEND_ENDPOINTS` (the names ``FakeGateway.requests`` counts
  and ``Faults(endpoints=...)`` takes), and the networks phone detection
  answers (`network_of`, `PREFIXES`, `SMART_TNT`, ...).

The package's own test suite uses it, which is what keeps it working.
"""

from ._asgi import ASGIApp, ConnectionDropped, FakeASGIApp
from ._exchange import Exchange
from ._gateway import exchange
from ._networks import (
    DITO,
    GLOBE_TM,
    INVALID_FORMAT,
    PREFIXES,
    SMART_TNT,
    UNKNOWN_NETWORK,
    network_of,
)
from ._routes import ENDPOINTS, PREFIX, SEND_ENDPOINTS
from ._serve import serve_in_thread
from ._transport import FakeTransport
from ._wire import Drop, Reply

__all__ = [
    "DITO",
    "ENDPOINTS",
    "GLOBE_TM",
    "INVALID_FORMAT",
    "PREFIX",
    "PREFIXES",
    "SEND_ENDPOINTS",
    "SMART_TNT",
    "UNKNOWN_NETWORK",
    "ASGIApp",
    "ConnectionDropped",
    "Drop",
    "Exchange",
    "FakeASGIApp",
    "FakeTransport",
    "Reply",
    "exchange",
    "network_of",
    "serve_in_thread",
]
