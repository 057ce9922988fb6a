"""A broadcast's settings, checked once before anything is read or sent."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from .._errors import ConfigurationError
from .._validation import check_sms_provider, is_positive_number
from ._report import DEFAULT_NON_FINAL_STATUSES

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Iterable

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


def _statuses(value: Iterable[str]) -> frozenset[str]:
    if isinstance(value, str):
        raise ConfigurationError(
            "non_final_statuses must be a collection of statuses, not one string"
        )
    return frozenset(status.lower() for status in value)


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

    message: str | None = None
    concurrency: int = attrs.field(default=50, validator=_positive_int("concurrency"))
    rate_limit: float | None = attrs.field(default=None, validator=_optional_rate)
    sms_provider: int | None = attrs.field(default=None, validator=_optional_provider)
    batch_size: int | None = attrs.field(default=None, validator=_optional_batch)
    poll: bool = True
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
    deduplicate: bool = True
    journal: str | os.PathLike[str] | None = None
    dry_run: bool = False
    check_credits: bool = False
    on_progress: Callable[[BroadcastProgress], object] | None = None
    on_result: Callable[[BroadcastResult], object] | None = None
    progress_interval: float = attrs.field(
        default=0.25, validator=_positive_seconds("progress_interval")
    )
