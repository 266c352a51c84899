"""``geomonitor replay``: match fix and read files into the store."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ...io.decode import MAX_AHEAD_MS
from ...model.errors import InputError, TimeError
from ...model.times import parse_ts
from .common import config_args, db_arg, engine_config, open_store


def add_parser(sub: Any) -> None:
    p = sub.add_parser("replay", help="match fixes (and store ANPR reads) from files")
    db_arg(p)
    p.add_argument("--fixes", type=Path, help="fixes, JSONL or CSV (gzip allowed)")
    p.add_argument("--anpr", type=Path, help="ANPR reads, JSONL or CSV (gzip allowed)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument(
        "--received-at",
        metavar="TIME",
        help="when the files were received (ISO time with zone; default: now): fixes and "
        "reads dated later than this plus --max-future-minutes are refused (future_time)",
    )
    p.add_argument(
        "--keep-field",
        action="append",
        default=[],
        metavar="NAME",
        help="store this field of fixes and reads that the format does not name (repeatable; "
        "others are dropped)",
    )
    p.add_argument(
        "--max-future-minutes",
        type=float,
        default=MAX_AHEAD_MS / 60_000,
        metavar="MIN",
        help="how far an event time may be ahead of its receipt (default 10)",
    )
    config_args(p)
    p.set_defaults(func=run)


def _when(text: str) -> int:
    try:
        return parse_ts(text)
    except TimeError as e:
        raise InputError(f"--received-at: {e}") from None


def run(args: argparse.Namespace) -> int:
    from ...io.replay import replay

    if args.fixes is None and args.anpr is None:
        print("geomonitor replay: give --fixes and/or --anpr", file=sys.stderr)
        return 2
    with open_store(args) as st:
        summary, _ = replay(
            st,
            args.fixes,
            args.anpr,
            engine_config(args),
            progress=not args.no_progress,
            parallel=True,
            received_at=None if args.received_at is None else _when(args.received_at),
            max_ahead_ms=int(args.max_future_minutes * 60_000),
            keep_fields=frozenset(args.keep_field),
            on_wait=lambda: print(
                "geomonitor replay: another replay is writing to this store; waiting for it "
                "to finish",
                file=sys.stderr,
                flush=True,
            ),
        )
    if args.json:
        print(json.dumps(summary.to_json(), indent=2))
    else:
        print("\n".join(summary.lines()))
    return _status(summary)


def _status(s: Any) -> int:
    """1 when a file held nothing usable or was cut short, else 0 (said on stderr)."""
    read = s.fixes_read + s.anpr_read
    problem = None
    if read == 0:
        problem = "no record was read"
    elif s.fixes_accepted + s.anpr_accepted == 0:
        problem = "every record was rejected (geomonitor rejected)"
    elif "truncated" in s.fixes_rejected or "truncated" in s.anpr_rejected:
        problem = "a file ends early: what it held was read (geomonitor rejected)"
    if problem is None:
        return 0
    print(f"geomonitor replay: {problem}", file=sys.stderr)
    return 1
