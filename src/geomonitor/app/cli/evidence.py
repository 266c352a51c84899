"""``geomonitor evidence pack|verify``: evidence packs for a case file (:mod:`..pack`)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from ...model.crime import CrimeError, parse_crime_rows, parse_own_row
from ...model.errors import InputError
from ..pack import candidate_pack, crime_pack, verify, write_pack
from .common import db_arg, open_store


def add_parser(sub: Any) -> None:
    ev = sub.add_parser(
        "evidence",
        help="evidence packs: a candidate or a crime match, "
        "for a case file, with a manifest that shows a change",
    )
    es = ev.add_subparsers(dest="action", required=True)
    p = es.add_parser("pack", help="a candidate (ID), or a crime match (--crime --subject)")
    p.add_argument("id", nargs="?", help="the candidate's id")
    p.add_argument("--crime", help="the crime's reference (with --subject)")
    p.add_argument("--subject", help="the subject matched against the crime")
    p.add_argument(
        "--crimes",
        type=Path,
        help="the batch file holding the crime (as for "
        "'crimes match'); or give it with the options below",
    )
    p.add_argument("--type", default="unknown")
    for name in ("lat", "lon", "easting", "northing"):
        p.add_argument(f"--{name}", default="")
    p.add_argument("--from", dest="start", help="the crime's window: ISO time with a zone")
    p.add_argument("--to", dest="end")
    p.add_argument("--out", type=Path, required=True, help="a new folder for the pack")
    p.add_argument("--exhibit", help="the exhibit reference (default GM/ and the id)")
    db_arg(p)
    p = es.add_parser("verify", help="is a pack the one produced? (its manifest)")
    p.add_argument("folder", type=Path)
    ev.set_defaults(func=run_evidence)


def _crime(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    if args.crimes is not None:
        crimes, _ = parse_crime_rows(args.crimes.read_text(encoding="utf-8-sig", errors="replace"))
        found = [c for c in crimes if c.ref == args.crime]
        if not found:
            raise InputError(f"--crime {args.crime}: not in {args.crimes}")
        return found[0]
    if not args.start or not args.end:
        raise InputError("a crime needs --crimes FILE, or --from, --to and a place")
    row = {
        "crime_ref": args.crime,
        "type": args.type,
        "from": args.start,
        "to": args.end,
        "lat": args.lat,
        "lon": args.lon,
        "easting": args.easting,
        "northing": args.northing,
    }
    try:
        return parse_own_row(row, 1)
    except CrimeError as err:
        raise InputError(err.message.replace("line 1: ", "")) from None


def run_evidence(args: argparse.Namespace) -> int:
    if args.action == "verify":
        c = verify(args.folder)
        if c.problem:
            print(f"geomonitor: {c.problem}", file=sys.stderr)
            return 2
        for what, names in (
            ("changed", c.changed),
            ("missing", c.missing),
            ("not in the manifest", c.extra),
        ):
            for n in names:
                print(f"{what}: {n}")
        state = "intact" if c.intact else "CHANGED"
        print(f"{state}: {c.files} files against manifest.json (SHA-256 {c.manifest_sha256})")
        return 0 if c.intact else 1
    if bool(args.id) == bool(args.crime):
        raise InputError("give a candidate's id, or --crime REF with --subject")
    now = int(time.time() * 1000)
    with open_store(args) as st:
        if args.id:
            pack = candidate_pack(st, args.id, args.exhibit or f"GM/{args.id}", now)
        else:
            if not args.subject:
                raise InputError("--crime needs --subject (the subject matched against it)")
            crime = _crime(args)
            pack = crime_pack(st, crime, args.subject, args.exhibit or f"GM/{crime.ref}", now)
        digest = write_pack(pack, args.out, now)
    args.consult.about(pack.subjects, pack.districts)
    args.consult.target = pack.ref
    args.consult.detail = f"exhibit {pack.exhibit}; manifest sha256 {digest}"
    print(f"exhibit {pack.exhibit}: {pack.title}")
    print(
        f"   {args.out}/pack.pdf, positions .csv .geojson .kml, map.png ({len(pack.positions)} "
        "positions)"
    )
    print(f"   manifest.json SHA-256 {digest} (in the consultation log with the purpose given)")
    return 0
