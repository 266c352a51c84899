"""File sources: JSON Lines or CSV, optionally gzip-compressed.

A source yields :class:`RawRecord` items: the raw text, where it was found, and either the
decoded object or the reason it could not be decoded. Validation happens downstream.
CSV columns have the same names as the JSON fields; empty cells mean "absent".
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson


@dataclass(slots=True)
class RawRecord:
    locator: str
    raw: str
    value: Any  # decoded object, or None if decoding failed
    error: str | None = None


def _open_text(path: Path) -> IO[str]:
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace", newline="")


def detect_format(path: Path) -> str:
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".csv"):
        return "csv"
    return "jsonl"


def iter_records(path: str | Path, fmt: str | None = None) -> Iterator[RawRecord]:
    """Yield every record of a JSONL or CSV file (gzip allowed), malformed ones included."""
    p = Path(path)
    fmt = fmt or detect_format(p)
    with _open_text(p) as fh:
        if fmt == "csv":
            yield from _iter_csv(fh)
        else:
            yield from _iter_jsonl(fh)


def _iter_jsonl(fh: IO[str]) -> Iterator[RawRecord]:
    loads = orjson.loads
    for n, line in enumerate(fh, 1):
        text = line.rstrip("\r\n")
        if not text.strip():
            continue
        try:
            value = loads(text)
        except orjson.JSONDecodeError as e:
            yield RawRecord(f"line {n}", text, None, f"malformed JSON ({str(e).split(':')[0]})")
            continue
        yield RawRecord(f"line {n}", text, value)


def _iter_csv(fh: IO[str]) -> Iterator[RawRecord]:
    reader = csv.reader(fh)
    try:
        header = next(reader)
    except StopIteration:
        return
    header = [h.strip() for h in header]
    for row in reader:
        n = reader.line_num
        if not row or all(not c.strip() for c in row):
            continue
        raw = ",".join(row)
        if len(row) != len(header):
            yield RawRecord(
                f"line {n}",
                raw,
                None,
                f"malformed CSV row ({len(row)} cells, {len(header)} columns)",
            )
            continue
        yield RawRecord(
            f"line {n}", raw, {k: v for k, v in zip(header, row, strict=True) if v != ""}
        )
