"""Breach candidates: what the monitoring desk reviews.

A candidate is never a proven breach: it is one episode of evidence that a condition may have
been broken, kept up to date as evidence arrives, for a person to decide on. Its id is stable:
derived from the subject, order, condition, kind and the time of its first evidence, so the
same evidence always gives the same id whatever order it arrived in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .text import local_clock, local_time  # noqa: F401  (re-exported)
from .times import iso


def candidate_id(
    kind: str, subject_id: str, order_id: str, condition_id: str, opened_at: int
) -> str:
    h = hashlib.blake2b(
        f"{kind}|{subject_id}|{order_id}|{condition_id}|{opened_at}".encode(), digest_size=8
    )
    return f"C-{h.hexdigest()}"


@dataclass
class Candidate:
    """One breach candidate. Times are epoch milliseconds (UTC)."""

    id: str
    kind: str
    subject_id: str
    order_id: str
    condition_id: str
    zone_id: str | None
    opened_at: int
    closed_at: int | None
    status: str  # open | closed
    fix_count: int
    explanation: str
    last_evidence_at: int
    uncertain_count: int = 0
    max_penetration_m: float | None = None
    close_reason: str | None = None
    evidence: list[str] = field(default_factory=list)
    #: Kind-specific facts (e.g. ``minutes_late``, ``last_known_fix``), JSON-ready.
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The interchange form: ISO 8601 UTC times, ``*_id`` references."""
        d = asdict(self)
        d["opened_at"] = iso(self.opened_at)
        d["closed_at"] = iso(self.closed_at)
        d["last_evidence_at"] = iso(self.last_evidence_at)
        if self.max_penetration_m is not None:
            d["max_penetration_m"] = round(self.max_penetration_m, 1)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Candidate:
        from .times import parse_ts

        d = dict(d)
        for k in ("opened_at", "closed_at", "last_evidence_at"):
            if d.get(k) is not None:
                d[k] = parse_ts(d[k])
        return cls(**d)


#: Severity levels, most urgent first.
SEVERITIES = ("critical", "high", "medium", "low")
#: The desk's severity of each kind of candidate (see ``docs/formats.md``): a tamper and a
#: breach of an exclusion zone (which protects a victim) come first; a short silence last.
SEVERITY = {
    "strap_tamper": "critical",
    "exclusion_zone": "critical",
    "curfew_absent": "high",
    "curfew_late_return": "high",
    "non_association": "high",
    "vehicle_in_exclusion_zone": "high",
    "no_contact": "high",
    "feed_outage": "high",
    "outside_inclusion_zone": "medium",
    "undeclared_vehicle": "medium",
    "curfew_vehicle_sighting": "medium",
    "curfew_no_signal": "low",
    "curfew_lateness": "medium",
}


def severity(c: Candidate) -> str:
    """The candidate's severity (an unknown kind counts as medium)."""
    return SEVERITY.get(c.kind, "medium")


def queue_order(cands: Iterable[Candidate]) -> list[Candidate]:
    """The desk's queue: open before closed, then by severity, then oldest first."""
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    return sorted(cands, key=lambda c: (c.status != "open", rank[severity(c)], c.opened_at, c.id))


def evidence_counts(c: Candidate) -> tuple[int, int]:
    """How many fixes and how many ANPR reads a candidate's evidence holds."""
    reads = sum(ref.startswith("ANPR:") for ref in c.evidence)
    return len(c.evidence) - reads, reads


#: What a rule last emitted per candidate id: (signature, candidate).
Emitted = dict[str, tuple[tuple, Candidate]]


def signature(c: Candidate) -> tuple:
    """What, if it changes, the desk must be sent again."""
    return (c.opened_at, c.closed_at, c.status, tuple(c.evidence), c.explanation)


def reconcile(
    emitted: Emitted, now: Iterable[Candidate], upserts: list[Candidate], retracted: list[str]
) -> None:
    """Make ``emitted`` hold exactly the candidates ``now``, noting in ``upserts`` those
    new or changed and in ``retracted`` the ids of those gone. A candidate object already
    emitted is unchanged without being compared."""
    current = {c.id: c for c in now}
    for cid in [cid for cid in emitted if cid not in current]:
        retracted.append(cid)
        del emitted[cid]
    for cid, c in current.items():
        old = emitted.get(cid)
        if old is not None and old[1] is c:
            continue
        sig = signature(c)
        if old is None or old[0] != sig:
            emitted[cid] = (sig, c)
            upserts.append(c)


def fix_refs(tag_ids: list[str], ts: list[int]) -> list[str]:
    """:func:`fix_ref` for many fixes at once (vectorised time formatting, same text)."""
    if not ts:
        return []
    text = np.datetime_as_string(np.asarray(ts, dtype="datetime64[ms]"), unit="ms").tolist()
    return [
        f"{tag}@{t[:-4] if t.endswith('.000') else t}Z"
        for tag, t in zip(tag_ids, text, strict=True)
    ]


def fix_ref(tag_id: str, ts: int) -> str:
    """Evidence reference to a stored fix: ``TAG@2026-11-21T21:14:05Z``."""
    return f"{tag_id}@{iso(ts)}"


@dataclass
class DeviceEvent:
    kind: str
    tag_id: str
    started_at: int
    ended_at: int | None
    evidence: list[int] = field(default_factory=list)  # fix times (ms)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.tag_id, self.kind, self.started_at)

    def signature(self) -> tuple:
        return (
            self.kind,
            self.started_at,
            self.ended_at,
            tuple(self.evidence),  # a late fix can swap evidence at the same count
            tuple(sorted(self.details.items())),
        )
