"""File sources: JSON Lines or CSV, optionally gzip-compressed.

A source yields :class:`RawRecord` items: the raw text, where it was found, and either the
decoded object or the reason it could not be decoded. Validation happens downstream.
CSV columns have the same names as the JSON fields; empty cells mean "absent".
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
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
    #: Why it could not be decoded (with ``error``): ``malformed``, ``too_large``,
    #: ``truncated``.
    reason: str = "malformed"

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
            yield from iter_jsonl_lines(guarded_lines(bfh))


#: A record longer than this is refused (``too_large``); what is kept of it is cut to
#: :data:`KEEP_OF_LARGE` bytes.
MAX_RECORD_BYTES = 1 << 20
KEEP_OF_LARGE = 4096


def too_large(locator: str, raw: bytes) -> RawRecord:
    return RawRecord(
        locator,
        raw[:KEEP_OF_LARGE],
        None,
        f"record of {len(raw):,} bytes, over the limit of {MAX_RECORD_BYTES:,}",
        reason="too_large",
    )


def guarded_lines(fh: IO[bytes], first_line: int = 1) -> Iterator[bytes | RawRecord]:
    """The lines of a file; a compressed file that ends early (a truncated gzip) yields
    what it held, then a ``truncated`` record naming the line where it stopped."""
    n = first_line - 1
    try:
        for n, line in enumerate(fh, first_line):  # noqa: B007 (n is used after the loop)
            yield line
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        yield RawRecord(
            f"line {n + 1}",
            b"",
            None,
            f"the file ends early ({type(e).__name__}): what came before was read",
            reason="truncated",
        )


def iter_jsonl_lines(
    lines: Iterable[bytes | RawRecord], first_line: int = 1
) -> Iterator[RawRecord]:
    """Decode JSON Lines given as bytes (a file opened in binary mode, or messages)."""
    loads = orjson.loads
    decode_error = orjson.JSONDecodeError
    for n, line in enumerate(lines, first_line):
        if isinstance(line, RawRecord):
            yield line
            continue
        if len(line) > MAX_RECORD_BYTES:
            yield too_large(f"line {n}", line)
            continue
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
    csv.field_size_limit(MAX_RECORD_BYTES)
    reader = csv.reader(fh)
    try:
        header = next(reader)
    except (StopIteration, csv.Error, EOFError, gzip.BadGzipFile, zlib.error):
        return
    header = [h.strip() for h in header]
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error:
            n = reader.line_num
            yield RawRecord(
                f"line {n}", b"", None, f"a CSV cell over {MAX_RECORD_BYTES:,} bytes",
                reason="too_large",
            )  # fmt: skip
            continue
        except (EOFError, gzip.BadGzipFile, zlib.error) as e:
            yield RawRecord(
                f"line {reader.line_num + 1}", b"", None,
                f"the file ends early ({type(e).__name__}): what came before was read",
                reason="truncated",
            )  # fmt: skip
            return
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
