"""``geomonitor map curfew|alert|trail|zones``: self-contained HTML maps (``maps/`` by
default, or ``--out FILE``); ``--offline`` for networks that block outside sites."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from ...model.errors import InputError
from ...model.times import MS_PER_MINUTE, UK, to_datetime
from ..maps.alert import alert_map
from ..maps.curfew import curfew_map
from ..maps.trail import trail_map
from ..maps.zones import zones_map
from .alerts import parse_when
from .common import db_arg, map_tiles, open_store, tiles_args

DEFAULT_DIR = Path("maps")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, help="the HTML file to write (default: in ./maps/)")
    p.add_argument(
        "--offline",
        action="store_true",
        help="no request leaves the page: Leaflet inlined, boundaries instead of tiles "
        "(with --tiles, the force's tile server is the one request made)",
    )
    tiles_args(p)
    db_arg(p)


def add_parser(sub: Any) -> None:
    mp = sub.add_parser(
        "map", help="map exports: curfew checks, an alert's evidence, trails, zones"
    )
    ms = mp.add_subparsers(dest="action", required=True)
    p = ms.add_parser("curfew", help="subjects of a district under curfew, in visiting order")
    p.add_argument("--district", required=True, help="district code or name")
    p.add_argument("--at", help="the instant (ISO time with zone, or a date; default now)")
    p.add_argument("--ahead", type=float, default=120, metavar="MIN",
                   help="also curfews starting within this many minutes (default 120)")  # fmt: skip
    p.add_argument("--start", metavar="LAT,LON", help="where the route starts (default: the "
                   "district's centre)")  # fmt: skip
    _common(p)
    p = ms.add_parser("alert", help="a candidate's evidence")
    p.add_argument("id")
    _common(p)
    p = ms.add_parser("trail", help="a subject's trail with a time slider")
    p.add_argument("subject")
    p.add_argument("--from", dest="start", required=True, help="from (ISO time or date)")
    p.add_argument("--to", dest="end", required=True, help="to (ISO time or date)")
    _common(p)
    p = ms.add_parser("zones", help="every zone with its conditions and districts")
    p.add_argument("--district", help="only zones touching this district")
    _common(p)
    mp.set_defaults(func=run_map)


def _stamp(ms: int) -> str:
    return to_datetime(ms).astimezone(UK).strftime("%Y%m%d-%H%M")


def _start(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    try:
        lat, lon = (float(v) for v in text.split(","))
    except ValueError:
        raise InputError(f"--start {text!r}: expected LAT,LON, e.g. 53.7997,-1.5492") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise InputError(f"--start {text!r}: not a latitude and longitude")
    return lat, lon


def run_map(args: argparse.Namespace) -> int:
    off = "-offline" if args.offline else ""
    tiles = map_tiles(args)
    with open_store(args) as st:
        if args.action == "curfew":
            at = parse_when(args.at, "--at") or int(time.time() * 1000)
            name = args.district.lower().replace(" ", "-")
            out = args.out or DEFAULT_DIR / f"curfew-{name}-{_stamp(at)}{off}.html"
            path = curfew_map(st, args.district, at, out, int(args.ahead * MS_PER_MINUTE),
                              _start(args.start), args.offline, tiles)  # fmt: skip
        elif args.action == "alert":
            out = args.out or DEFAULT_DIR / f"alert-{args.id}{off}.html"
            path = alert_map(st, args.id, out, args.offline, tiles)
            c = st.candidate(args.id)
            args.consult.about([c.subject_id] if c else [])
        elif args.action == "trail":
            lo, hi = parse_when(args.start, "--from"), parse_when(args.end, "--to")
            assert lo is not None and hi is not None
            out = args.out or DEFAULT_DIR / f"trail-{args.subject}-{_stamp(lo)}{off}.html"
            path = trail_map(st, args.subject, lo, hi, out, args.offline, tiles)
            args.consult.about([args.subject])
        else:
            name = (args.district or "all").lower().replace(" ", "-")
            out = args.out or DEFAULT_DIR / f"zones-{name}{off}.html"
            path = zones_map(st, out, args.district, args.offline, tiles)
    print(path)
    return 0
