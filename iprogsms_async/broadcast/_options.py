"""A broadcast's options: one attrs class, every field checked when it is made.

`BroadcastOptions` is the one place the options are declared, with their
defaults, their checks and their meaning. `IProgSMS.broadcast` and
`IProgSMS.broadcast_stream` take one (``options=``), the same fields as
keyword arguments, or both (the keywords override the object's fields);
`BroadcastOptionChanges` types those keywords for type checkers, and a test
holds it to the fields.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

import attrs

from .._errors import ConfigurationError
from .._validation import (
    BROADCAST_NAME,
    CALLBACK,
    FILE_PATH,
    FLAG,
    LEASE,
    MESSAGE,
    POSITIVE_INT,
    POSITIVE_NUMBER,
    POSITIVE_SECONDS,
    SECONDS,
    SMS_PROVIDER,
    STATUSES,
    instance_of,
    optional,
)
from ._postgres import is_postgres_url
from ._report import DEFAULT_NON_FINAL_STATUSES

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Iterable

    from typing_extensions import Unpack  # typing's own from 3.11

    from ._report import BroadcastProgress, BroadcastResult

__all__ = ["BroadcastOptionChanges", "BroadcastOptions", "choose_options"]


def _statuses(value: Iterable[str]) -> frozenset[str]:
    return STATUSES.setting(value, "non_final_statuses")


@attrs.frozen(kw_only=True)
class BroadcastOptions:
    """How a broadcast runs: everything `IProgSMS.broadcast` takes but the recipients.

    ::

        nightly = BroadcastOptions(concurrency=20, rate_limit=10, journal="j.sqlite")
        await client.broadcast(numbers, options=nightly, message="Hi")

    Every field is checked when the object is made (and again by `replace`):
    a wrong type or value raises `ConfigurationError` naming the field, the
    ``message`` and ``sms_provider`` included, since here they are options of
    the whole broadcast. Frozen, so one object can serve many broadcasts.
    """

    message: str | None = attrs.field(default=None, validator=optional(MESSAGE))
    """The text for recipients given as bare numbers."""
    concurrency: int = attrs.field(default=50, validator=POSITIVE_INT)
    """Requests in flight at most, sends and polls together; no more than the
    client's pool has connections (its ``limits``, 50 by default) when the
    pool is the client's own."""
    rate_limit: float | None = attrs.field(
        default=None, validator=optional(POSITIVE_NUMBER)
    )
    """Requests a second across all workers; None keeps the client's own limit."""
    sms_provider: int | None = attrs.field(
        default=None, validator=optional(SMS_PROVIDER)
    )
    """The gateway's provider (0, 1 or 2) for every send; None for its default."""
    batch_size: int | None = attrs.field(default=None, validator=optional(POSITIVE_INT))
    """Send recipients sharing a text through ``send_bulk`` in chunks of this
    many; None sends one request per recipient."""
    poll: bool = attrs.field(default=True, validator=FLAG)
    """Poll each accepted text until final; False leaves it ``accepted``."""
    poll_interval: float = attrs.field(default=2.0, validator=POSITIVE_SECONDS)
    """The first wait before polling, doubled (with jitter) after each non-final
    answer up to ``poll_max_interval``."""
    poll_max_interval: float = attrs.field(default=60.0, validator=POSITIVE_SECONDS)
    """The longest wait between two polls."""
    poll_timeout: float = attrs.field(default=600.0, validator=SECONDS)
    """Seconds after acceptance to stop polling; the result then keeps its last
    status (e.g. ``pending``)."""
    non_final_statuses: frozenset[str] = attrs.field(
        default=DEFAULT_NON_FINAL_STATUSES, converter=_statuses
    )
    """Statuses polled again (any collection of strings; kept lowercased)."""
    deduplicate: bool = attrs.field(default=True, validator=FLAG)
    """Send the same text to the same number once; later copies are reported
    ``duplicate``."""
    journal: str | os.PathLike[str] | None = attrs.field(
        default=None, validator=optional(FILE_PATH)
    )
    """A file recording every send as it happens. Running the same broadcast
    again with it skips recipients already sent (and goes on polling them), so
    a crash never texts anyone twice. A ``postgresql://`` URL keeps it in
    PostgreSQL instead, under the broadcast's ``name``."""
    name: str | None = attrs.field(default=None, validator=optional(BROADCAST_NAME))
    """The broadcast's name in its journal: required for a PostgreSQL journal,
    whose tables hold many broadcasts; for a file, recorded on first use and
    a different one refused later."""
    dry_run: bool = attrs.field(default=False, validator=FLAG)
    """Check every recipient and count segments; send nothing."""
    check_credits: bool = attrs.field(default=False, validator=FLAG)
    """Compare the estimate with the account's credits first and raise
    `InsufficientCreditsError` when short. Reads the whole input into memory
    first."""
    on_progress: Callable[[BroadcastProgress], object] | None = attrs.field(
        default=None, validator=optional(CALLBACK)
    )
    """Called with running counts every ``progress_interval`` and once at the end."""
    on_result: Callable[[BroadcastResult], object] | None = attrs.field(
        default=None, validator=optional(CALLBACK)
    )
    """Called with each result the moment it is final, including during a
    cancellation's drain."""
    progress_interval: float = attrs.field(default=0.25, validator=POSITIVE_SECONDS)
    """Seconds between two calls of ``on_progress`` while the broadcast runs."""
    shared: bool = attrs.field(default=False, validator=FLAG)
    """Work on the broadcast alongside other workers, on any machines: needs a
    ``postgresql://`` journal and a ``name``. The recipients given are loaded
    into the journal once, whichever worker comes first (see
    `IProgSMS.broadcast_work` to join without them); each worker claims
    small batches under a lease, and reports the recipients it settled."""
    worker_id: str | None = attrs.field(
        default=None, validator=optional(BROADCAST_NAME)
    )
    """A shared worker's id in the journal (a pod's or host's name, say); None
    for ``hostname:pid``. A suffix of the process's own is added, so a
    restarted process is a new worker."""
    lease: float = attrs.field(default=30.0, validator=LEASE)
    """Seconds a shared worker's claims hold unless renewed (its heartbeat
    renews them every third of it): a worker that dies is taken over by
    others this long after. Keep it well above the database's response
    time. At least 1."""
    claim_size: int | None = attrs.field(default=None, validator=optional(POSITIVE_INT))
    """Recipients a shared worker claims at a time; None for twice the
    ``concurrency`` (at least ``batch_size``)."""
    plan_timeout: float = attrs.field(default=300.0, validator=SECONDS)
    """Seconds a shared worker given no recipients waits for a worker with
    them to plan the broadcast, before `JournalError`."""

    def __attrs_post_init__(self) -> None:
        if self.name is None and is_postgres_url(self.journal):
            raise ConfigurationError(
                "a PostgreSQL journal needs the broadcast's name (name=...): "
                "its tables hold many broadcasts",
                field="name",
            )
        if self.shared:
            _check_shared(self)

    def replace(self, **changes: Unpack[BroadcastOptionChanges]) -> BroadcastOptions:
        """A copy with some fields changed, checked as a new one is."""
        return attrs.evolve(self, **changes)


def _check_shared(options: BroadcastOptions) -> None:
    """Refuse what a shared broadcast cannot do, saying why."""
    if not is_postgres_url(options.journal):
        raise ConfigurationError(
            "shared=True needs a postgresql:// journal (journal=...): the "
            "workers, on any machines, share the broadcast through its tables",
            field="journal",
        )
    refused = {
        "dry_run": "a dry run sends nothing and needs no workers: run it "
        "without shared=True",
        "check_credits": "the credit check reads the whole input before "
        "sending, which a worker of a shared broadcast does not have: run a "
        "dry run first and compare its estimate with your credits",
    }
    for field, why in refused.items():
        if getattr(options, field):
            raise ConfigurationError(
                f"{field}=True with shared=True: {why}", field=field
            )
    if not options.deduplicate:
        raise ConfigurationError(
            "deduplicate=False with shared=True: a shared broadcast keeps one row "
            "for each number and text, so it texts each once and reports later "
            "copies as duplicate",
            field="deduplicate",
        )


class BroadcastOptionChanges(TypedDict, total=False):
    """Any of `BroadcastOptions`' fields, by name: the broadcast methods' keywords.

    Typed, so that a misspelt option (``concurency=``) or a wrong type fails a
    type check; use it to pass options through a function of your own::

        async def notify(numbers, **options: Unpack[BroadcastOptionChanges]): ...
    """

    message: str | None
    concurrency: int
    rate_limit: float | None
    sms_provider: int | None
    batch_size: int | None
    poll: bool
    poll_interval: float
    poll_max_interval: float
    poll_timeout: float
    non_final_statuses: Iterable[str]
    deduplicate: bool
    journal: str | os.PathLike[str] | None
    name: str | None
    dry_run: bool
    check_credits: bool
    on_progress: Callable[[BroadcastProgress], object] | None
    on_result: Callable[[BroadcastResult], object] | None
    progress_interval: float
    shared: bool
    worker_id: str | None
    lease: float
    claim_size: int | None
    plan_timeout: float


_OPTIONS = optional(instance_of(BroadcastOptions))


def choose_options(
    options: BroadcastOptions | None, changes: BroadcastOptionChanges
) -> BroadcastOptions:
    """The options of one broadcast call: ``options`` (or the defaults), changed.

    A keyword that is not an option raises `TypeError`, as for any function.
    """
    chosen = _OPTIONS.setting(options, "options")
    if chosen is None:
        return BroadcastOptions(**changes)
    return chosen.replace(**changes) if changes else chosen
