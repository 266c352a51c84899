"""The ``geomonitor`` command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from .. import __version__
from ..engine import EngineConfig
from ..model.errors import GeomonitorError
from ..model.registry_load import load_registry_file
from ..model.times import iso
from ..store.domain import DB_ENV, Store, default_db_path


def _db_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db",
        type=Path,
        default=None,
        help=f"database file (default: ${DB_ENV} or ./geomonitor.db)",
    )


def _store(args: argparse.Namespace) -> Store:
    return Store(args.db or default_db_path())


def _config_args(p: argparse.ArgumentParser) -> None:
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


def _stream_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        type=Path,
        default=None,
        help="TOML configuration (see docs/deployment.md); GEOMONITOR_* variables override it",
    )
    p.add_argument("--bootstrap-servers", default=None, help="Kafka brokers, host:port,...")
    p.add_argument("--group-id", default=None, help="consumer group")
    _db_arg(p)


def _stream_config(args: argparse.Namespace) -> Any:
    from ..io.kafka import load_config

    cfg = load_config(args.config)
    if args.bootstrap_servers:
        cfg.bootstrap_servers = args.bootstrap_servers
    if args.group_id:
        cfg.group_id = args.group_id
    if args.db:
        cfg.store = str(args.db)
    return cfg


def _consume(args: argparse.Namespace) -> int:
    import logging

    from ..io.kafka import open_consumer

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    cfg = _stream_config(args)
    if args.idle_exit is not None:
        cfg.idle_exit_s = args.idle_exit
    with Store(cfg.store) as store:
        stats = open_consumer(cfg, args.input, store).run()
    print(
        f"consumed {stats.messages:,} messages ({stats.accepted:,} accepted, "
        f"{stats.rejected:,} dead-lettered), published {stats.published:,} output messages "
        f"in {stats.seconds:.1f} s"
    )
    return 0


def _produce(args: argparse.Namespace) -> int:
    from ..io.kafka import ensure_topics, produce

    cfg = _stream_config(args)
    ensure_topics(cfg, args.partitions)
    counts = produce(cfg, args.fixes, args.anpr)
    for topic, n in counts.items():
        print(f"{topic}: {n:,} messages")
    return 0


def _config(args: argparse.Namespace) -> EngineConfig:
    return EngineConfig(
        default_accuracy_m=args.default_accuracy,
        open_after=args.open_after,
        close_after=args.close_after,
        curfew_no_signal_minutes=args.no_signal_minutes,
    )


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="geomonitor",
        description="Breach candidates from GPS tag fixes and ANPR reads against court-order "
        "conditions.",
    )
    ap.add_argument("--version", action="version", version=f"geomonitor {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)

    reg = sub.add_parser("registry", help="load and inspect the registry")
    rsub = reg.add_subparsers(dest="action", required=True)
    p = rsub.add_parser("load", help="validate and load a registry file (idempotent)")
    p.add_argument("file", type=Path)
    _db_arg(p)
    p = rsub.add_parser("check", help="validate a registry file without loading it")
    p.add_argument("file", type=Path)
    p = rsub.add_parser("history", help="versions loaded and what changed in each")
    _db_arg(p)

    p = sub.add_parser("replay", help="match fixes (and store ANPR reads) from files")
    _db_arg(p)
    p.add_argument("--fixes", type=Path, help="fixes, JSONL or CSV (gzip allowed)")
    p.add_argument("--anpr", type=Path, help="ANPR reads, JSONL or CSV (gzip allowed)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    _config_args(p)

    al = sub.add_parser("alerts", help="breach candidates for the monitoring desk")
    asub = al.add_subparsers(dest="action", required=True)
    p = asub.add_parser("list", help="list candidates")
    _db_arg(p)
    p.add_argument("--status", choices=["open", "closed"])
    p.add_argument("--subject", help="only this subject")
    p.add_argument("--format", choices=["table", "jsonl"], default="table")
    p = asub.add_parser("show", help="one candidate with its evidence and history")
    p.add_argument("id")
    _db_arg(p)
    p.add_argument("--format", choices=["text", "json"], default="text")

    p = sub.add_parser("devices", help="device health events per tag (faulty-unit audit)")
    _db_arg(p)
    p.add_argument("--tag", help="only this tag")
    p.add_argument("--kind", help="only this kind (strap_tamper, low_battery, ...)")
    p.add_argument("--format", choices=["table", "jsonl"], default="table")

    p = sub.add_parser("rejected", help="records rejected on input, with reasons")
    _db_arg(p)
    p.add_argument("--reason")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument(
        "--show-raw", action="store_true", help="include raw records (may hold personal data)"
    )

    p = sub.add_parser("simulate", help="write a synthetic West Yorkshire scenario")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--subjects", type=int, default=30)
    p.add_argument("--days", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--start", default="2026-11-16T00:00:00Z")

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

    p = sub.add_parser("demo", help="simulate, load, replay and show what the desk would see")
    p.add_argument("--out", type=Path, default=Path("demo-output"))
    p.add_argument("--subjects", type=int, default=30)
    p.add_argument("--days", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except GeomonitorError as e:
        print(f"geomonitor: {e}", file=sys.stderr)
        return e.exit_code
    except FileNotFoundError as e:
        print(f"geomonitor: file not found: {e.filename}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (e.g. piped into head): stop quietly, like other tools.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


def _dispatch(args: argparse.Namespace) -> int:
    cmd = args.command
    if cmd == "registry":
        return _registry(args)
    if cmd == "replay":
        return _replay(args)
    if cmd == "alerts":
        return _alerts(args)
    if cmd == "rejected":
        return _rejected(args)
    if cmd == "devices":
        return _devices(args)
    if cmd == "simulate":
        from ..sim import simulate

        truth = simulate(args.out, args.subjects, args.days, args.seed, args.start)
        print(
            f"wrote {args.out}/registry.json, fixes.jsonl ({truth['fixes']:,} fixes), "
            f"anpr.jsonl, truth.json ({len(truth['breaches'])} planted breaches)"
        )
        return 0
    if cmd == "consume":
        return _consume(args)
    if cmd == "produce":
        return _produce(args)
    if cmd == "demo":
        from .demo import run_demo

        return run_demo(args.out, args.subjects, args.days, args.seed)
    raise AssertionError(cmd)


def _registry(args: argparse.Namespace) -> int:
    if args.action == "check":
        reg, _ = load_registry_file(args.file)
        print(f"{args.file}: valid ({_registry_counts(reg)})")
        return 0
    if args.action == "load":
        reg, _ = load_registry_file(args.file)
        with _store(args) as st:
            res = st.load_registry(reg, str(args.file))
        if res.unchanged:
            print(f"registry unchanged (version {res.version}); {_registry_counts(reg)}")
        else:
            print(
                f"registry version {res.version}: {res.added} added, {res.changed} changed, "
                f"{res.removed} removed; {_registry_counts(reg)}"
            )
        return 0
    with _store(args) as st:
        for v in st.registry_history():
            print(
                f"version {v['version']}  loaded {v['loaded_at']}  from {v['source']}  "
                f"+{v['added']} ~{v['changed']} -{v['removed']}"
            )
            for e in v["entities"][:200]:
                print(f"    {e['change']:<8} {e['kind']:<9} {e['id']}")
    return 0


def _registry_counts(reg: Any) -> str:
    return (
        f"{len(reg.districts)} districts, {len(reg.zones)} zones, {len(reg.subjects)} "
        f"subjects, {len(reg.orders)} orders, {len(reg.tags)} tags, {len(reg.fittings)} "
        f"fittings, {len(reg.cameras)} cameras"
    )


def _replay(args: argparse.Namespace) -> int:
    from ..io.replay import replay

    if args.fixes is None and args.anpr is None:
        print("geomonitor replay: give --fixes and/or --anpr", file=sys.stderr)
        return 2
    with _store(args) as st:
        summary, _ = replay(
            st,
            args.fixes,
            args.anpr,
            _config(args),
            progress=not args.no_progress,
            parallel=True,
        )
    if args.json:
        print(json.dumps(summary.to_json(), indent=2))
    else:
        print("\n".join(summary.lines()))
    return 0


def _alerts(args: argparse.Namespace) -> int:
    with _store(args) as st:
        if args.action == "list":
            cands = st.candidates(args.status, args.subject)
            if args.format == "jsonl":
                for c in cands:
                    print(json.dumps(c.to_json()))
            else:
                print(format_table(cands))
            return 0
        found = st.candidate(args.id)
        if found is None:
            print(f"geomonitor: no candidate {args.id}", file=sys.stderr)
            return 1
        c = found
        hist = st.candidate_history(c.id)
        if args.format == "json":
            d = c.to_json()
            d["history"] = hist
            print(json.dumps(d, indent=2))
            return 0
        d = c.to_json()
        for k in (
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
        ):
            print(f"{k:<18} {d.get(k)}")
        print(f"{'explanation':<18} {c.explanation}")
        for k, v in c.details.items():
            print(f"{k:<18} {v}")
        reads = sum(ref.startswith("ANPR:") for ref in c.evidence)
        what = [f"{len(c.evidence) - reads} fixes"] + ([f"{reads} ANPR reads"] if reads else [])
        if c.zone_id is not None and c.kind in ("exclusion_zone", "outside_inclusion_zone"):
            what.append(
                f"{c.fix_count} wholly past the boundary, {c.uncertain_count} straddling it"
            )
        print(f"evidence ({', '.join(what)}):")
        for ref in c.evidence[:50]:
            print(f"    {ref}")
        if len(c.evidence) > 50:
            print(f"    ... {len(c.evidence) - 50} more (use --format json)")
        print("history:")
        for h in hist:
            print(f"    {h['recorded_at']}  {h['action']}")
    return 0


def format_table(cands: list[Any]) -> str:
    if not cands:
        return "no candidates"
    rows = [
        (
            "ID",
            "KIND",
            "STATUS",
            "SUBJECT",
            "ORDER/COND",
            "ZONE",
            "OPENED (UTC)",
            "CLOSED (UTC)",
            "FIXES",
        )
    ]
    for c in cands:
        rows.append(
            (
                c.id,
                c.kind,
                c.status,
                c.subject_id,
                f"{c.order_id}/{c.condition_id}",
                c.zone_id or "-",
                (iso(c.opened_at) or "")[:16],
                (iso(c.closed_at) or "-")[:16],
                str(c.fix_count),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def _devices(args: argparse.Namespace) -> int:
    with _store(args) as st:
        events = st.device_events(args.tag, args.kind)
    if args.format == "jsonl":
        for ev in events:
            print(json.dumps(ev))
        return 0
    if not events:
        print("no device events")
        return 0
    rows = [("TAG", "KIND", "STARTED (UTC)", "ENDED (UTC)", "SUBJECT", "DETAILS")]
    for ev in events:
        det = ", ".join(f"{k}={v}" for k, v in sorted(ev["details"].items()))
        rows.append(
            (
                ev["tag_id"],
                ev["kind"],
                (ev["started_at"] or "")[:16],
                (ev["ended_at"] or "-")[:16],
                ev["subject_id"] or "(not fitted)",
                det,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    return 0


def _rejected(args: argparse.Namespace) -> int:
    with _store(args) as st:
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


if __name__ == "__main__":
    sys.exit(main())
