"""Every check of a setting or an argument, written once.

Which error a mistake raises depends on what kind of value was wrong, never on
where it was checked:

- A *setting* configures something for later: the client's options, a
  broadcast's `BroadcastOptions` (its ``message`` and ``sms_provider``
  included), a rate limit, the fake gateway's knobs, a command-line flag. A
  wrong one raises `ConfigurationError`.
- An *argument* is what one call sends or acts on: a phone number, a text, a
  message id, a reminder's id or time, a broadcast's recipients. A wrong one
  raises `ValidationError` (`InvalidPhoneNumber` for a number).

Both are `ValueError`s, carry ``field`` and say what is accepted. One rule can
be either kind (a whole number >= 1 is ``concurrency``, a setting, and
``reminder_id``, an argument), so a `Check` is written once and asked either
way::

    POSITIVE_INT.setting(value, "concurrency")      # ConfigurationError
    POSITIVE_INT.argument(value, "reminder_id")     # ValidationError
    attrs.field(validator=POSITIVE_INT)             # a setting, named by its field

This module imports neither attrs nor httpx when it loads: the command line
builds its argument types from these checks and must answer ``--help`` at once.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ._errors import ConfigurationError, ValidationError

if TYPE_CHECKING:
    import httpx
    from attrs import Attribute

__all__ = [
    "BASE_URL",
    "BROADCAST_NAME",
    "CALLBACK",
    "FILE_PATH",
    "FLAG",
    "IDENTIFIER",
    "INTEGER",
    "LEASE",
    "MESSAGE",
    "NON_NEGATIVE_INT",
    "OTP_PLACEHOLDER",
    "PORT",
    "POSITIVE_INT",
    "POSITIVE_NUMBER",
    "POSITIVE_SECONDS",
    "SECONDS",
    "SHARE",
    "SMS_PROVIDER",
    "SMS_PROVIDERS",
    "STATUSES",
    "TIMEOUT",
    "TOKEN",
    "TOKEN_VARIABLE",
    "Check",
    "check_unicode",
    "instance_of",
    "lone_surrogate_at",
    "number",
    "one_of",
    "optional",
    "printable_name",
    "shown",
    "whole_number",
]

T = TypeVar("T")

SMS_PROVIDERS = (0, 1, 2)
"""The values the gateway accepts for ``sms_provider``."""

_ESCAPED_BYTES = (0xDC80, 0xDCFF)
"""The lone surrogates ``surrogateescape`` makes of undecodable bytes."""
_SHOWN = 60
"""How much of a refused value's ``repr`` an error quotes."""


class Check(Generic[T]):
    """One rule a value must meet, the text that says what it accepts, and its result.

    Call `setting` or `argument` to check a value and get it back (converted
    where the rule says so: a number as a float, an identifier stripped); use
    the object itself as an attrs validator (a setting, named by the field);
    `accepts` and ``accepted`` serve the command line's argument types.
    """

    __slots__ = ("_convert", "_explain", "_read", "_test", "accepted")

    accepted: str
    """What the rule accepts, to follow "must be": ``"a whole number >= 1"``."""

    def __init__(
        self,
        accepted: str,
        *,
        test: Callable[[Any], bool] | None = None,
        explain: Callable[[Any], str | None] | None = None,
        convert: Callable[[Any], T],
        read: Callable[[Any], Any] | None = None,
    ) -> None:
        """A rule given by ``test`` (refusals say what is accepted) or ``explain``.

        ``explain`` returns what is wrong with a value, to follow the field's
        name (``"is empty; ..."``), or None when it is fine: for rules whose
        refusals say more than what is accepted. ``read`` first takes in a
        value that can be read only once (an iterator), for `setting` and
        `argument` to check and convert what was read.
        """
        self.accepted = accepted
        self._test = test
        self._explain = explain
        self._convert = convert
        self._read = read

    def problem(self, value: object) -> str | None:
        """What is wrong with ``value``, to follow a field's name; None if nothing."""
        if self._explain is not None:
            return self._explain(value)
        if self._test is not None and self._test(value):
            return None
        return f"must be {self.accepted}, not {shown(value)}"

    def accepts(self, value: object) -> bool:
        """Whether ``value`` meets the rule."""
        return self.problem(value) is None

    def setting(self, value: object, field: str) -> T:
        """``value``, converted, if it meets the rule; else `ConfigurationError`."""
        return self._checked(value, field, ConfigurationError)

    def argument(self, value: object, field: str) -> T:
        """``value``, converted, if it meets the rule; else `ValidationError`."""
        return self._checked(value, field, ValidationError)

    def _checked(
        self,
        value: object,
        field: str,
        error: type[ConfigurationError | ValidationError],
    ) -> T:
        if self._read is not None:
            value = self._read(value)
        problem = self.problem(value)
        if problem is not None:
            raise error(f"{field} {problem}", field=field)
        return self._convert(value)

    def __call__(
        self, _instance: object, attribute: Attribute[Any], value: object
    ) -> None:
        """Check an attrs field: the fields of our attrs classes are settings."""
        self.setting(value, attribute.name)

    def __repr__(self) -> str:
        return f"<Check: {self.accepted}>"


def shown(value: object) -> str:
    """A refused value as an error quotes it: its ``repr``, cut at 60 characters."""
    text = repr(value)
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."


def _same(value: T) -> T:
    return value


# --- building rules ------------------------------------------------------------


def whole_number(low: int, high: int | None = None) -> Check[int]:
    """An int (not a bool) from ``low``, to ``high`` when given."""
    accepted = (
        f"a whole number >= {low}"
        if high is None
        else f"a whole number from {low} to {high}"
    )
    return Check(
        accepted,
        test=lambda value: (
            type(value) is int and low <= value and (high is None or value <= high)
        ),
        convert=int,
    )


def number(
    *,
    above: float | None = None,
    at_least: float | None = None,
    at_most: float | None = None,
    of: str = "",
) -> Check[float]:
    """A finite int or float (not a bool) within the bounds; returned as a float.

    ``of`` names the unit in the message: ``"a number of seconds > 0"``.
    """
    unit = f" of {of}" if of else ""
    if at_least is not None and at_most is not None:
        accepted = f"a number{unit} from {at_least:g} to {at_most:g}"
    elif above is not None:
        accepted = f"a number{unit} > {above:g}"
    elif at_least is not None:
        accepted = f"a number{unit} >= {at_least:g}"
    else:
        accepted = f"a number{unit}"

    def test(value: object) -> bool:
        return (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
            and (above is None or value > above)
            and (at_least is None or value >= at_least)
            and (at_most is None or value <= at_most)
        )

    return Check(accepted, test=test, convert=float)


def one_of(choices: Iterable[T]) -> Check[T]:
    """One of ``choices``, of the same type (``True`` is not ``1`` here)."""
    allowed = tuple(choices)
    shown_choices = [repr(choice) for choice in allowed]
    accepted = "one of " + (
        ", ".join(shown_choices[:-1]) + " or " + shown_choices[-1]
        if len(shown_choices) > 1
        else shown_choices[0]
    )
    return Check(
        accepted,
        test=lambda value: any(
            type(value) is type(choice) and value == choice for choice in allowed
        ),
        convert=_same,
    )


def instance_of(kind: type[T]) -> Check[T]:
    """An instance of ``kind`` (or of a subclass)."""
    return Check(
        f"a {kind.__name__}",
        test=lambda value: isinstance(value, kind),
        convert=_same,
    )


def optional(check: Check[T]) -> Check[T | None]:
    """``check``'s rule, or None."""
    accepted = f"{check.accepted} (or None)"

    def explain(value: object) -> str | None:
        if value is None:
            return None
        problem = check.problem(value)
        if problem is None or check._explain is not None:  # noqa: SLF001 -- its own kind
            return problem  # a rule that explains itself says it best
        return f"must be {accepted}, not {shown(value)}"

    def convert(value: object) -> T | None:
        return None if value is None else check._convert(value)  # noqa: SLF001 -- its own kind

    inner = check._read  # noqa: SLF001 -- its own kind
    read = None if inner is None else (lambda v: None if v is None else inner(v))
    return Check(accepted, explain=explain, convert=convert, read=read)


def printable_name(
    *, max_length: int, without: tuple[str, str] = ("", "")
) -> Check[str]:
    """A non-empty printable string of at most ``max_length`` characters.

    ``without`` is characters it may not hold, and what to call them:
    ``("{}", "braces")`` for a Redis key.
    """
    refused, called = without
    accepted = f"a non-empty printable string of at most {max_length} characters"
    if refused:
        accepted += f" without {called}"
    return Check(
        accepted,
        test=lambda value: (
            isinstance(value, str)
            and bool(value.strip())
            and len(value) <= max_length
            and value.isprintable()
            and not set(refused) & set(value)
        ),
        convert=str,
    )


# --- numbers ---------------------------------------------------------------------

INTEGER = Check("a whole number", test=lambda value: type(value) is int, convert=int)
POSITIVE_INT = whole_number(1)
NON_NEGATIVE_INT = whole_number(0)
PORT = whole_number(0, 65535)
POSITIVE_NUMBER = number(above=0)
POSITIVE_SECONDS = number(above=0, of="seconds")
SECONDS = number(at_least=0, of="seconds")
LEASE = number(at_least=1, of="seconds")
"""A shared worker's lease: renewed every third of it, so not a busy loop."""
SHARE = number(at_least=0, at_most=1)
"""A share of something, from 0 to 1 (a failure rate, a fault's rate)."""

# --- flags and callbacks -----------------------------------------------------

FLAG = Check("True or False", test=lambda value: isinstance(value, bool), convert=bool)
CALLBACK = Check("a function", test=callable, convert=_same)

# --- what the gateway is sent ------------------------------------------------------

SMS_PROVIDER = one_of(SMS_PROVIDERS)


def _explain_message(value: object) -> str | None:
    if not isinstance(value, str):
        return f"must be a string, not a {type(value).__name__}"
    if not value.strip():
        return "is empty; a text needs at least one visible character"
    return _explain_unicode(value)


MESSAGE: Check[str] = Check(
    "a string with at least one visible character",
    explain=_explain_message,
    convert=str,
)
"""A text to send: a string with something besides whitespace, and whole characters."""


_NOT_IN_IDENTIFIER = re.compile(r"[\s/?#&,]")
r"""What an identifier may not hold (``\s``: what str.isspace() calls a space)."""


def _explain_identifier(value: object) -> str | None:
    if isinstance(value, str):
        stripped = value.strip()
        if (
            stripped
            and len(stripped) <= 200
            and _NOT_IN_IDENTIFIER.search(stripped) is None
        ):
            return _explain_unicode(stripped)
    return (
        "must be a non-empty string without spaces, '/', '?', '#', '&' or ',', "
        f"not {shown(value)}"
    )


IDENTIFIER: Check[str] = Check(
    "a non-empty string without spaces, '/', '?', '#', '&' or ','",
    explain=_explain_identifier,
    convert=lambda value: value.strip(),
)
"""An id that goes into a URL or a body: a message id, an OTP code. Stripped."""


def check_unicode(text: str, *, field: str) -> str:
    """Return ``text`` if it can be sent: no lone surrogate (half a character).

    A lone surrogate is what is left of an emoji when a text is cut by UTF-16
    length, or of an undecodable byte read with ``surrogateescape`` (command
    line arguments, file names). No encoding can put it on the wire, so it is
    refused here, with its position, rather than fail inside the request.
    """
    problem = _explain_unicode(text)
    if problem is not None:
        raise ValidationError(f"{field} {problem}", field=field)
    return text


def _explain_unicode(text: str) -> str | None:
    position = lone_surrogate_at(text)
    if position is None:
        return None
    code = ord(text[position])
    if _ESCAPED_BYTES[0] <= code <= _ESCAPED_BYTES[1]:
        # What Python makes of a byte that is not UTF-8 in argv or a file name.
        what = f"a byte that is not UTF-8 (0x{code - 0xDC00:02X})"
        hint = "pass UTF-8 text"
    else:
        what = f"half of a character (a lone surrogate, U+{code:04X})"
        hint = "pass whole characters (text cut by UTF-16 length often ends in one)"
    return f"holds {what} at position {position}: it cannot be sent; {hint}"


def lone_surrogate_at(text: str) -> int | None:
    """The position of the first lone surrogate in ``text``, or None if it has none.

    Such a string has no UTF-8 form: it cannot go into a request, a journal
    or a file.
    """
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        return error.start
    return None


# --- the client's settings -----------------------------------------------------


def _explain_token(value: object) -> str | None:
    # Never quotes the value: it is the API token.
    if not isinstance(value, str) or not value.strip():
        return "must be a non-empty string"
    if any(char.isspace() or not char.isprintable() for char in value.strip()):
        return "must not contain spaces or control characters"
    return None


TOKEN_VARIABLE = "IPROGSMS_API_TOKEN"  # noqa: S105 -- a variable name, not a secret
"""The environment variable the client (and the command line) read the token from."""

OTP_PLACEHOLDER = ":otp"
"""Where the code goes in a custom OTP text: the gateway fills it in."""

TOKEN: Check[str] = Check(
    "a non-empty string without spaces or control characters",
    explain=_explain_token,
    convert=lambda value: value.strip(),
)
"""An API token (stripped). Its refusals never quote it."""


def _explain_base_url(value: object) -> str | None:
    import httpx  # noqa: PLC0415 -- not at load: the command line starts without it

    if not isinstance(value, str | httpx.URL):
        return f"must be a URL string, not {shown(value)}"
    try:
        parsed = httpx.URL(value)
    except httpx.InvalidURL as exc:
        return f"{shown(value)} is not a URL: {exc}"
    if parsed.scheme not in ("http", "https") or not parsed.host:
        return (
            f"{shown(value)} must be an https:// URL with a host, "
            "like 'https://www.iprogsms.com/api/v1'"
        )
    if parsed.scheme == "http" and not _is_loopback(parsed.host):
        return (
            f"{shown(value)} uses plain http: the API token would travel "
            "unencrypted. Use https, or a loopback host for a local fake gateway."
        )
    if parsed.query or parsed.fragment or parsed.userinfo:
        return f"{shown(value)} must not carry a query, a fragment or credentials"
    return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _base_url(value: object) -> str:
    import httpx  # noqa: PLC0415 -- not at load: the command line starts without it

    return str(httpx.URL(str(value))).rstrip("/")


BASE_URL: Check[str] = Check(
    "an https:// URL with a host (http:// for a loopback host only)",
    explain=_explain_base_url,
    convert=_base_url,
)
"""The API root: https, or plain http to a loopback host; no query or credentials."""


def _explain_timeout(value: object) -> str | None:
    import httpx  # noqa: PLC0415 -- not at load: the command line starts without it

    if isinstance(value, httpx.Timeout) or POSITIVE_SECONDS.accepts(value):
        return None
    return (
        f"must be a positive number of seconds or an httpx.Timeout, not {shown(value)}"
    )


def _timeout(value: object) -> httpx.Timeout:
    import httpx  # noqa: PLC0415 -- not at load: the command line starts without it

    if isinstance(value, httpx.Timeout):
        return value
    return httpx.Timeout(POSITIVE_SECONDS.setting(value, "timeout"))


TIMEOUT: Check[httpx.Timeout] = Check(
    "a positive number of seconds or an httpx.Timeout",
    explain=_explain_timeout,
    convert=_timeout,
)
"""A request timeout: seconds, or an `httpx.Timeout` as it is."""

# --- a broadcast's settings ------------------------------------------------------


def _explain_path(value: object) -> str | None:
    path = os.fspath(value) if isinstance(value, os.PathLike) else value
    if isinstance(path, str) and path.strip():
        return None
    return f"must be a file path (a str or os.PathLike), not {shown(value)}"


BROADCAST_NAME = printable_name(max_length=200)
"""A broadcast's name in its journal: what tells it from others sharing a store."""

FILE_PATH: Check[str | os.PathLike[str]] = Check(
    "a file path (a str or os.PathLike)", explain=_explain_path, convert=_same
)


def _explain_statuses(value: object) -> str | None:
    accepted = "a collection of status strings, like ['pending', 'queued']"
    if isinstance(value, str):
        return f"must be {accepted}, not one string"
    if not isinstance(value, Iterable):
        return f"must be {accepted}, not {shown(value)}"
    for status in value:
        if not isinstance(status, str):
            return f"must be {accepted}; it holds {shown(status)}"
    return None


def _read_statuses(value: object) -> object:
    if isinstance(value, str) or not isinstance(value, Iterable):
        return value
    return list(value)  # an iterator is read once, then checked and converted


STATUSES: Check[frozenset[str]] = Check(
    "a collection of status strings, like ['pending', 'queued']",
    explain=_explain_statuses,
    convert=lambda value: frozenset(status.lower() for status in value),
    read=_read_statuses,
)
"""Gateway statuses, as a lowercased frozenset (an iterator is read once)."""
