"""The ``geomonitor`` command line: a module per command group, one error handler.

Every known failure is a :class:`~geomonitor.model.errors.GeomonitorError`, caught here
once and printed as one line with its exit code; a user never sees a traceback for one.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from ... import __version__
from ...model.errors import GeomonitorError, InputError
from ...store.domain import Store, default_db_path
from ..consult import ALL, COMMANDS, WRITE, Consultation, purpose_text
from . import (
    absences,
    alerts,
    auditlog,
    crimes,
    desk,
    evidence,
    live,
    maps,
    registry,
    replay,
    rights,
    scenario,
    streams,
    tags,
)
from .desk import login_name


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="geomonitor",
        description="Breach candidates from GPS tag fixes and ANPR reads against court-order "
        "conditions.",
    )
    ap.add_argument("--version", action="version", version=f"geomonitor {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)
    for group in (registry, replay, alerts, desk, tags, maps, crimes, evidence, scenario,
                  streams, live, auditlog, rights, absences):  # fmt: skip
        group.add_parser(sub)
    for words, p in leaves(ap):
        if words not in COMMANDS:  # one place says what each command consults
            raise RuntimeError(f"geomonitor {words}: not in consult.COMMANDS")
        kind = COMMANDS[words]
        p.set_defaults(words=words)
        if kind is not None and kind is not WRITE:
            p.add_argument(
                "--purpose",
                required=kind.purpose,
                help="why you look (recorded in the consultation log)"
                + ("" if kind.purpose else "; optional"),
            )
    return ap


def leaves(
    p: argparse.ArgumentParser, words: str = ""
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every command's words and parser."""
    subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield words.strip(), p
        return
    for name, sp in subs[0].choices.items():
        yield from leaves(sp, f"{words} {name}")


def _target(args: argparse.Namespace) -> str | None:
    for name in ("id", "subject", "tag", "ref", "file", "month", "district"):
        v = getattr(args, name, None)
        if v:
            return str(v)[:200]
    return None


def _consultation(args: argparse.Namespace) -> Consultation | None:
    kind = COMMANDS[args.words]
    if kind is None or kind is WRITE:
        return None
    return Consultation(kind, f"cli:{login_name()}", "cli", ALL,
                        purpose_text(args.purpose), target=_target(args))  # fmt: skip


def _loggable(args: argparse.Namespace) -> None:
    """Refuse a consultation that could not be logged (a store that cannot be written)."""
    path = Path(getattr(args, "db", None) or default_db_path())
    if not path.is_file():
        return  # no store: the command says so itself
    if not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK):
        raise InputError(f"the consultation log in {path} cannot be written: nothing is shown")


def _record(args: argparse.Namespace, c: Consultation, refused: str | None) -> None:
    path = getattr(args, "db", None) or default_db_path()
    try:
        st = Store(path, create=False)
    except GeomonitorError:
        return  # no store: nothing was consulted
    with st:
        try:
            c.record(st, int(time.time() * 1000), refused)
        except sqlite3.OperationalError as e:
            print(f"geomonitor: the consultation could not be logged ({e})", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        consult = _consultation(args)
        if consult is not None:
            _loggable(args)
        args.consult = consult
        # every file a command writes (maps, reports, crime results, exports) is its
        # user's alone, as the store is: they hold where people have been
        mask = os.umask(0o077)
        try:
            code = int(args.func(args))
        finally:
            os.umask(mask)
        if args.consult is not None:
            _record(args, args.consult, None if code == 0 else f"exit {code}")
        return code
    except GeomonitorError as e:
        if getattr(args, "consult", None) is not None and isinstance(e, InputError):
            _record(args, args.consult, str(e)[:200])
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
