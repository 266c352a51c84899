"""``geomonitor notify`` (mail to responsible officers and duty inboxes) and ``geomonitor
health`` (the feed's lag, time to a person, feed outages, mail waiting)."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path
from typing import Any

import orjson

from ...model.errors import ConfigError
from ...model.text import duration, local_time
from ...model.times import MS_PER_DAY
from .alerts import parse_when
from .common import db_arg, open_store


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "notify",
        help="mail candidates of the configured severities to the responsible officer, "
        "escalate unacknowledged ones to the duty inbox (runs until stopped)",
    )
    p.add_argument(
        "--config",
        type=Path,
        default=None,
        help="TOML configuration with a [notify] section; GEOMONITOR_NOTIFY_* override it",
    )
    p.add_argument("--once", action="store_true", help="one round, then stop")
    db_arg(p)
    p.set_defaults(func=run_notify)

    p = sub.add_parser(
        "health",
        help="the live service for a period: feed lag per source, time from evidence to "
        "candidate and to acknowledgement, feed outages, unsent mail",
    )
    p.add_argument(
        "--from", dest="since", default=None,
        help="start: ISO time with zone, or a local date (default: a day before --to)",
    )  # fmt: skip
    p.add_argument("--to", dest="until", default=None, help="end (default: now)")
    p.add_argument("--at", default=None, help="what counts as now (default: the clock)")
    p.add_argument("--format", choices=["table", "json"], default="table")
    db_arg(p)
    p.set_defaults(func=run_health)


def _time(value: str, option: str) -> int:
    when = parse_when(value, option)
    assert when is not None
    return when


def run_notify(args: argparse.Namespace) -> int:
    from ...io.decode import wall_clock_ms
    from ...io.kafka.config import load_notify_config
    from ..notify import Notifier

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    cfg = load_notify_config(args.config)
    if cfg.host is None:
        raise ConfigError("no mail server: set [notify] host (or GEOMONITOR_NOTIFY_HOST)")
    with open_store(args) as store:
        notifier = Notifier(store, cfg)
        if args.once:
            try:
                stats = notifier.run_once(wall_clock_ms())
            finally:
                notifier.release()
        else:
            stop = threading.Event()
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: stop.set())
            stats = notifier.run(wall_clock_ms, stop)
    print(
        f"queued {stats.queued}, sent {stats.sent}, escalated {stats.escalated}, "
        f"to retry {stats.retried}, failed {stats.failed}, cancelled {stats.cancelled}, "
        f"too old to mail {stats.skipped}"
    )
    return 0


def run_health(args: argparse.Namespace) -> int:
    from ...io.decode import wall_clock_ms
    from ..health import health
    from ..tables import show, table

    now = _time(args.at, "--at") if args.at else wall_clock_ms()
    until = _time(args.until, "--to") if args.until else now
    since = _time(args.since, "--from") if args.since else until - MS_PER_DAY
    with open_store(args) as store:
        h = health(store, since, until, now)
    if args.format == "json":
        print(orjson.dumps(h.to_json(), option=orjson.OPT_INDENT_2).decode())
        return 0
    print(f"Health from {local_time(since)} to {local_time(until)} (now {local_time(now)})")
    show(
        table(
            ["source", "batches", "fixes", "last delivery", "quiet for", "latest event",
             "lag median", "lag p95"],
            [
                [s.source, f"{s.batches:,}", f"{s.fixes:,}", local_time(s.last_received_at),
                 duration(s.quiet_for_ms), local_time(s.last_event_at),
                 duration(s.lag_p50_ms), duration(s.lag_p95_ms)]
                for s in h.sources
            ],
        )
    )  # fmt: skip
    if not h.sources:
        print("No fixes were received in the period.")
    t = h.timeliness

    def pair(p: tuple[int, int] | None) -> tuple[str, str]:
        return ("-", "-") if p is None else (duration(p[0]), duration(p[1]))

    show(
        table(
            ["from", "to", "candidates", "median", "95th percentile"],
            [
                ["evidence", "candidate recorded", str(t.candidates),
                 *pair(t.evidence_to_recorded)],
                ["recorded", "mailed", str(t.mailed), *pair(t.recorded_to_mailed)],
                ["recorded", "acknowledged", str(t.acknowledged),
                 *pair(t.recorded_to_acknowledged)],
            ],
        )
    )  # fmt: skip
    print(f"Unacknowledged: {t.unacknowledged} of {t.candidates} recorded in the period.")
    print(f"Feed outages in the period: {len(h.outages)} ({h.open_outages} still open)")
    for o in h.outages:
        end = "still down" if o["closed_at"] is None else f"to {local_time(o['closed_at'])}"
        print(f"  {o['id']}: from {local_time(o['opened_at'])} {end}, "
              f"{o['tags_silent']} of {o['tags_reporting']} tags silent")  # fmt: skip
    waiting = h.mail.get("pending", 0) + h.mail.get("sending", 0)
    mail = ", ".join(f"{k} {v}" for k, v in h.mail.items()) or "none"
    oldest = f" (oldest waiting {duration(h.oldest_pending_ms)})" if h.oldest_pending_ms else ""
    print(f"Mail: {mail}; unsent {waiting + h.mail.get('failed', 0)}{oldest}")
    return 0
