"""Decoding and validating input records: the one path from raw records to fixes and reads,
used by file replay and the Kafka consumers alike.

Every decoder returns a :class:`Decoded`: the valid items, the rejections (each naming the
record and the field, with the raw record kept as a dead letter) and how many records it
saw. Nothing is dropped silently and nothing raises for bad input.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson

from ..model.errors import RecordError
from ..model.fix import FixBatch, FixRow, validate_fix
from ..model.read import Read, parse_read
from ..model.rejection import Rejection
from .sources import RawRecord, iter_jsonl_lines

T = TypeVar("T")


@dataclass
class Decoded(Generic[T]):
    """Valid items, rejections, and how many records were decoded (blank lines are not
    records)."""

    items: T
    rejections: list[Rejection]
    records: int


def _rejection(kind: str, source: str, rec: RawRecord, e: RecordError | None) -> Rejection:
    if e is None:
        return Rejection(
            kind, source, rec.locator, "malformed", None, rec.error or "malformed", rec.raw
        )
    return Rejection(kind, source, rec.locator, e.reason, e.field, e.message, rec.raw)


def decode_fixes(
    records: Iterable[RawRecord], source: str, tags: Container[str], default_accuracy_m: float
) -> Decoded[FixBatch]:
    """Fix records as a batch (BNG coordinates and duplicate ranks computed); records that
    are not valid fixes, or of tags not in the registry, are rejected."""
    rows: list[FixRow] = []
    rejs: list[Rejection] = []
    n = 0
    for rec in records:
        n += 1
        if rec.value is None:
            rejs.append(_rejection("fix", source, rec, None))
            continue
        try:
            row = validate_fix(rec.value, default_accuracy_m)
        except RecordError as e:
            rejs.append(_rejection("fix", source, rec, e))
            continue
        if row[0] not in tags:
            unknown = RecordError("unknown_tag", "tag_id", "tag_id: tag not in the registry")
            rejs.append(_rejection("fix", source, rec, unknown))
            continue
        rows.append(row)
    return Decoded(FixBatch.from_rows(rows), rejs, n)


def decode_fix_lines(
    lines: list[bytes],
    first_line: int,
    source: str,
    tags: Container[str],
    default_accuracy_m: float,
) -> Decoded[FixBatch]:
    """Decode and validate a chunk of JSON Lines (runs in a parser process for big files).

    The same as ``decode_fixes(iter_jsonl_lines(lines, first_line), ...)``, with the common
    case (a line that decodes and validates) fused into one loop; any line that does not
    goes through the general path, so rejections are identical.
    """
    loads = orjson.loads
    rows: list[FixRow] = []
    rejs: list[Rejection] = []
    others = 0  # records not valid fixes (blank lines are not records)
    for n, line in enumerate(lines, first_line):
        try:
            row = validate_fix(loads(line), default_accuracy_m)
        except (orjson.JSONDecodeError, RecordError):
            row = None
        if row is not None and row[0] in tags:
            rows.append(row)
            continue
        bad = decode_fixes(iter_jsonl_lines([line], n), source, tags, default_accuracy_m)
        rejs.extend(bad.rejections)
        others += bad.records
    return Decoded(FixBatch.from_rows(rows), rejs, len(rows) + others)


def decode_reads(
    records: Iterable[RawRecord], source: str, cameras: Mapping[str, Any]
) -> Decoded[list[Read]]:
    """ANPR read records as reads; ``cameras`` places reads that carry no position."""
    reads: list[Read] = []
    rejs: list[Rejection] = []
    n = 0
    for rec in records:
        n += 1
        if rec.value is None:
            rejs.append(_rejection("anpr", source, rec, None))
            continue
        try:
            reads.append(parse_read(rec.value, cameras))
        except RecordError as e:
            rejs.append(_rejection("anpr", source, rec, e))
    return Decoded(reads, rejs, n)
