"""What every command shares: the store argument, the engine's thresholds."""

from __future__ import annotations

import argparse
from pathlib import Path

from pydantic import ValidationError

from ...engine import EngineConfig
from ...io.kafka.config import MapsSection, load_maps_config
from ...model.errors import ConfigError
from ...rules.config import DeviceConfig
from ...store.domain import DB_ENV, Store, default_db_path
from ..maps.base import Tiles


def db_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db",
        type=Path,
        default=None,
        help=f"database file (default: ${DB_ENV} or ./geomonitor.db)",
    )


def open_store(args: argparse.Namespace, create: bool = False) -> Store:
    """The store named by ``--db`` (or the default); only loading a registry creates one."""
    return Store(args.db or default_db_path(), create=create)


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
    p.add_argument(
        "--no-contact-minutes",
        type=float,
        default=d.device.no_contact_minutes,
        metavar="MIN",
        help="silence of a fitted tag that is an outage (one no_contact candidate)",
    )
    p.add_argument(
        "--absence-accuracy",
        type=float,
        default=d.curfew_good_accuracy_m,
        metavar="M",
        help="an absence opens on away fixes at least this accurate ...",
    )
    p.add_argument(
        "--lateness-minutes",
        type=float,
        default=d.curfew_lateness_minutes,
        metavar="MIN",
        help="minutes late for curfews an order may add up in a month (a candidate past it)",
    )
    p.add_argument(
        "--absence-minutes",
        type=float,
        default=d.curfew_min_away_minutes,
        metavar="MIN",
        help="... or on away evidence lasting at least this long",
    )


def engine_config(args: argparse.Namespace) -> EngineConfig:
    return EngineConfig(
        default_accuracy_m=args.default_accuracy,
        open_after=args.open_after,
        close_after=args.close_after,
        curfew_no_signal_minutes=args.no_signal_minutes,
        curfew_good_accuracy_m=args.absence_accuracy,
        curfew_min_away_minutes=args.absence_minutes,
        curfew_lateness_minutes=args.lateness_minutes,
        device=DeviceConfig(no_contact_minutes=args.no_contact_minutes),
    )


def tiles_args(p: argparse.ArgumentParser) -> None:
    """``--tiles`` and ``--config``: the force's tile server for the maps."""
    p.add_argument("--tiles", metavar="URL", help="the force's tile server, a URL template "
                   "such as https://tiles.example/{z}/{x}/{y}.png (default: [maps] tiles of "
                   "--config, or $GEOMONITOR_MAPS_TILES)")  # fmt: skip
    p.add_argument("--config", help="TOML file with a [maps] table (tiles, attribution)")


def map_tiles(args: argparse.Namespace) -> Tiles | None:
    """The tile server asked for: ``--tiles``, else the configuration's ``[maps] tiles``."""
    cfg = load_maps_config(getattr(args, "config", None))
    if getattr(args, "tiles", None):
        try:
            cfg = MapsSection(tiles=args.tiles, attribution=cfg.attribution)
        except ValidationError as e:
            raise ConfigError(
                f"--tiles {args.tiles!r}: not {e.errors()[0]['msg'].removeprefix('Value error, ')}"
            ) from None
    return None if cfg.tiles is None else Tiles(cfg.tiles, cfg.attribution)
