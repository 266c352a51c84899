"""``geomonitor absences add|list|cancel``: authorised absences (a probation appointment, a
hospital visit) recorded with who authorised them and why."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from ...model.errors import InputError
from ...model.text import local_time
from ...model.times import parse_ts
from ..absences import cancel, import_file, parse_local, record
from ..tables import show, table
from .common import db_arg, open_store
from .desk import login_name


def add_parser(sub: Any) -> None:
    ab = sub.add_parser("absences", help="authorised absences from a curfew or a zone")
    abs_ = ab.add_subparsers(dest="action", required=True)
    p = abs_.add_parser("add", help="record an authorised absence (judged again at once)")
    p.add_argument("subject")
    p.add_argument(
        "--from",
        dest="starts",
        required=True,
        help="when it starts (UK local '2026-11-17 19:30', or ISO with a zone)",
    )
    p.add_argument("--to", dest="ends", required=True, help="when the subject is due back")
    p.add_argument("--destination", help="LAT,LON of where the subject may go (default: "
                   "anywhere)")  # fmt: skip
    p.add_argument("--radius", type=float, help="metres around the destination (default 100)")
    p.add_argument("--authorised-by", required=True, help="who authorised it")
    p.add_argument("--reason", required=True, help="why (a hospital appointment, ...)")
    db_arg(p)
    p = abs_.add_parser("list", help="absences recorded (cancelled ones too)")
    p.add_argument("subject", nargs="?")
    db_arg(p)
    p = abs_.add_parser("import", help="record the absences of a JSON-lines file (judged "
                        "again once)")  # fmt: skip
    p.add_argument("file", type=Path)
    db_arg(p)
    p = abs_.add_parser("cancel", help="cancel an absence (judged again at once)")
    p.add_argument("id")
    p.add_argument("--reason", required=True)
    db_arg(p)
    ab.set_defaults(func=run)


def _destination(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    try:
        lat, lon = (float(v) for v in text.split(","))
    except ValueError:
        raise InputError(f"--destination: expected LAT,LON, got {text!r}") from None
    return lat, lon


def run(args: argparse.Namespace) -> int:
    now = int(time.time() * 1000)
    by = f"cli:{login_name()}"
    with open_store(args) as st:
        if args.action == "add":
            a, w = record(
                st,
                args.subject,
                parse_local(args.starts, "--from"),
                parse_local(args.ends, "--to"),
                args.authorised_by,
                args.reason,
                by,
                "cli",
                now,
                _destination(args.destination),
                args.radius,
            )
            print(f"{a.id}: {a.describe()}")
            print(f"judged again: {w.retracted} candidates retracted, {w.opened} opened, "
                  f"{w.updated} updated")  # fmt: skip
            return 0
        if args.action == "import":
            got, w = import_file(st, args.file, by, "cli", now)
            print(f"{len(got)} absences recorded: {', '.join(a.id for a in got)}")
            print(f"judged again: {w.retracted} candidates retracted, {w.opened} opened, "
                  f"{w.updated} updated")  # fmt: skip
            return 0
        if args.action == "cancel":
            a, w = cancel(st, args.id, args.reason, by, "cli", now)
            print(f"{a.id}: cancelled")
            print(f"judged again: {w.opened} candidates opened, {w.retracted} retracted, "
                  f"{w.updated} updated")  # fmt: skip
            return 0
        rows = st.absence_rows(args.subject)
    if args.subject:
        args.consult.about([args.subject])
    else:
        args.consult.about(sorted({r["subject_id"] for r in rows}))
    if not rows:
        print("no absences recorded")
        return 0
    show(table(
        ["id", "subject", "from", "to", "where", "authorised by", "reason", "state"],
        [[r["id"], r["subject_id"], local_time(parse_ts(r["starts"])),
          local_time(parse_ts(r["ends"])),
          "anywhere" if r["destination"] is None else
          f"{r['destination']['lat']:.5f}, {r['destination']['lon']:.5f} "
          f"within {r['destination']['radius_m']:.0f} m",
          r["authorised_by"], r["reason"],
          "in force" if r["cancelled_at"] is None else f"cancelled: {r['cancel_reason']}"]
         for r in rows],
    ))  # fmt: skip
    return 0
