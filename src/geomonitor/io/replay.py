"""Replay: files -> parse/validate -> engine -> SQLite.

The same pipeline a stream consumer runs, fed from files. Records are read in file order
(which is arrival order: store-and-forward batches appear late), validated, matched in
chunks, and written chunk by chunk in one transaction each: fixes, rejected records and
candidate changes together.

Before the file, the engine is warmed up from the fixes already in the store, so a second
replay with late fixes gives the same candidates as one replay of everything.
"""

from __future__ import annotations

import multiprocessing as mp
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from ..engine import Engine, EngineConfig, EngineResult
from ..model.fix import FixBatch
from ..model.orders import Cause
from ..model.rejection import Rejection
from ..store.domain import Store
from ..store.rows import CandidateWrite
from ..store.stream_state import StreamState
from .conflicts import refuse_conflicts
from .consent import withhold
from .decode import (
    MAX_AHEAD_MS,
    NO_CLOCK,
    Clock,
    Decoded,
    decode_fix_lines,
    decode_fixes,
    decode_reads,
    wall_clock_ms,
)
from .kafka.messages import candidate_message
from .sources import detect_format, guarded_lines, iter_records, open_binary

CHUNK = 100_000


@dataclass
class ReplaySummary:
    fixes_read: int = 0
    fixes_accepted: int = 0
    fixes_rejected: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    unfitted: int = 0
    #: Fields the formats do not name (and the allow-list does not keep): not stored.
    fields_dropped: int = 0
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
        if self.fields_dropped:
            out.append(
                f"unknown fields dropped {self.fields_dropped:>6,} (not stored; see --keep-field)"
            )
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


#: JSONL files bigger than this are parsed in a second process while this one matches.
PARALLEL_PARSE_BYTES = 8 << 20


def fix_chunks(
    path: str | Path,
    tags: frozenset[str],
    default_accuracy_m: float,
    chunk: int,
    parallel: bool = False,
    clock: Clock = NO_CLOCK,
    keep: frozenset[str] = frozenset(),
) -> Iterator[Decoded[FixBatch]]:
    """Parsed chunks of a fix file, in file order.

    Big JSONL files are decoded and validated in one worker process, a chunk ahead of the
    caller, so parsing and matching use both cores; the result is the same either way.
    """
    p = Path(path)
    source = p.name
    if not parallel or detect_format(p) != "jsonl":
        it = iter_records(p)
        while True:
            part = list(islice(it, chunk))
            if not part:
                return
            yield decode_fixes(part, source, tags, default_accuracy_m, clock, keep)
    with (
        ProcessPoolExecutor(max_workers=1, mp_context=_worker_context()) as pool,
        open_binary(p) as bfh,
    ):
        fh = guarded_lines(bfh)
        pending: deque[Future[Decoded[FixBatch]]] = deque()
        line = 1
        while True:
            while len(pending) < 2:
                lines = list(islice(fh, chunk))
                if not lines:
                    break
                pending.append(
                    pool.submit(
                        decode_fix_lines,
                        lines,
                        line,
                        source,
                        tags,
                        default_accuracy_m,
                        clock,
                        keep,
                    )
                )
                line += len(lines)
            if not pending:
                return
            yield pending.popleft().result()


def replay(
    store: Store,
    fixes_path: str | Path | None,
    anpr_path: str | Path | None = None,
    config: EngineConfig | None = None,
    progress: bool = True,
    chunk: int = CHUNK,
    parallel: bool = False,
    received_at: int | None = None,
    max_ahead_ms: int = MAX_AHEAD_MS,
    keep_fields: frozenset[str] = frozenset(),
    on_wait: Callable[[], None] | None = None,
) -> tuple[ReplaySummary, Engine]:
    """Replay files into the store. Returns the summary and the (warm) engine.

    A fix or read dated more than ``max_ahead_ms`` after ``received_at`` (default: the wall
    clock when the replay starts; give the time a file was received to replay it as of
    then) is refused as ``future_time``: a clock fault must not flood the desk. Fields the
    formats do not name are dropped unless in ``keep_fields`` (counted in the summary).

    One replay writes to a store at a time: a second waits for the first to finish (calling
    ``on_wait`` once), so the result never depends on running them together.

    With ``parallel``, a fix file over :data:`PARALLEL_PARSE_BYTES` is parsed and written
    by two worker processes beside this one (the results are identical). Worker processes
    start fresh and import the main module, so a script that passes ``parallel=True``
    must guard its entry point with ``if __name__ == "__main__":`` (the ``geomonitor``
    command does).
    """
    with store.writer(on_wait):
        return _replay(
            store,
            fixes_path,
            anpr_path,
            config=config,
            progress=progress,
            chunk=chunk,
            parallel=parallel,
            received_at=received_at,
            max_ahead_ms=max_ahead_ms,
            keep_fields=keep_fields,
        )


def _replay(
    store: Store,
    fixes_path: str | Path | None,
    anpr_path: str | Path | None,
    config: EngineConfig | None,
    progress: bool,
    chunk: int,
    parallel: bool,
    received_at: int | None,
    max_ahead_ms: int,
    keep_fields: frozenset[str],
) -> tuple[ReplaySummary, Engine]:
    config = config or EngineConfig()
    # The receiving clock is read here, at the adapter's edge.
    received = received_at if received_at is not None else wall_clock_ms()
    clock = Clock(received, max_ahead_ms)
    t0 = time.perf_counter()
    s = ReplaySummary()
    refused = store.refused_spans(store.current_registry())
    run = store.start_run("replay")
    engine, w, s.warmup_fixes = rejudge(store, config)
    registry = engine.registry
    _count(s, w)

    if fixes_path is not None:
        bar = _bar(progress, "fixes")
        rejected: Counter[str] = Counter()
        # For big files, parsing runs a chunk ahead in one process and each chunk's writes
        # (fixes, rejections, candidate changes: one transaction) run a chunk behind in
        # another, while matching runs here; small files do everything in this process.
        # The stages keep file order, so the result is the same either way.
        big = parallel and Path(fixes_path).stat().st_size >= PARALLEL_PARSE_BYTES
        chunks = fix_chunks(
            fixes_path,
            frozenset(registry.tags),
            config.default_accuracy_m,
            chunk,
            big,
            clock,
            keep_fields,
        )
        with _Writer(store, in_background=big) as writer:
            for part in chunks:
                withhold(part, Path(fixes_path).name, refused)
                conflicts = refuse_conflicts(engine, part, Path(fixes_path).name)
                batch = part.items
                res = engine.process(batch)
                res.device_upserts += conflicts
                writer.submit(batch, part.rejections, res, Path(fixes_path).name, received)
                s.fixes_read += part.records
                s.fields_dropped += part.dropped_fields
                s.fixes_accepted += len(batch)
                s.unfitted += res.unattributed
                rejected.update(r.reason for r in part.rejections)
                if bar is not None:
                    bar.update(part.records)
        stored = 0  # new fixes, or better copies of ones already held
        for written, w in writer.results:
            stored += written
            _count(s, w)
        s.duplicates = s.fixes_accepted - stored
        if bar is not None:
            bar.close()
        s.fixes_rejected = dict(rejected)

    if anpr_path is not None:
        arej: Counter[str] = Counter()
        records_in = iter_records(anpr_path)
        while records := list(islice(records_in, chunk)):
            got = decode_reads(records, Path(anpr_path).name, registry.cameras, clock, keep_fields)
            s.fields_dropped += got.dropped_fields
            reads, rejs = got.items, got.rejections
            res = engine.process_reads(reads)
            with store.transaction():
                written = store.insert_reads(reads)
                store.insert_rejections(rejs)
                _count(s, store.apply_candidates(res.upserts, res.retracted))
            s.anpr_read += got.records
            s.anpr_accepted += len(reads)
            s.anpr_duplicates += len(reads) - written
            arej.update(r.reason for r in rejs)
        s.anpr_rejected = dict(arej)

    s.seconds = time.perf_counter() - t0
    store.finish_run(run, s.to_json())
    return s, engine


def rejudge(
    store: Store, config: EngineConfig | None = None, because: Cause | None = None
) -> tuple[Engine, CandidateWrite, int]:
    """Judge everything stored again by the rules as they are now (the registry with its
    variations, the absences, withdrawals and removals) and make the stored candidates,
    device events and authorised records agree, each change saying why: ``because`` (an
    absence just recorded or cancelled), or else the absence or variation that explains it
    (:func:`geomonitor.model.orders.cause_of`). Returns the warm engine, what changed, and
    how many fixes were judged."""
    config = config or EngineConfig()
    registry = store.monitored_registry()
    engine = Engine(registry, config, index=store.zone_index(registry, config))
    n = 0
    for batch in store.iter_fix_batches():
        engine.process(batch)
        n += len(batch)
    for reads in store.iter_reads():
        engine.process_reads(reads)
    with store.transaction():
        why = engine.cause_of if because is None else (lambda *_: because)
        w = store.sync_candidates(engine.candidates(), cause=why)
        store.sync_device_events(engine.device_events())
        store.note_authorised(engine.authorised())
        if w.events and store.db.execute("SELECT 1 FROM stream_offsets LIMIT 1").fetchone():
            # Stream consumers run on this store: the desk's topic must hear of the
            # corrections too. Queued here, in the same transaction; the first consumer to
            # notice the change takes them over and publishes them (exactly once).
            rows = [
                ("candidates", s.encode(), candidate_message(cid, s, action, body), "[]")
                for cid, s, action, body in w.events
            ]
            StreamState(store).add_outbox("rejudge", rows)
    return engine, w, n


def _write_chunk(
    store: Store,
    batch: FixBatch,
    rejections: list[Rejection],
    res: EngineResult,
    source: str,
    received_at: int,
) -> tuple[int, CandidateWrite]:
    with store.transaction():
        store.note_arrival(source, received_at, batch.ts)
        written = store.insert_batch(batch)
        store.insert_rejections(rejections)
        w = store.apply_candidates(res.upserts, res.retracted)
        store.apply_device_events(res.device_upserts, res.device_removed)
        store.note_authorised(res.authorised)
    return written, w


_WRITER_STORE: Store | None = None


def _open_writer_store(path: str) -> None:
    global _WRITER_STORE
    _WRITER_STORE = Store(path)


def _write_chunk_in_writer(*args: Any) -> tuple[int, CandidateWrite]:
    assert _WRITER_STORE is not None
    return _write_chunk(_WRITER_STORE, *args)


def _worker_context() -> Any:
    """Fresh worker processes (never a fork of one holding an open database)."""
    methods = mp.get_all_start_methods()
    return mp.get_context("forkserver" if "forkserver" in methods else "spawn")


class _Writer:
    """Applies each chunk's writes strictly in order.

    In the background it is one writer process with its own connection to the same file,
    at most ``depth`` chunks behind (backpressure); a failure there is raised here. Python
    threads would contend for the GIL with matching, so a process it is.
    """

    def __init__(self, store: Store, in_background: bool, depth: int = 2):
        self.store = store
        self.depth = depth
        self.results: list[tuple[int, CandidateWrite]] = []
        self._pool: ProcessPoolExecutor | None = None
        if in_background:
            self._pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=_worker_context(),
                initializer=_open_writer_store,
                initargs=(str(store.path),),
            )
        self._pending: deque[Future[tuple[int, CandidateWrite]]] = deque()

    def submit(self, *chunk: Any) -> None:
        """One chunk's writes (the arguments of :func:`_write_chunk` after the store)."""
        if self._pool is None:
            self.results.append(_write_chunk(self.store, *chunk))
            return
        while len(self._pending) >= self.depth:
            self.results.append(self._pending.popleft().result())
        self._pending.append(self._pool.submit(_write_chunk_in_writer, *chunk))

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            while self._pending:
                self.results.append(self._pending.popleft().result())
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)


def _count(s: ReplaySummary, w: Any) -> None:
    s.candidates_opened += w.opened
    s.candidates_updated += w.updated
    s.candidates_closed += w.closed
    s.candidates_retracted += w.retracted


class _Bar:
    """A progress line on standard error (rich), shown only on a terminal."""

    def __init__(self, unit: str):
        from rich.console import Console
        from rich.progress import MofNCompleteColumn, Progress, SpinnerColumn, TimeElapsedColumn

        self._progress = Progress(
            SpinnerColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(file=sys.stderr),
            transient=True,
        )
        self._task = self._progress.add_task(unit, total=None)
        self._progress.start()

    def update(self, n: int) -> None:
        self._progress.advance(self._task, n)

    def close(self) -> None:
        self._progress.stop()


def _bar(progress: bool, unit: str) -> _Bar | None:
    if not progress or not sys.stderr.isatty():
        return None
    return _Bar(unit)
