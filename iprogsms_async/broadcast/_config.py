"""A broadcast's settings, checked once before anything is read or sent."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import attrs

from .._errors import ConfigurationError
from .._validation import check_message, check_sms_provider, is_positive_number
from ._report import DEFAULT_NON_FINAL_STATUSES

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._report import BroadcastProgress, BroadcastResult

__all__ = ["BroadcastConfig"]


def _positive_int(name: str) -> Callable[[object, object, object], None]:
    def check(_instance: object, _attribute: object, value: object) -> None:
        if type(value) is not int or value < 1:
            raise ConfigurationError(f"{name} must be an integer >= 1, not {value!r}")

    return check


def _positive_seconds(
    name: str, *, allow_zero: bool = False
) -> Callable[[object, object, object], None]:
    def check(_instance: object, _attribute: object, value: object) -> None:
        if not is_positive_number(value, allow_zero=allow_zero):
            raise ConfigurationError(
                f"{name} must be a positive number of seconds, not {value!r}"
            )

    return check


def _statuses(value: object) -> frozenset[str]:
    accepted = "a collection of status strings, like ['pending', 'queued']"
    if isinstance(value, str) or not isinstance(value, Iterable):
        what = "one string" if isinstance(value, str) else repr(value)
        raise ConfigurationError(
            f"non_final_statuses must be {accepted}, not {what:.60}"
        )
    statuses = list(value)
    for status in statuses:
        if not isinstance(status, str):
            raise ConfigurationError(
                f"non_final_statuses must be {accepted}; it holds {status!r:.60}"
            )
    return frozenset(status.lower() for status in statuses)


def _flag(name: str) -> Callable[[object, object, object], None]:
    def check(_instance: object, _attribute: object, value: object) -> None:
        if not isinstance(value, bool):
            raise ConfigurationError(f"{name} must be True or False, not {value!r:.60}")

    return check


def _optional_callback(name: str) -> Callable[[object, object, Any], None]:
    def check(_instance: object, _attribute: object, value: Any) -> None:
        if value is not None and not callable(value):
            raise ConfigurationError(
                f"{name} must be a function (or None), not {value!r:.60}"
            )

    return check


def _optional_message(_instance: object, _attribute: object, value: Any) -> None:
    if value is not None:
        check_message(value)


def _optional_journal(_instance: object, _attribute: object, value: Any) -> None:
    if value is None:
        return
    path = value if isinstance(value, str) else None
    if isinstance(value, os.PathLike):
        path = os.fspath(value)
    if not isinstance(path, str) or not path.strip():
        raise ConfigurationError(
            f"journal must be a file path (a str or os.PathLike) or None, "
            f"not {value!r:.60}"
        )


def _optional_provider(_instance: object, _attribute: object, value: Any) -> None:
    if value is not None:
        check_sms_provider(value)


def _optional_batch(_instance: object, _attribute: object, value: Any) -> None:
    if value is not None and (type(value) is not int or value < 1):
        raise ConfigurationError(
            f"batch_size must be an integer >= 1 or None, not {value!r}"
        )


def _optional_rate(_instance: object, _attribute: object, value: Any) -> None:
    if value is not None and not is_positive_number(value):
        raise ConfigurationError(
            f"rate_limit must be a positive number or None, not {value!r}"
        )


@attrs.frozen(kw_only=True)
class BroadcastConfig:
    """Everything `IProgSMS.broadcast` and `IProgSMS.broadcast_stream` take.

    See `IProgSMS.broadcast` for what each setting means.
    """

    message: str | None = attrs.field(default=None, validator=_optional_message)
    concurrency: int = attrs.field(default=50, validator=_positive_int("concurrency"))
    rate_limit: float | None = attrs.field(default=None, validator=_optional_rate)
    sms_provider: int | None = attrs.field(default=None, validator=_optional_provider)
    batch_size: int | None = attrs.field(default=None, validator=_optional_batch)
    poll: bool = attrs.field(default=True, validator=_flag("poll"))
    poll_interval: float = attrs.field(
        default=2.0, validator=_positive_seconds("poll_interval")
    )
    poll_max_interval: float = attrs.field(
        default=60.0, validator=_positive_seconds("poll_max_interval")
    )
    poll_timeout: float = attrs.field(
        default=600.0, validator=_positive_seconds("poll_timeout", allow_zero=True)
    )
    non_final_statuses: frozenset[str] = attrs.field(
        default=DEFAULT_NON_FINAL_STATUSES, converter=_statuses
    )
    deduplicate: bool = attrs.field(default=True, validator=_flag("deduplicate"))
    journal: str | os.PathLike[str] | None = attrs.field(
        default=None, validator=_optional_journal
    )
    dry_run: bool = attrs.field(default=False, validator=_flag("dry_run"))
    check_credits: bool = attrs.field(default=False, validator=_flag("check_credits"))
    on_progress: Callable[[BroadcastProgress], object] | None = attrs.field(
        default=None, validator=_optional_callback("on_progress")
    )
    on_result: Callable[[BroadcastResult], object] | None = attrs.field(
        default=None, validator=_optional_callback("on_result")
    )
    progress_interval: float = attrs.field(
        default=0.25, validator=_positive_seconds("progress_interval")
    )
