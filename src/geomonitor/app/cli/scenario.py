"""``geomonitor simulate`` and ``demo``: synthetic scenarios, and the whole pipeline on one."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("simulate", help="write a synthetic West Yorkshire scenario")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--subjects", type=int, default=30)
    p.add_argument("--days", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--start",
        default="2026-11-16T00:00:00Z",
        help="when it begins: an ISO time with its zone, or a local (UK) date",
    )
    p.set_defaults(func=run_simulate)

    p = sub.add_parser("demo", help="simulate, load, replay and show what the desk would see")
    p.add_argument("--out", type=Path, default=Path("demo-output"))
    p.add_argument("--subjects", type=int, default=30)
    p.add_argument("--days", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    p.set_defaults(func=run_demo)


def run_simulate(args: argparse.Namespace) -> int:
    from ...model.times import iso
    from ...sim import simulate
    from .alerts import parse_when

    start = parse_when(args.start, "--start")
    assert start is not None  # the option has a default
    truth = simulate(args.out, args.subjects, args.days, args.seed, str(iso(start)))
    print(
        f"wrote {args.out}/registry.json, fixes.jsonl ({truth['fixes']:,} fixes), "
        f"anpr.jsonl, truth.json ({len(truth['breaches'])} planted breaches)"
    )
    return 0


def run_demo(args: argparse.Namespace) -> int:
    from ..demo import run_demo

    return run_demo(args.out, args.subjects, args.days, args.seed)
