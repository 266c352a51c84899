"""``geomonitor auditlog verify|show``: the consultation and audit log."""

from __future__ import annotations

import argparse
from typing import Any

from ...model.text import local_short
from ..tables import show, table
from .common import db_arg, open_store


def add_parser(sub: Any) -> None:
    al = sub.add_parser("auditlog", help="the consultation and audit log")
    als = al.add_subparsers(dest="action", required=True)
    p = als.add_parser("verify", help="check the log has not been changed, cut or rewritten")
    db_arg(p)
    p = als.add_parser("show", help="the latest rows (who looked at what, when, why)")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--subject", help="only rows about this subject")
    p.add_argument("--district", help="only rows about this district (code)")
    db_arg(p)
    al.set_defaults(func=run_auditlog)


def run_auditlog(args: argparse.Namespace) -> int:
    with open_store(args) as st:
        if args.action == "verify":
            v = st.audit_verify()
            if v.ok:
                print(f"intact: {v.rows:,} rows, checkpoints up to row {v.checkpoint_seq:,}")
                return 0
            print(f"BROKEN at row {v.broken_at} ({v.rows:,} rows held):")
            for p in v.problems[:20]:
                print(f"  {p}")
            return 1
        rows = st.audit_log(args.limit, district=args.district, subject=args.subject)
    show(table(
        ["#", "when", "who", "what", "about", "from", "why", "outcome", "district"],
        [[str(r["seq"]), local_short(r["at"]), r["actor"], r["action"], r["target"] or "",
          r["origin"], r["purpose"] or "", r["outcome"], r["district"] or ""] for r in rows],
    ))  # fmt: skip
    return 0
