"""The ``geomonitor`` command line: a module per command group, one error handler.

Every known failure is a :class:`~geomonitor.model.errors.GeomonitorError`, caught here
once and printed as one line with its exit code; a user never sees a traceback for one.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys

from ... import __version__
from ...model.errors import GeomonitorError
from . import alerts, crimes, desk, live, maps, registry, replay, scenario, streams, tags


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="geomonitor",
        description="Breach candidates from GPS tag fixes and ANPR reads against court-order "
        "conditions.",
    )
    ap.add_argument("--version", action="version", version=f"geomonitor {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)
    for group in (registry, replay, alerts, desk, tags, maps, crimes, scenario, streams, live):
        group.add_parser(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except GeomonitorError as e:
        print(f"geomonitor: {e}", file=sys.stderr)
        return e.exit_code
    except FileNotFoundError as e:
        print(f"geomonitor: file not found: {e.filename}", file=sys.stderr)
        return 2
    except IsADirectoryError as e:
        print(f"geomonitor: {e.filename} is a folder, not a file", file=sys.stderr)
        return 2
    except PermissionError as e:
        print(f"geomonitor: not allowed to read or write {e.filename}", file=sys.stderr)
        return 2
    except sqlite3.OperationalError as e:
        # e.g. a read-only store file or folder
        print(f"geomonitor: the store cannot be used as asked ({e})", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (e.g. piped into head): stop quietly, like other tools.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
