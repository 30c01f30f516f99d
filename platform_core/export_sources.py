"""What a family declares about the rows it exports (docs/exports.md, "Sources").

A family describes each of its export sources once, in its own package
(`services/<family>/export_rows.py`): the columns with their types, the filters it
accepts and one SQL query that reads the rows of one account and mode in a time range,
in a stable order. The export service (`services/exports`) lists the sources, checks a
request against them, and streams the query's rows from a server-side cursor into the
file writers (platform_core/export_files.py). Nothing here imports a family.

The query is psycopg text with named parameters: `%(account_id)s`, `%(livemode)s`,
`%(start)s` (inclusive), `%(end)s` (exclusive) and one `%(<filter>)s` per filter, None
when the request leaves it out (so `(%(x)s IS NULL OR col = %(x)s)` reads an optional
one). Every query is scoped by the account (and mode where the table has it).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

# Column kinds, and what each format makes of them (docs/exports.md, "Formats").
KINDS = ("string", "integer", "decimal", "boolean", "timestamp", "json")
FILTER_KINDS = ("uuid", "boolean", "choice", "text", "integer")


@dataclass(frozen=True)
class Column:
    """One column of a source's rows."""

    name: str
    kind: str  # one of KINDS
    description: str

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"column {self.name}: unknown kind {self.kind!r}")


@dataclass(frozen=True)
class Filter:
    """One parameter of a source, given in CreateExport's `filters` map as a string."""

    name: str
    kind: str  # one of FILTER_KINDS
    description: str
    required: bool = False
    choices: tuple[str, ...] = ()  # kind "choice": the accepted values
    max_length: int = 200  # kind "text"

    def __post_init__(self) -> None:
        if self.kind not in FILTER_KINDS:
            raise ValueError(f"filter {self.name}: unknown kind {self.kind!r}")

    def parse(self, raw: str) -> tuple[object, str | None]:
        """(the query's value, None), or (None, why `raw` is refused)."""
        if self.kind == "uuid":
            try:
                return uuid.UUID(raw), None
            except ValueError:
                return None, f"Invalid {self.name} (must be a UUID)"
        if self.kind == "boolean":
            if raw in ("true", "false"):
                return raw == "true", None
            return None, f"Invalid {self.name} (must be true or false)"
        if self.kind == "choice":
            if raw in self.choices:
                return raw, None
            return None, f"Invalid {self.name} (must be one of {', '.join(self.choices)})"
        if self.kind == "integer":
            if raw.isascii() and raw.isdigit() and len(raw) <= 18:
                return int(raw), None
            return None, f"Invalid {self.name} (must be a whole number)"
        if not raw or len(raw) > self.max_length:
            return None, f"Invalid {self.name} (must be 1 to {self.max_length} characters)"
        return raw, None


@dataclass(frozen=True)
class ExportSource:
    """One kind of rows a family exports."""

    name: str  # "instance_journeys": what CreateExport's `source` names
    family: str  # the family that declares it
    description: str
    scope: str  # the read scope its rows need besides analytics:read (may be analytics:read)
    columns: tuple[Column, ...]
    filters: tuple[Filter, ...]
    query: str  # the rows, in a stable order (see the module's docstring)
    count_query: str  # SELECT count(*) of the same rows, for the progress percentage
    max_days: int = 366  # the longest time range a request may ask for
    # The kinds of erasure subject (platform_core/erasure.py KINDS) its rows may hold: an
    # erasure of one cancels the account's jobs of this source or deletes their files.
    subjects: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"source {self.name}: two columns share a name")
        reserved = {"account_id", "livemode", "start", "end"}
        if reserved & {f.name for f in self.filters}:
            raise ValueError(f"source {self.name}: a filter uses a reserved name")

    def filter(self, name: str) -> Filter | None:
        return next((f for f in self.filters if f.name == name), None)
