"""Replay: files -> parse/validate -> engine -> SQLite.

The same pipeline a stream consumer runs, fed from files. Records are read in file order
(which is arrival order: store-and-forward batches appear late), validated, matched in
chunks, and written chunk by chunk in one transaction each: fixes, rejected records and
candidate changes together.

Before the file, the engine is warmed up from the fixes already in the store, so a second
replay with late fixes gives the same candidates as one replay of everything.
"""

from __future__ import annotations

import sys
import time
from collections import Counter, deque
from concurrent.futures import Future, ThreadPoolExecutor
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .deadletter import Rejection
from .engine import Engine, EngineConfig
from .fix import Fix, FixBatch, FixError, parse_fix
from .read import Read, ReadError, parse_read
from .registry import Registry
from .sources import RawRecord, iter_records
from .store import Store

CHUNK = 100_000


@dataclass
class ReplaySummary:
    fixes_read: int = 0
    fixes_accepted: int = 0
    fixes_rejected: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    unfitted: int = 0
    anpr_read: int = 0
    anpr_accepted: int = 0
    anpr_rejected: dict[str, int] = field(default_factory=dict)
    anpr_duplicates: int = 0
    candidates_opened: int = 0
    candidates_updated: int = 0
    candidates_closed: int = 0
    candidates_retracted: int = 0
    warmup_fixes: int = 0
    seconds: float = 0.0

    @property
    def fixes_per_second(self) -> float:
        return self.fixes_read / self.seconds if self.seconds else 0.0

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["fixes_per_second"] = round(self.fixes_per_second, 1)
        return d

    def lines(self) -> list[str]:
        rej = sum(self.fixes_rejected.values())
        out = [
            f"fixes read        {self.fixes_read:>10,}",
            f"  accepted        {self.fixes_accepted:>10,}",
            f"  rejected        {rej:>10,}",
        ]
        out += [f"    {r:<14}{n:>10,}" for r, n in sorted(self.fixes_rejected.items())]
        out += [
            f"  duplicates      {self.duplicates:>10,}",
            f"  from unfitted tags {self.unfitted:>7,} (kept for the device audit)",
        ]
        if self.anpr_read:
            arej = sum(self.anpr_rejected.values())
            out += [
                f"ANPR reads read    {self.anpr_read:>9,}",
                f"  accepted        {self.anpr_accepted:>10,}",
                f"  rejected        {arej:>10,}",
            ]
            out += [f"    {r:<14}{n:>10,}" for r, n in sorted(self.anpr_rejected.items())]
            out += [f"  duplicates      {self.anpr_duplicates:>10,}"]
        out += [
            f"candidates opened {self.candidates_opened:>10,}",
            f"  updated         {self.candidates_updated:>10,}",
            f"  closed          {self.candidates_closed:>10,}",
            f"  retracted       {self.candidates_retracted:>10,} (superseded by late evidence)",
            f"time              {self.seconds:>10.1f} s ({self.fixes_per_second:,.0f} fixes/s)",
        ]
        return out


def validate_fixes(
    records: Iterable[RawRecord], source: str, registry: Registry, default_accuracy_m: float
) -> Iterator[Fix | Rejection]:
    """Parse raw records into fixes or rejections (unknown tags are rejected)."""
    tags = registry.tags
    for rec in records:
        if rec.value is None:
            yield Rejection(
                "fix", source, rec.locator, "malformed", None, rec.error or "malformed", rec.raw
            )
            continue
        try:
            f = parse_fix(rec.value, default_accuracy_m)
        except FixError as e:
            yield Rejection("fix", source, rec.locator, e.reason, e.field, e.message, rec.raw)
            continue
        if f.tag_id not in tags:
            yield Rejection(
                "fix",
                source,
                rec.locator,
                "unknown_tag",
                "tag_id",
                "tag_id: tag not in the registry",
                rec.raw,
            )
            continue
        yield f


def validate_reads(
    records: Iterable[RawRecord], source: str, registry: Registry
) -> Iterator[Read | Rejection]:
    for rec in records:
        if rec.value is None:
            yield Rejection(
                "anpr", source, rec.locator, "malformed", None, rec.error or "malformed", rec.raw
            )
            continue
        try:
            yield parse_read(rec.value, registry.cameras)
        except ReadError as e:
            yield Rejection("anpr", source, rec.locator, e.reason, e.field, e.message, rec.raw)


def _chunks(it: Iterable[Any], n: int) -> Iterator[list[Any]]:
    buf: list[Any] = []
    for x in it:
        buf.append(x)
        if len(buf) >= n:
            yield buf
            buf = []
    if buf:
        yield buf


def replay(
    store: Store,
    fixes_path: str | Path | None,
    anpr_path: str | Path | None = None,
    config: EngineConfig | None = None,
    progress: bool = True,
    chunk: int = CHUNK,
) -> tuple[ReplaySummary, Engine]:
    """Replay files into the store. Returns the summary and the (warm) engine."""
    config = config or EngineConfig()
    t0 = time.perf_counter()
    s = ReplaySummary()
    registry = store.current_registry()
    engine = Engine(registry, config)
    run = store.start_run("replay")

    for batch in store.iter_fix_batches():
        engine.process(batch)
        s.warmup_fixes += len(batch)
    with store.transaction():
        w = store.sync_candidates(engine.candidates())
    _count(s, w)

    if fixes_path is not None:
        bar = _bar(progress, "fixes")
        rejected: Counter[str] = Counter()
        records = validate_fixes(
            iter_records(fixes_path), Path(fixes_path).name, registry, config.default_accuracy_m
        )
        # Matching runs here; each chunk's writes (fixes, rejections, candidate changes in
        # one transaction) run on a writer thread, in order, while the next chunk is
        # matched: SQLite releases the GIL while it works.
        with _Writer(store) as writer:
            for items in _chunks(records, chunk):
                fixes = [x for x in items if isinstance(x, Fix)]
                rejs = [x for x in items if isinstance(x, Rejection)]
                batch = FixBatch.from_fixes(fixes)
                res = engine.process(batch)
                writer.submit(_write_chunk, store, batch, rejs, res)
                s.fixes_read += len(items)
                s.fixes_accepted += len(fixes)
                s.unfitted += res.unattributed
                rejected.update(r.reason for r in rejs)
                if bar is not None:
                    bar.update(len(items))
        for written, w in writer.results:
            s.duplicates += written
            _count(s, w)
        s.duplicates = s.fixes_accepted - s.duplicates
        if bar is not None:
            bar.close()
        s.fixes_rejected = dict(rejected)

    if anpr_path is not None:
        arej: Counter[str] = Counter()
        for items in _chunks(
            validate_reads(iter_records(anpr_path), Path(anpr_path).name, registry), chunk
        ):
            reads = [x for x in items if isinstance(x, Read)]
            rejs = [x for x in items if isinstance(x, Rejection)]
            with store.transaction():
                written = store.insert_reads(reads)
                store.insert_rejections(rejs)
            s.anpr_read += len(items)
            s.anpr_accepted += len(reads)
            s.anpr_duplicates += len(reads) - written
            arej.update(r.reason for r in rejs)
        s.anpr_rejected = dict(arej)

    s.seconds = time.perf_counter() - t0
    store.finish_run(run, s.to_json())
    return s, engine


def _write_chunk(store: Store, batch: FixBatch, rejs: list[Rejection], res: Any) -> tuple[int, Any]:
    with store.transaction():
        written = store.insert_batch(batch)
        store.insert_rejections(rejs)
        w = store.apply_candidates(res.upserts, res.retracted)
    return written, w


class _Writer:
    """Runs store writes on one background thread, strictly in submission order.

    At most ``depth`` chunks wait at once (backpressure); the first failure stops the run
    and is raised in the caller's thread.
    """

    def __init__(self, store: Store, depth: int = 2):
        self.store = store
        self.depth = depth
        self.results: list[Any] = []
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="geomonitor-writer")
        self._pending: deque[Future[Any]] = deque()

    def submit(self, fn: Any, *args: Any) -> None:
        while len(self._pending) >= self.depth:
            self.results.append(self._pending.popleft().result())
        self._pending.append(self._pool.submit(fn, *args))

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            while self._pending:
                self.results.append(self._pending.popleft().result())
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)


def _count(s: ReplaySummary, w: Any) -> None:
    s.candidates_opened += w.opened
    s.candidates_updated += w.updated
    s.candidates_closed += w.closed
    s.candidates_retracted += w.retracted


def _bar(progress: bool, unit: str) -> Any:
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(unit=f" {unit}", unit_scale=True, file=sys.stderr, mininterval=0.5, disable=None)
