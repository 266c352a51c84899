"""``geomonitor alerts``, ``devices`` and ``rejected``: what the desk and the device audit
read from the store."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..tables import candidate_table, device_table, show
from .common import db_arg, open_store

#: Fields of ``alerts show``, in the order printed.
_SHOWN = (
    "id",
    "kind",
    "status",
    "subject_id",
    "order_id",
    "condition_id",
    "zone_id",
    "opened_at",
    "closed_at",
    "close_reason",
    "fix_count",
    "uncertain_count",
    "max_penetration_m",
    "last_evidence_at",
)


def add_parser(sub: Any) -> None:
    al = sub.add_parser("alerts", help="breach candidates for the monitoring desk")
    asub = al.add_subparsers(dest="action", required=True)
    p = asub.add_parser("list", help="list candidates")
    db_arg(p)
    p.add_argument("--status", choices=["open", "closed"])
    p.add_argument("--subject", help="only this subject")
    p.add_argument("--format", choices=["table", "jsonl"], default="table")
    p = asub.add_parser("show", help="one candidate with its evidence and history")
    p.add_argument("id")
    db_arg(p)
    p.add_argument("--format", choices=["text", "json"], default="text")
    al.set_defaults(func=run_alerts)

    p = sub.add_parser("devices", help="device health events per tag (faulty-unit audit)")
    db_arg(p)
    p.add_argument("--tag", help="only this tag")
    p.add_argument("--kind", help="only this kind (strap_tamper, low_battery, ...)")
    p.add_argument("--format", choices=["table", "jsonl"], default="table")
    p.set_defaults(func=run_devices)

    p = sub.add_parser("rejected", help="records rejected on input, with reasons")
    db_arg(p)
    p.add_argument("--reason")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument(
        "--show-raw", action="store_true", help="include raw records (may hold personal data)"
    )
    p.set_defaults(func=run_rejected)


def run_alerts(args: argparse.Namespace) -> int:
    with open_store(args) as st:
        if args.action == "list":
            cands = st.candidates(args.status, args.subject)
            if args.format == "jsonl":
                for cand in cands:
                    print(json.dumps(cand.to_json()))
            elif not cands:
                print("no candidates")
            else:
                show(candidate_table(cands))
            return 0
        c = st.candidate(args.id)
        if c is None:
            print(f"geomonitor: no candidate {args.id}", file=sys.stderr)
            return 1
        hist = st.candidate_history(c.id)
    d = c.to_json()
    if args.format == "json":
        d["history"] = hist
        print(json.dumps(d, indent=2))
        return 0
    for k in _SHOWN:
        print(f"{k:<18} {d.get(k)}")
    print(f"{'explanation':<18} {c.explanation}")
    for k, v in c.details.items():
        print(f"{k:<18} {v}")
    reads = sum(ref.startswith("ANPR:") for ref in c.evidence)
    what = [f"{len(c.evidence) - reads} fixes"] + ([f"{reads} ANPR reads"] if reads else [])
    if c.zone_id is not None and c.kind in ("exclusion_zone", "outside_inclusion_zone"):
        what.append(f"{c.fix_count} wholly past the boundary, {c.uncertain_count} straddling it")
    print(f"evidence ({', '.join(what)}):")
    for ref in c.evidence[:50]:
        print(f"    {ref}")
    if len(c.evidence) > 50:
        print(f"    ... {len(c.evidence) - 50} more (use --format json)")
    print("history:")
    for h in hist:
        print(f"    {h['recorded_at']}  {h['action']}")
    return 0


def run_devices(args: argparse.Namespace) -> int:
    with open_store(args) as st:
        events = st.device_events(args.tag, args.kind)
    if args.format == "jsonl":
        for ev in events:
            print(json.dumps(ev))
    elif not events:
        print("no device events")
    else:
        show(device_table(events))
    return 0


def run_rejected(args: argparse.Namespace) -> int:
    with open_store(args) as st:
        counts = st.rejection_counts()
        if not counts:
            print("no rejected records")
            return 0
        print("rejected records by reason: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        for r in st.rejections(args.reason, args.limit):
            line = f"  {r['kind']:<5} {r['source']} {r['locator']}: {r['message']}"
            if args.show_raw:
                line += f"\n        raw: {r['raw']}"
            print(line)
    return 0
