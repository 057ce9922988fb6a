"""What every namespace of the client shares: the road to the gateway."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._request import Requester

__all__ = ["Resource", "data_of"]


class Resource:
    """A group of API operations sharing the client's `Requester`."""

    __slots__ = ("_requester",)

    def __init__(self, requester: Requester) -> None:
        self._requester = requester

    def __repr__(self) -> str:
        return f"<{type(self).__name__} resource>"


def data_of(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """The ``data`` object of an enveloped answer, or the body when there is none."""
    data = body.get("data")
    return data if isinstance(data, Mapping) else body
