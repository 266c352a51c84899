"""Rejected records.

Bad input never crashes a run and is never silently dropped: every rejected record keeps its
raw text, where it came from, and a reason naming the field. Reasons never echo personal data
(a bad value is described, not quoted, when it could identify someone).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rejection:
    """One rejected input record.

    Attributes
    ----------
    kind
        ``fix``, ``anpr`` or ``registry``.
    source
        Where it came from: a file name or a topic/partition.
    locator
        Where in the source: ``line 17`` or ``offset 1234``.
    reason
        A short machine-friendly code (``missing_field``, ``bad_value``, ``malformed``...).
    field
        The offending field, if one.
    message
        A one-line explanation for a person.
    raw
        The raw record as received.
    """

    kind: str
    source: str
    locator: str
    reason: str
    field: str | None
    message: str
    raw: str

    def describe(self) -> str:
        where = f"{self.source} {self.locator}".strip()
        return f"{where}: {self.message}"
