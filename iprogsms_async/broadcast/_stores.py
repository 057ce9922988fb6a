"""Open the journal a broadcast is given: a path is SQLite, a URL is PostgreSQL."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .._errors import ConfigurationError
from .._redact import without_password
from ._journal import Journal
from ._journal import read_counts as read_sqlite_counts
from ._journal_store import check_name
from ._postgres import PostgresJournal, is_postgres_url
from ._postgres import read_counts as read_postgres_counts

if TYPE_CHECKING:
    from os import PathLike

    from ._journal_store import JournalCounts, JournalStore

__all__ = ["journal_exists", "journal_status", "open_journal"]


async def open_journal(
    journal: str | PathLike[str], *, name: str | None = None
) -> JournalStore:
    """Open the journal ``journal`` names, for the broadcast ``name``.

    A ``postgresql://`` (or ``postgres://``) URL opens the PostgreSQL journal,
    where ``name`` is required: many broadcasts share its tables, each under
    its own name. Anything else is the path of a SQLite journal, which holds
    one broadcast; a ``name`` given there is recorded and checked.
    """
    if is_postgres_url(journal):
        url, name = _postgres(journal, name)
        return await PostgresJournal.open(url, name=name)
    _check_not_url(journal)
    return await Journal.open(journal, name=None if name is None else check_name(name))


async def journal_status(
    journal: str | PathLike[str], *, name: str | None = None
) -> JournalCounts:
    """The progress of the broadcast in ``journal``: its rows by state, one query.

    Read-only, and without the lock a running broadcast holds: on PostgreSQL
    (``name`` required) a plain session reads while workers run. A SQLite
    journal is held exclusively by the broadcast running on it, so reading
    one then raises `JournalError` ("in use by a running broadcast").
    """
    if is_postgres_url(journal):
        url, name = _postgres(journal, name)
        return await read_postgres_counts(url, name=name)
    _check_not_url(journal)
    checked = None if name is None else check_name(name)
    return await read_sqlite_counts(journal, name=checked)


def _postgres(journal: str | PathLike[str], name: str | None) -> tuple[str, str]:
    """A PostgreSQL journal's URL and the name it needs: many broadcasts share it."""
    assert isinstance(journal, str)  # noqa: S101 -- is_postgres_url says so
    if name is None:
        raise ConfigurationError(
            f"the PostgreSQL journal {without_password(journal)} needs a broadcast "
            "name (name=...): its tables hold many broadcasts"
        )
    return journal, name


def _check_not_url(journal: str | PathLike[str]) -> None:
    if isinstance(journal, str) and "://" in journal:
        scheme = journal.partition("://")[0]
        raise ConfigurationError(
            f"a journal is a file path or a postgresql:// URL, not a {scheme}:// URL"
        )


def journal_exists(journal: str | PathLike[str]) -> bool:
    """Whether ``journal`` may hold an earlier run: a file that exists, or a URL.

    A dry run reads an existing journal and creates none.
    """
    return is_postgres_url(journal) or os.path.exists(journal)  # noqa: PTH110 -- str or PathLike
