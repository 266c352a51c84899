"""What every command shares: the store argument, the engine's thresholds."""

from __future__ import annotations

import argparse
from pathlib import Path

from ...engine import EngineConfig
from ...store.domain import DB_ENV, Store, default_db_path


def db_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db",
        type=Path,
        default=None,
        help=f"database file (default: ${DB_ENV} or ./geomonitor.db)",
    )


def open_store(args: argparse.Namespace) -> Store:
    return Store(args.db or default_db_path())


def config_args(p: argparse.ArgumentParser) -> None:
    d = EngineConfig()
    p.add_argument(
        "--default-accuracy",
        type=float,
        default=d.default_accuracy_m,
        metavar="M",
        help="accuracy radius of fixes that give none (metres)",
    )
    p.add_argument(
        "--open-after",
        type=int,
        default=d.open_after,
        metavar="N",
        help="consecutive inside fixes that open a candidate",
    )
    p.add_argument(
        "--close-after",
        type=int,
        default=d.close_after,
        metavar="N",
        help="consecutive outside fixes that close an episode",
    )
    p.add_argument(
        "--no-signal-minutes",
        type=float,
        default=d.curfew_no_signal_minutes,
        metavar="MIN",
        help="silence inside a curfew window that raises curfew_no_signal",
    )


def engine_config(args: argparse.Namespace) -> EngineConfig:
    return EngineConfig(
        default_accuracy_m=args.default_accuracy,
        open_after=args.open_after,
        close_after=args.close_after,
        curfew_no_signal_minutes=args.no_signal_minutes,
    )
