"""Decoding and validating input records: the one path from raw records to fixes and reads,
used by file replay and the Kafka consumers alike.

Every decoder returns a :class:`Decoded`: the valid items, the rejections (each naming the
record and the field, with the raw record kept as a dead letter) and how many records it
saw. Nothing is dropped silently and nothing raises for bad input.
"""

from __future__ import annotations

import time
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import orjson

from ..model.errors import RecordError
from ..model.fix import KNOWN_FIELDS as FIX_FIELDS
from ..model.fix import FixBatch, FixRow, validate_fix
from ..model.read import KNOWN_FIELDS as READ_FIELDS
from ..model.read import Read, parse_read
from ..model.rejection import Rejection
from .sources import MAX_RECORD_BYTES, RawRecord, iter_jsonl_lines

T = TypeVar("T")

#: A fix or read more than this far ahead of when it was received is refused.
MAX_AHEAD_MS = 10 * 60_000


@dataclass(frozen=True)
class Clock:
    """When records were received, read at the adapter's edge (never in the rules).

    ``received_at`` is the receiving clock for records that do not carry their own
    (:attr:`~geomonitor.io.sources.RawRecord.received_at`); ``max_ahead_ms`` is how far an
    event time may be ahead of it (clock skew, buffering) before the record is refused as
    ``future_time``. A ``None`` clock accepts any time.
    """

    received_at: int | None
    max_ahead_ms: int = MAX_AHEAD_MS

    def check(self, ts: int, rec: RawRecord) -> RecordError | None:
        if ts < 0:
            return RecordError("out_of_range", "ts", "ts: before 1970")
        at = rec.received_at if rec.received_at is not None else self.received_at
        if at is not None and ts > at + self.max_ahead_ms:
            minutes = self.max_ahead_ms // 60_000
            return RecordError(
                "future_time", "ts", f"ts: more than {minutes} min after it was received"
            )
        return None


NO_CLOCK = Clock(None)


def wall_clock_ms() -> int:
    """The machine's clock now, in epoch milliseconds (adapters only)."""
    return time.time_ns() // 1_000_000


@dataclass
class Decoded(Generic[T]):
    """Valid items, rejections, and how many records were decoded (blank lines are not
    records)."""

    items: T
    rejections: list[Rejection]
    records: int
    #: Fields of accepted records that the format does not name, dropped (not stored).
    dropped_fields: int = 0
    #: Where each accepted item was: line numbers (or offsets, with ``unit``), in order.
    where: list[int] = field(default_factory=list)
    unit: str = "line"


def _dropped(value: Any, known: frozenset[str], keep: frozenset[str]) -> int:
    """How many fields of an accepted record were dropped (neither known nor kept)."""
    if value.keys() <= known:  # the common case: no allocation
        return 0
    return len(value.keys() - known - keep)


def _rejection(kind: str, source: str, rec: RawRecord, e: RecordError | None) -> Rejection:
    if e is None:
        return Rejection(
            kind, source, rec.locator, rec.reason, None, rec.error or rec.reason, rec.raw
        )
    return Rejection(kind, source, rec.locator, e.reason, e.field, e.message, rec.raw)


def decode_fixes(
    records: Iterable[RawRecord],
    source: str,
    tags: Container[str],
    default_accuracy_m: float,
    clock: Clock = NO_CLOCK,
    keep: frozenset[str] = frozenset(),
) -> Decoded[FixBatch]:
    """Fix records as a batch (BNG coordinates and duplicate ranks computed); records that
    are not valid fixes, or of tags not in the registry, are rejected."""
    rows: list[FixRow] = []
    rejs: list[Rejection] = []
    where: list[int] = []
    unit = "line"
    n = dropped = 0
    for rec in records:
        n += 1
        if rec.value is None:
            rejs.append(_rejection("fix", source, rec, None))
            continue
        try:
            row = validate_fix(rec.value, default_accuracy_m, keep)
        except RecordError as e:
            rejs.append(_rejection("fix", source, rec, e))
            continue
        if row[0] not in tags:
            unknown = RecordError("unknown_tag", "tag_id", "tag_id: tag not in the registry")
            rejs.append(_rejection("fix", source, rec, unknown))
            continue
        late = clock.check(row[1], rec)
        if late is not None:
            rejs.append(_rejection("fix", source, rec, late))
            continue
        rows.append(row)
        dropped += _dropped(rec.value, FIX_FIELDS, keep)
        unit, _, number = rec.locator.partition(" ")
        where.append(int(number) if number.isdigit() else len(where))
    return Decoded(FixBatch.from_rows(rows), rejs, n, dropped, where, unit)


def decode_fix_lines(
    lines: list[bytes | RawRecord],
    first_line: int,
    source: str,
    tags: Container[str],
    default_accuracy_m: float,
    clock: Clock = NO_CLOCK,
    keep: frozenset[str] = frozenset(),
) -> Decoded[FixBatch]:
    """Decode and validate a chunk of JSON Lines (runs in a parser process for big files).

    The same as ``decode_fixes(iter_jsonl_lines(lines, first_line), ...)``, with the common
    case (a line that decodes and validates) fused into one loop; any line that does not
    goes through the general path, so rejections are identical.
    """
    loads = orjson.loads
    rows: list[FixRow] = []
    rejs: list[Rejection] = []
    where: list[int] = []
    others = dropped = 0  # records not valid fixes (blank lines are not records)
    # The clock guard, inlined for the common case (lines carry no receiving time).
    latest = 2**62 if clock.received_at is None else clock.received_at + clock.max_ahead_ms
    for n, line in enumerate(lines, first_line):
        if isinstance(line, RawRecord):  # the file ended early
            rejs.append(_rejection("fix", source, line, None))
            others += 1
            continue
        row = None
        if len(line) <= MAX_RECORD_BYTES:
            try:
                value = loads(line)
                row = validate_fix(value, default_accuracy_m, keep)
            except (orjson.JSONDecodeError, RecordError):
                row = None
        if row is not None and row[0] in tags and 0 <= row[1] <= latest:
            rows.append(row)
            where.append(n)
            if not value.keys() <= FIX_FIELDS:
                dropped += _dropped(value, FIX_FIELDS, keep)
            continue
        bad = decode_fixes(
            iter_jsonl_lines([line], n), source, tags, default_accuracy_m, clock, keep
        )
        rejs.extend(bad.rejections)
        others += bad.records
        dropped += bad.dropped_fields
    return Decoded(FixBatch.from_rows(rows), rejs, len(rows) + others, dropped, where)


def decode_reads(
    records: Iterable[RawRecord],
    source: str,
    cameras: Mapping[str, Any],
    clock: Clock = NO_CLOCK,
    keep: frozenset[str] = frozenset(),
) -> Decoded[list[Read]]:
    """ANPR read records as reads; ``cameras`` places reads that carry no position."""
    reads: list[Read] = []
    rejs: list[Rejection] = []
    n = dropped = 0
    for rec in records:
        n += 1
        if rec.value is None:
            rejs.append(_rejection("anpr", source, rec, None))
            continue
        try:
            read = parse_read(rec.value, cameras, keep)
        except RecordError as e:
            rejs.append(_rejection("anpr", source, rec, e))
            continue
        late = clock.check(read.ts, rec)
        if late is not None:
            rejs.append(_rejection("anpr", source, rec, late))
            continue
        reads.append(read)
        dropped += _dropped(rec.value, READ_FIELDS, keep)
    return Decoded(reads, rejs, n, dropped)
