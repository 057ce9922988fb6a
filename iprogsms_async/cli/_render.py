"""Showing results: JSON for programs, tables for people."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs
from rich.table import Table

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["emit", "to_json"]


def to_json(value: object) -> Any:
    """Turn a model (or a list of them) into JSON-ready data, without ``raw``."""
    if isinstance(value, list):
        return [to_json(item) for item in value]
    if attrs.has(type(value)):
        names = [field.name for field in attrs.fields(type(value))]  # type: ignore[arg-type]
        return {name: to_json(getattr(value, name)) for name in names if name != "raw"}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(key): to_json(item) for key, item in value.items()}
    return value


def emit(console: Console, value: object, *, as_json: bool, title: str) -> None:
    """Print ``value`` as JSON, or as a table headed ``title``."""
    data = to_json(value)
    if as_json:
        # Plain JSON, one document a line: no colours, whatever the terminal.
        console.file.write(json.dumps(data, ensure_ascii=False) + "\n")
        return
    if isinstance(data, list):
        table = Table(title=title)
        columns = list(data[0]) if data else []
        for column in columns:
            table.add_column(column)
        for row in data:
            table.add_row(*(_cell(row[column]) for column in columns))
    else:
        table = Table(title=title, show_header=False)
        table.add_column("field", style="bold")
        table.add_column("value")
        items = data.items() if isinstance(data, dict) else [("result", data)]
        for key, item in items:
            table.add_row(str(key), _cell(item))
    console.print(table)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
