"""File sources: JSON Lines or CSV, optionally gzip-compressed.

A source yields :class:`RawRecord` items: the raw text, where it was found, and either the
decoded object or the reason it could not be decoded. Validation happens downstream.
CSV columns have the same names as the JSON fields; empty cells mean "absent".
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson


@dataclass(slots=True)
class RawRecord:
    """One input record: where it was, its raw text, and what it decoded to."""

    locator: str
    raw_bytes: bytes
    value: Any  # decoded object, or None if decoding failed
    error: str | None = None
    #: When the record was received (epoch ms), where the source knows it.
    received_at: int | None = None

    @property
    def raw(self) -> str:
        return self.raw_bytes.decode("utf-8", errors="replace")


def _open_text(path: Path) -> IO[str]:
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace", newline="")


def _csv_line(row: list[str]) -> bytes:
    """A parsed CSV row written back as one properly quoted line (the kept raw record)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(row)
    return buf.getvalue().encode()


def detect_format(path: Path) -> str:
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".csv"):
        return "csv"
    return "jsonl"


def open_binary(path: Path) -> IO[bytes]:
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb", buffering=1 << 20)


def iter_records(path: str | Path, fmt: str | None = None) -> Iterator[RawRecord]:
    """Yield every record of a JSONL or CSV file (gzip allowed), malformed ones included."""
    p = Path(path)
    fmt = fmt or detect_format(p)
    if fmt == "csv":
        with _open_text(p) as fh:
            yield from _iter_csv(fh)
    else:
        with open_binary(p) as bfh:
            yield from iter_jsonl_lines(bfh)


def iter_jsonl_lines(lines: Iterable[bytes], first_line: int = 1) -> Iterator[RawRecord]:
    """Decode JSON Lines given as bytes (a file opened in binary mode, or messages)."""
    loads = orjson.loads
    decode_error = orjson.JSONDecodeError
    for n, line in enumerate(lines, first_line):
        try:
            value = loads(line)
        except decode_error as e:
            text = line.rstrip(b"\r\n")
            if not text.strip():
                continue
            yield RawRecord(f"line {n}", text, None, f"malformed JSON ({str(e).split(':')[0]})")
            continue
        yield RawRecord(f"line {n}", line.rstrip(b"\r\n"), value)


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
        raw = _csv_line(row)
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
