"""``geomonitor crimes match FILE`` and ``geomonitor crimes check``: reported crimes against
the tag trails: hits, eliminations, and a map for every hit."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ...model.crime import CrimeError, parse_crime_rows, parse_own_row
from ..crimes.match import CrimeConfig
from ..crimes.report import run_batch
from ..tables import show, table
from .common import db_arg, map_tiles, open_store, tiles_args


def _settings(p: argparse.ArgumentParser) -> None:
    d = CrimeConfig()
    p.add_argument("--out", type=Path, required=True, help="folder for the results")
    p.add_argument("--radius", type=float, default=d.radius_m, metavar="M",
                   help="vicinity radius (metres) for types without their own")  # fmt: skip
    p.add_argument("--top-speed", type=float, default=d.top_speed_kmh, metavar="KMH",
                   help="top speed between fixes, for types without their own")  # fmt: skip
    p.add_argument("--margin", type=float, default=d.margin_minutes, metavar="MIN",
                   help="minutes either side of the window a tag must be worn")  # fmt: skip
    p.add_argument("--no-type-defaults", action="store_true",
                   help="use --radius and --top-speed for every crime type")  # fmt: skip
    p.add_argument("--no-maps", action="store_true", help="no map per hit")
    p.add_argument("--offline", action="store_true", help="maps that fetch nothing")
    tiles_args(p)
    db_arg(p)


def add_parser(sub: Any) -> None:
    cr = sub.add_parser("crimes", help="identify and eliminate tagged people for reported crimes")
    cs = cr.add_subparsers(dest="action", required=True)
    p = cs.add_parser("match", help="a batch file: our headed CSV or the national layout")
    p.add_argument("file", type=Path)
    _settings(p)
    p = cs.add_parser("check", help="one crime given on the command line")
    p.add_argument("--ref", required=True)
    p.add_argument("--type", default="unknown", help="e.g. BIAD, TFMV, or words")
    p.add_argument("--lat", default="")
    p.add_argument("--lon", default="")
    p.add_argument("--easting", default="")
    p.add_argument("--northing", default="")
    p.add_argument("--from", dest="start", required=True, help="ISO time with a zone")
    p.add_argument("--to", dest="end", required=True, help="ISO time with a zone")
    _settings(p)
    cr.set_defaults(func=run_crimes)


def run_crimes(args: argparse.Namespace) -> int:
    cfg = CrimeConfig(args.radius, args.top_speed, args.margin, by_type=not args.no_type_defaults)
    if args.action == "match":
        text = args.file.read_text(encoding="utf-8-sig", errors="replace")
        crimes, bad = parse_crime_rows(text)
    else:
        row = {"crime_ref": args.ref, "type": args.type, "from": args.start, "to": args.end,
               "lat": args.lat, "lon": args.lon, "easting": args.easting,
               "northing": args.northing}  # fmt: skip
        try:
            crimes, bad = [parse_own_row(row, 1)], []
        except CrimeError as err:
            print(f"geomonitor: {err.message.replace('line 1: ', '')}", file=sys.stderr)
            return 2
    for refused in bad:
        print(f"geomonitor: refused {refused.message}", file=sys.stderr)
    with open_store(args) as st:
        summary = run_batch(st, crimes, bad, args.out, cfg, not args.no_maps, args.offline,
                            map_tiles(args))  # fmt: skip
    args.consult.about(s for r in summary["results"] for s in r["hits"])
    args.consult.detail = f"{len(crimes)} crimes"
    rows = [[r["crime_ref"], r["type"], str(len(r["hits"])), str(len(r["eliminated"])),
             str(len(r["cannot_eliminate"]))] for r in summary["results"]]  # fmt: skip
    show(table(["crime", "type", "hits", "eliminated", "cannot eliminate"], rows))
    print(f"{len(crimes)} crimes matched, {len(bad)} rows refused; results in {args.out}/")
    return 1 if bad and not crimes else 0
