"""A client of ours reads an answer for cookies only when the answer sets some.

httpx hands every answer to its cookie jar through urllib's request and
response stand-ins (a URL parsed each time), about 20 µs an answer: a tenth
of a broadcast's client CPU beyond the library's own, for a gateway that
sets no cookies. The jar is the same and cookies work as before: an answer
without ``Set-Cookie`` (or ``Set-Cookie2``) headers would have left it as it
was. Only clients this package makes get it, never a user's ``http_client``.
"""

from __future__ import annotations

import httpx

__all__ = ["CookiesWhenSet", "read_cookies_when_set"]


class CookiesWhenSet(httpx.Cookies):
    """httpx's cookies, skipping the jar for an answer that sets none."""

    def extract_cookies(self, response: httpx.Response) -> None:
        """Load the cookies ``response`` sets, if it sets any."""
        headers = response.headers
        if "set-cookie" in headers or "set-cookie2" in headers:
            super().extract_cookies(response)


def read_cookies_when_set(client: httpx.AsyncClient) -> None:
    """Have ``client`` (one of ours) keep its cookie jar in `CookiesWhenSet`."""
    # httpx's setter would copy the cookies into a plain Cookies: the
    # attribute behind it takes ours, over the very same jar.
    client._cookies = CookiesWhenSet(client.cookies.jar)  # noqa: SLF001 -- see above
