"""A candidate's evidence as people read it: each fix or ANPR read it names, looked up in the
store, with its local time, place and accuracy (alerts show, the desk, the evidence map).

A candidate names its evidence by reference (``TAG@2026-11-16T18:35:01.091Z`` for a fix,
``ANPR:READ-ID`` for a read); those references stay in the JSON. A reference whose record is
no longer in the store (removed by the retention schedule) is shown as such, not dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..model.errors import TimeError
from ..model.text import distance, local_seconds
from ..model.times import parse_ts
from ..store.domain import Store


@dataclass(frozen=True)
class Evidence:
    """One fix (``source`` a tag) or ANPR read (``source`` a camera)."""

    ref: str
    kind: str  # "fix" or "read"
    source: str
    ts: int | None
    lat: float | None = None
    lon: float | None = None
    accuracy_m: float | None = None
    read_id: str | None = None

    @property
    def stored(self) -> bool:
        return self.lat is not None

    def words(self) -> str:
        """``fix  BUD-0030  Mon 16 Nov 2026 18:35:01 GMT  53.80123, -1.54321 ±12 m``."""
        when = local_seconds(self.ts) if self.ts is not None else "time unknown"
        what = f"{self.kind:<4}  {self.source:<9} {when}"
        if not self.stored:
            return f"{what}  (no longer in the store)"
        where = f"{self.lat:.5f}, {self.lon:.5f}"
        if self.accuracy_m is not None:
            where += f" \u00b1{distance(self.accuracy_m)}"
        return f"{what}  {where}"


def _fix(store: Store, ref: str) -> Evidence:
    tag, _, when = ref.partition("@")
    try:
        ts: int | None = parse_ts(when)
    except TimeError:
        ts = None
    row = None if ts is None else store.db.execute(
        "SELECT lat, lon, accuracy_m FROM fixes WHERE tag_id=? AND ts=?", (tag, ts)
    ).fetchone()  # fmt: skip
    if row is None:
        return Evidence(ref, "fix", tag, ts)
    return Evidence(ref, "fix", tag, ts, row[0], row[1], row[2])


def _read(store: Store, ref: str) -> Evidence:
    rid = ref[len("ANPR:") :]
    row = store.db.execute(
        "SELECT camera_id, ts, lat, lon FROM anpr_reads WHERE read_id=?", (rid,)
    ).fetchone()
    if row is None:
        return Evidence(ref, "read", "camera ?", None, read_id=rid)
    return Evidence(ref, "read", row[0], row[1], row[2], row[3], read_id=rid)


def evidence_of(store: Store, refs: list[str]) -> list[Evidence]:
    """Each reference looked up, in the candidate's order."""
    return [_read(store, r) if r.startswith("ANPR:") else _fix(store, r) for r in refs]
