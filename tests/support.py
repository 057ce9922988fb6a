"""Constants and small helpers the tests share."""

import traceback
from collections.abc import Iterator

TOKEN = "tok-SECRET-1234567890"
BASE = "https://www.iprogsms.com/api/v1"


def chain(error: BaseException) -> Iterator[BaseException]:
    """``error`` and every exception chained to it (cause or context, shown or
    suppressed) or grouped in it, each once: what an error tracker walks."""
    seen: set[int] = set()
    stack = [error]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack.extend(e for e in (current.__cause__, current.__context__) if e)
        stack.extend(getattr(current, "exceptions", ()))


def exception_text(error: BaseException) -> str:
    """What printing ``error`` shows of it: str, repr and the lines naming it,
    for it and every exception chained to it or grouped in it."""
    parts: list[str] = []
    for current in chain(error):
        parts.append(str(current))
        parts.append(repr(current))
        parts.extend(traceback.format_exception_only(type(current), current))
    return "\n".join(parts)
