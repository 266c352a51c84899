"""``geomonitor retention run|hold|release`` and ``geomonitor subject withdraw|export``:
what the law lets the store keep, and a person's rights over it."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from ...model.errors import InputError
from ..retention import hold, load_schedule, release, run
from ..rights import export, withdraw, write_export
from ..tables import show, table
from .alerts import parse_when
from .common import db_arg, open_store
from .desk import login_name


def add_parser(sub: Any) -> None:
    rt = sub.add_parser("retention", help="remove what the retention schedule says is due")
    rts = rt.add_subparsers(dest="action", required=True)
    p = rts.add_parser("run", help="remove what is due (for real: no copy left in the file)")
    p.add_argument("--dry-run", action="store_true", help="count what is due, remove nothing")
    p.add_argument("--at", help="as if at this time (default: now)")
    p.add_argument("--config", help="TOML file with a [retention] table (default: defaults)")
    db_arg(p)
    for name, text in (("hold", "keep everything about a subject (a legal hold)"),
                       ("release", "release a legal hold")):  # fmt: skip
        p = rts.add_parser(name, help=text)
        p.add_argument("subject")
        p.add_argument("--reason", required=True)
        db_arg(p)
    rt.set_defaults(func=run_retention)

    sj = sub.add_parser("subject", help="a person's rights: withdrawal of consent, access")
    sjs = sj.add_subparsers(dest="action", required=True)
    p = sjs.add_parser("withdraw", help="the volunteer withdraws consent (from --at)")
    p.add_argument("subject")
    p.add_argument("--at", required=True, help="when consent ended (ISO time, or a local date)")
    db_arg(p)
    p = sjs.add_parser("export", help="everything held about one person, as JSON and HTML")
    p.add_argument("subject")
    p.add_argument("--out", type=Path, required=True, help="folder to write into")
    db_arg(p)
    sj.set_defaults(func=run_subject)


def _by() -> str:
    return f"cli:{login_name()}"


def run_retention(args: argparse.Namespace) -> int:
    now = int(time.time() * 1000)
    with open_store(args) as st:
        if args.action == "hold":
            hold(st, args.subject, args.reason, _by(), "cli", now)
            print(f"{args.subject}: under a legal hold")
            return 0
        if args.action == "release":
            release(st, args.subject, args.reason, _by(), "cli", now)
            print(f"{args.subject}: legal hold released")
            return 0
        at = parse_when(args.at, "--at") or now
        p, counts = run(st, load_schedule(args.config), at, _by(), "cli", args.dry_run)
    new = [sp for sp in p.due if not sp.again]
    rows = [[sp.subject_id, str(len(sp.remove_candidates)), str(len(sp.keep)),
             ", ".join(sorted(set(sp.keep.values())))] for sp in new]  # fmt: skip
    if rows:
        show(table(["subject", "candidates removed", "kept", "kept because"], rows))
    for sid, why in sorted(p.not_due.items()):
        if why != "not yet due":
            print(f"{sid}: kept ({why})")
    if counts.pop("not_rewritten", 0):
        print("geomonitor: the file could not be rewritten (no room for VACUUM's copy): the "
              "removed rows are zeroed, free pages remain until the next run",
              file=sys.stderr)  # fmt: skip
    verb = "due" if args.dry_run else "removed"
    print(f"{len(new)} subjects {verb}: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    if len(new) < len(p.due):
        print(f"({len(p.due) - len(new)} removed before, their kept evidence looked at again)")
    return 0


def run_subject(args: argparse.Namespace) -> int:
    now = int(time.time() * 1000)
    with open_store(args) as st:
        if args.action == "withdraw":
            at = parse_when(args.at, "--at")
            if at is None:
                raise InputError("--at: when consent ended")
            tags = withdraw(st, args.subject, at, _by(), "cli", now)
            print(f"{args.subject}: consent withdrawn; fixes from then are refused")
            for t in tags:
                print(f"  tag {t} is due for removal: geomonitor tags remove {t} --reason "
                      "'consent withdrawn'")  # fmt: skip
            return 0
        doc = export(st, args.subject)
    args.consult.about([args.subject])
    for p in write_export(doc, args.out):
        print(p)
    return 0
