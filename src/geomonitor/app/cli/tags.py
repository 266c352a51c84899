"""``geomonitor tags ...``, ``geomonitor demand ...`` and ``geomonitor audit monthly``: the
tag inventory, district demand, flexing and the monthly audit."""

from __future__ import annotations

import argparse
import getpass
import os
import time
from pathlib import Path
from typing import Any

from ...model.inventory import FLAGS, HELD, InventoryError, TagEvent, state_at
from ...model.registry import district_name
from ...model.text import local_short
from ...model.times import MS_PER_DAY
from ..audit.figures import district_rows, flex
from ..audit.report import write_monthly
from ..audit.units import change, district_code
from ..tables import show, table
from .alerts import parse_when
from .common import db_arg, open_store


def _who(p: argparse.ArgumentParser, reason_required: bool = False) -> None:
    p.add_argument("--at", help="when it took effect (ISO time with zone, or a date; default now)")
    p.add_argument("--by", help="who records it (default $GEOMONITOR_USER or the login name)")
    p.add_argument("--reason", required=reason_required, default="", help="why")
    db_arg(p)


def add_parser(sub: Any) -> None:
    tg = sub.add_parser("tags", help="the tag inventory: units, fittings, flags, transfers")
    ts = tg.add_subparsers(dest="action", required=True)
    p = ts.add_parser("list", help="every unit and its state now")
    p.add_argument("--district", help="only units of this district (code or name; 'stock')")
    p.add_argument("--state", choices=["in_stock", "allocated", "fitted", *FLAGS])
    db_arg(p)
    p = ts.add_parser("show", help="one unit: state and history")
    p.add_argument("tag")
    db_arg(p)
    p = ts.add_parser("history", help="every change to one unit: when, who, why")
    p.add_argument("tag")
    db_arg(p)
    p = ts.add_parser("add", help="a new unit, into stock or straight to a district")
    p.add_argument("tag")
    p.add_argument("--district", help="allocate it to this district (default: in stock)")
    p.add_argument("--model", help="the unit's model")
    _who(p)
    for name, text in (("allocate", "allocate a unit in stock to a district"),
                       ("transfer", "move an unfitted unit to another district")):  # fmt: skip
        p = ts.add_parser(name, help=text)
        p.add_argument("tag")
        p.add_argument("district", help="district code or name ('stock' to return it to stock)")
        _who(p, reason_required=name == "transfer")
    p = ts.add_parser("fit", help="fit an allocated unit to a subject of its district")
    p.add_argument("tag")
    p.add_argument("subject")
    p.add_argument("--consent-recorded-at", help="when consent was recorded (required)")
    p.add_argument("--guardian", help="the guardian who consented (wearers under 18)")
    p.add_argument("--guardian-present", action="store_true", help="the guardian was present")
    p.add_argument("--second-tag", action="store_true",
                   help="the subject wears another tag and both are meant")  # fmt: skip
    _who(p)
    p = ts.add_parser("remove", help="take a fitted unit off its wearer")
    p.add_argument("tag")
    _who(p)
    p = ts.add_parser("flag", help="mark a unit faulty, damaged, lost, returned, retired ...")
    p.add_argument("tag")
    p.add_argument("status", choices=list(FLAGS))
    p.add_argument("--replaced-by", metavar="TAG", help="the unit that replaces it")
    _who(p, reason_required=True)
    p = ts.add_parser("usage", help="a period's figures per district, and idle units")
    p.add_argument("--from", dest="start", required=True, help="from (ISO time or date)")
    p.add_argument("--to", dest="end", required=True, help="to (ISO time or date; exclusive)")
    p.add_argument("--district", help="only this district (code or name)")
    db_arg(p)
    p = ts.add_parser("flex", help="recommended transfers of idle units towards demand")
    p.add_argument("--at", help="as at (default now)")
    db_arg(p)
    tg.set_defaults(func=run_tags)

    dm = sub.add_parser("demand", help="referrals waiting for a tag, per district")
    ds = dm.add_subparsers(dest="action", required=True)
    p = ds.add_parser("set", help="record a district's referrals waiting")
    p.add_argument("district")
    p.add_argument("waiting", type=int)
    _who(p)
    p = ds.add_parser("list", help="every demand figure recorded")
    db_arg(p)
    dm.set_defaults(func=run_demand)

    au = sub.add_parser("audit", help="the monthly tag audit")
    aus = au.add_subparsers(dest="action", required=True)
    p = aus.add_parser("monthly", help="the month's CSV files and printable report")
    p.add_argument("--month", required=True, help="YYYY-MM")
    p.add_argument("--out", type=Path, default=Path("."), help="folder to write into")
    db_arg(p)
    au.set_defaults(func=run_audit)


def _now_or(args: argparse.Namespace) -> int:
    t = parse_when(getattr(args, "at", None), "--at")
    return t if t is not None else int(time.time() * 1000)


def _actor(args: argparse.Namespace) -> str:
    return args.by or os.environ.get("GEOMONITOR_USER") or getpass.getuser()


def run_tags(args: argparse.Namespace) -> int:
    with open_store(args) as st:
        reg = st.current_registry()
        if args.action == "list":
            return _list(st, reg, args)
        if args.action in ("show", "history"):
            hist = st.tag_history(args.tag)
            if not hist:
                raise InventoryError(f"tag {args.tag}: not in the inventory")
            if args.action == "show":
                u = st.unit_timelines()[args.tag][-1]
                name = reg.districts[u.district].name if u.district in reg.districts else "-"
                print(f"tag       {args.tag}\nstate     {u.state}\ndistrict  {name}")
                print(f"wearer    {u.subject_id or '-'}\nsince     {local_short(u.since)}")
            rows = [
                [local_short(h["at"]), h["action"], h["status"] or "",
                 district_name(reg, h["district"]) if h["district"] else "",
                 h["subject_id"] or "", h["actor"], h["source"], h["reason"]]
                for h in hist
            ]  # fmt: skip
            heads = ["when", "change", "status", "district", "subject", "by", "via", "why"]
            show(table(heads, rows))
            return 0
        if args.action == "flex":
            return _flex(st, reg, args)
        if args.action == "usage":
            return _usage(st, reg, args)
        at, who = _now_or(args), _actor(args)
        a = args.action
        if a == "add":
            e = TagEvent(args.tag, at, "add", district_code(reg, args.district), None, None,
                         args.reason, who)  # fmt: skip
            u = change(st, e, model=args.model)
        elif a in ("allocate", "transfer"):
            d = district_code(reg, args.district)
            u = change(st, TagEvent(args.tag, at, a, d, reason=args.reason, actor=who))
        elif a == "fit":
            consent = parse_when(args.consent_recorded_at, "--consent-recorded-at")
            e = TagEvent(args.tag, at, "fit", None, args.subject, reason=args.reason, actor=who)
            u = change(st, e, consent_at=consent, guardian=args.guardian,
                       guardian_present=args.guardian_present,
                       second_tag=args.second_tag)  # fmt: skip
        elif a == "remove":
            u = change(st, TagEvent(args.tag, at, "remove", reason=args.reason, actor=who))
        else:
            why = args.reason
            if args.replaced_by:
                if args.replaced_by not in st.unit_timelines():
                    raise InventoryError(f"tag {args.replaced_by}: not in the inventory")
                why = f"{why}; replaced by {args.replaced_by}".lstrip("; ")
            e = TagEvent(args.tag, at, "flag", status=args.status, reason=why, actor=who)
            u = change(st, e)
        where = reg.districts[u.district].name if u.district in reg.districts else "stock"
        print(
            f"{args.tag}: {u.state} ({where}){f', worn by {u.subject_id}' if u.subject_id else ''}"
        )
    return 0


def _list(st: Any, reg: Any, args: argparse.Namespace) -> int:
    now = int(time.time() * 1000)
    want = None if args.district is None else district_code(reg, args.district)
    rows = []
    for tag, states in sorted(st.unit_timelines().items()):
        u = states[-1]
        if args.district is not None and u.district != want:
            continue
        if args.state and u.state != args.state:
            continue
        name = reg.districts[u.district].name if u.district in reg.districts else "stock"
        days = (now - u.since) / MS_PER_DAY
        rows.append([tag, u.state, name, u.subject_id or "", local_short(u.since), f"{days:.0f}"])
    show(table(["tag", "state", "district", "wearer", "since", "days"], rows))
    return 0


def _usage(st: Any, reg: Any, args: argparse.Namespace) -> int:
    lo, hi = parse_when(args.start, "--from"), parse_when(args.end, "--to")
    assert lo is not None and hi is not None
    if hi <= lo:
        raise InventoryError("--to must be after --from")
    districts = {c: d.name for c, d in sorted(reg.districts.items(), key=lambda kv: kv[1].name)}
    if args.district is not None:
        code = district_code(reg, args.district)
        districts = {c: n for c, n in districts.items() if c == code}
    lines = st.unit_timelines()
    rows = district_rows("", lines, set(st.fix_tags(lo, hi)), st.demand_at(hi - 1), districts,
                         lo, hi)  # fmt: skip
    if args.district is not None:
        rows = rows[:-1]
    heads = ["district", "unit-days held", "unit-days fitted", "utilisation", "held", "fitted",
             "active", "inactive", "waiting"]  # fmt: skip
    show(table(heads, [
        [r.district, f"{r.unit_days_allocated:.1f}", f"{r.unit_days_fitted:.1f}",
         f"{r.utilisation_pct:.1f}%", str(r.units_allocated), str(r.units_fitted),
         str(r.units_active), str(r.units_inactive), str(r.demand_waiting)]
        for r in rows
    ]))  # fmt: skip
    idle = []
    for tag, states in sorted(lines.items()):
        s = state_at(states, hi - 1)
        if s is not None and s.state == "allocated" and s.district in districts:
            idle.append([tag, districts[s.district], f"{(hi - s.since) / MS_PER_DAY:.0f}"])
    print(f"\nidle units at the end ({len(idle)}): allocated, not worn")
    if idle:
        show(table(["tag", "district", "idle days"], idle))
    return 0


def _flex(st: Any, reg: Any, args: argparse.Namespace) -> int:
    at = _now_or(args)
    districts = {c: d.name for c, d in sorted(reg.districts.items(), key=lambda kv: kv[1].name)}
    lines = st.unit_timelines()
    moves = flex(lines, st.demand_at(at), districts, at)
    held = {d: 0 for d in districts}
    for states in lines.values():
        s = state_at(states, at)
        if s is not None and s.state in HELD and s.district in held:
            held[s.district] += 1
    if not moves:
        print("no transfer recommended: no district has idle units while another has demand")
        return 0
    rows = [
        [m.tag_id, m.from_district, m.to_district, f"{m.idle_days:.0f}",
         f"{m.from_before:.0f}% -> {m.from_after:.0f}%", f"{m.to_before:.0f}% -> {m.to_after:.0f}%",
         m.reason]
        for m in moves
    ]  # fmt: skip
    heads = ["tag", "from", "to", "idle days", "from utilisation", "to utilisation", "why"]
    show(table(heads, rows))
    print(
        "recommendations only: apply one with `geomonitor tags transfer TAG DISTRICT --reason ...`"
    )
    return 0


def run_demand(args: argparse.Namespace) -> int:
    with open_store(args) as st:
        if args.action == "set":
            reg = st.current_registry()
            code = district_code(reg, args.district)
            if code is None:
                raise InventoryError("demand is per district, not for stock")
            if args.waiting < 0:
                raise InventoryError(f"waiting: {args.waiting} is below zero")
            with st.transaction():
                st.set_demand(code, _now_or(args), args.waiting, _actor(args), args.reason)
            print(f"{reg.districts[code].name}: {args.waiting} referrals waiting")
            return 0
        rows = [
            [local_short(h["at"]), h["district"], str(h["waiting"]), h["actor"], h["reason"]]
            for h in st.demand_history()
        ]
        show(table(["when", "district", "waiting", "by", "why"], rows))
    return 0


def run_audit(args: argparse.Namespace) -> int:
    with open_store(args) as st:
        paths = write_monthly(st, args.month, args.out, now=int(time.time() * 1000))
    for p in paths:
        print(p)
    return 0
