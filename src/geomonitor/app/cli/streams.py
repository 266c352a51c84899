"""``geomonitor consume`` and ``produce``: the Kafka side."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from .common import db_arg


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "consume",
        help="run a Kafka stream consumer (fixes or ANPR reads) into the store, or the "
        "co-location follower (non-association, undeclared vehicles) of the store",
    )
    p.add_argument("input", choices=["fixes", "anpr", "colocation"])
    _stream_args(p)
    p.add_argument(
        "--idle-exit",
        type=float,
        default=None,
        metavar="S",
        help="stop after S seconds with nothing to consume (default: run until SIGTERM)",
    )
    p.set_defaults(func=run_consume)

    p = sub.add_parser("produce", help="publish fix and ANPR read files to the input topics")
    _stream_args(p)
    p.add_argument("--fixes", type=Path, help="fix file (JSONL/CSV, gzip allowed)")
    p.add_argument("--anpr", type=Path, help="ANPR read file")
    p.add_argument(
        "--partitions",
        type=int,
        default=4,
        help="partitions for topics that do not exist yet (default 4)",
    )
    p.set_defaults(func=run_produce)


def _stream_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        type=Path,
        default=None,
        help="TOML configuration (see docs/deployment.md); GEOMONITOR_* variables override it",
    )
    p.add_argument("--bootstrap-servers", default=None, help="Kafka brokers, host:port,...")
    p.add_argument("--group-id", default=None, help="consumer group")
    db_arg(p)


def _stream_config(args: argparse.Namespace) -> Any:
    from ...io.kafka import load_config

    cfg = load_config(args.config)
    if args.bootstrap_servers:
        cfg.bootstrap_servers = args.bootstrap_servers
    if args.group_id:
        cfg.group_id = args.group_id
    if args.db:
        cfg.store = str(args.db)
    return cfg


def run_consume(args: argparse.Namespace) -> int:
    from ...io.kafka import open_consumer
    from ...store.domain import Store

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    cfg = _stream_config(args)
    if args.idle_exit is not None:
        cfg.idle_exit_s = args.idle_exit
    with Store(cfg.store, create=False) as store:
        stats = open_consumer(cfg, args.input, store).run()
    print(
        f"consumed {stats.messages:,} messages ({stats.accepted:,} accepted, "
        f"{stats.rejected:,} dead-lettered), published {stats.published:,} output messages "
        f"in {stats.seconds:.1f} s"
    )
    return 0


def run_produce(args: argparse.Namespace) -> int:
    from ...io.kafka import ensure_topics, produce

    cfg = _stream_config(args)
    ensure_topics(cfg, args.partitions)
    counts = produce(cfg, args.fixes, args.anpr)
    for topic, n in counts.items():
        print(f"{topic}: {n:,} messages")
    return 0
