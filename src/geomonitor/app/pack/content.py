"""What goes into an evidence pack, gathered from the store: the facts in plain words and
local time, the order and condition, the positions over the window (only the subject's, and
another subject's only over the minutes of a meeting), gaps, device health, camera reads,
the review history, and how the data was obtained.

A pack is for a candidate (:func:`candidate_pack`) or for one subject's verdict on a crime
(:func:`crime_pack`); both give a :class:`Pack`, which :mod:`.files` and :mod:`.pdf` write.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np

from ... import __version__
from ...model.candidate import Candidate, severity
from ...model.crime import Crime
from ...model.crs import to_bng
from ...model.errors import InputError
from ...model.registry import Registry, condition_at, district_name
from ...model.text import detail_label, detail_value, distance, kind_words, local_time
from ...model.times import MS_PER_MINUTE, iso, parse_ts
from ...rules.config import EngineConfig
from ...store.domain import Store
from ..crimes.match import CrimeConfig, FixIndex, Verdict, match_crime
from ..evidence import evidence_of

#: positions shown before an episode opens and after it closes
MARGIN_MS = 30 * MS_PER_MINUTE
#: fixes further apart than this are a gap: nobody knows the way taken
GAP_MS = 5 * MS_PER_MINUTE


@dataclass
class Position:
    """One position of the pack: a fix, or (crimes) a position between two fixes."""

    ts: int
    lat: float
    lon: float
    accuracy_m: float
    tag_id: str
    role: str = "subject"  # or "other" (the other subject of a meeting)
    source: str = "fix"  # the supplier's method, or "between" for an interpolated one
    battery_pct: float | None = None
    evidence: bool = False
    label: str = ""  # a crime hit's letter and number (A1, A2, B1 ...)
    x: float = 0.0
    y: float = 0.0


@dataclass
class Pack:
    """Everything a pack shows, in the order the PDF shows it."""

    exhibit: str
    kind: str  # "candidate" or "crime"
    ref: str  # the candidate id or crime reference
    subject_id: str
    title: str
    summary: list[str]
    facts: list[tuple[str, str]]
    window: tuple[int, int]
    positions: list[Position]
    gaps: list[tuple[int, int]] = field(default_factory=list)
    device: list[tuple[str, str, str, str]] = field(default_factory=list)
    reads: list[dict[str, Any]] = field(default_factory=list)
    review: list[tuple[str, str, str, str]] = field(default_factory=list)
    verdicts: list[tuple[str, str, str]] = field(default_factory=list)
    #: the area drawn: a zone (BNG geometry), or a circle (x, y, radius)
    zone: Any = None
    circle: tuple[float, float, float] | None = None
    area_label: str = ""
    scene: tuple[float, float] | None = None
    provenance: list[tuple[str, str]] = field(default_factory=list)
    #: ids for the log: whose data this is
    subjects: list[str] = field(default_factory=list)
    districts: list[str] = field(default_factory=list)


def _at(f: dict[str, Any], tag: str, **kw: Any) -> Position:
    """A stored fix (``Store.fixes_of_tag``'s row) as a position of the pack."""
    kw.setdefault("battery_pct", f["battery_pct"])
    return Position(
        f["ts"], f["lat"], f["lon"], f["accuracy_m"], tag, source=f["source"] or "fix", **kw
    )


def _settings(cfg: Any) -> list[tuple[str, str]]:
    """The settings that decided it (a config dataclass's plain values), for provenance."""
    values = asdict(cfg).items()
    return [
        ("settings", ", ".join(f"{k} {v}" for k, v in values if not isinstance(v, dict | list)))
    ]


def _place(positions: list[Position]) -> None:
    if not positions:
        return
    x, y = to_bng(np.array([p.lon for p in positions]), np.array([p.lat for p in positions]))
    for p, a, b in zip(positions, x.tolist(), y.tolist(), strict=True):
        p.x, p.y = a, b


def _gaps(positions: list[Position]) -> list[tuple[int, int]]:
    own = sorted(p.ts for p in positions if p.role == "subject" and p.source != "between")
    return [(a, b) for a, b in pairwise(own) if b - a > GAP_MS]


def _provenance(
    store: Store, produced: int, settings: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    runs = store.db.execute(
        "SELECT command, started_at, finished_at FROM runs ORDER BY id DESC LIMIT 5"
    ).fetchall()
    got = [
        ("software", f"geomonitor {__version__}"),
        ("produced", local_time(produced)),
        ("registry", f"version {store.registry_version() or '-'} of the court orders and tags"),
        (
            "fixes",
            "the tag supplier's fixes as received (tag, time, position, accuracy radius, "
            "battery, strap), stored unchanged; times here in UK local time",
        ),
        ("camera reads", "ANPR reads as received from the force's cameras"),
    ]
    for cmd, started, finished in runs:
        got.append(
            (
                "loaded by",
                f"{cmd}, {local_time(parse_ts(started))}{'' if finished else ' (not finished)'}",
            )
        )
    return got + settings


def _order_facts(reg: Registry, c: Candidate) -> list[tuple[str, str]]:
    order = reg.orders.get(c.order_id)
    if order is None:
        return [("condition", f"tag {c.condition_id}")]
    facts = [
        (
            "order",
            f"{order.id} ({order.type.replace('_', ' ')}), from "
            f"{local_time(order.starts)}"
            + (f" to {local_time(order.ends)}" if order.ends else ", no end date"),
        )
    ]
    cond = condition_at(order, c.condition_id, c.opened_at)
    if cond is None:
        return facts
    facts.append(("condition", f"{cond.id}: {cond.type.replace('_', ' ')}"))
    if cond.zone_id and cond.zone_id in reg.zones:
        z = reg.zones[cond.zone_id]
        facts.append(("zone", f"{z.id} ({z.name})"))
    place = cond.curfew_place(c.opened_at)
    if place is not None and cond.curfew is not None:
        lat, lon, radius = place
        facts.append(("curfew address", f"{lat:.5f}, {lon:.5f}, within {distance(radius)}"))
        facts.append(("grace", f"{cond.curfew.grace_minutes:.0f} min"))
    if cond.schedule is not None:
        facts.append(("timetable", "; ".join(w.describe() for w in cond.schedule.windows)))
    if cond.non_association is not None:
        na = cond.non_association
        facts.append(
            (
                "not to meet",
                f"{', '.join(na.subjects)}: within {distance(na.distance_m)}"
                f" for {na.min_minutes:.0f} min or more",
            )
        )
    if cond.declared is not None:
        facts.append(("declared vehicles", ", ".join(cond.declared.vrms) or "none"))
    return facts


def _candidate_positions(
    store: Store, c: Candidate, own: list[str], lo: int, hi: int
) -> list[Position]:
    """The subject's positions over the window, and the other subject's of a meeting over
    the meeting's instants only."""
    refs = set(c.evidence)
    positions: list[Position] = []
    for tag in own:
        for f in store.fixes_of_tag(tag, lo, hi):
            positions.append(_at(f, tag, evidence=f"{tag}@{iso(f['ts'])}" in refs))
    for ref in c.evidence:  # the other subject of a meeting: over the meeting's minutes only
        tag, _, when = ref.partition("@")
        if ref.startswith("ANPR:") or tag in own or not when:
            continue
        for f in store.fixes_of_tag(tag, parse_ts(when), parse_ts(when)):
            positions.append(_at(f, tag, role="other", battery_pct=None, evidence=True))
    return positions


def _reads(store: Store, c: Candidate) -> list[dict[str, Any]]:
    """The candidate's camera reads still in the store (:func:`..evidence.evidence_of`)."""
    return [
        {"read_id": e.read_id, "camera_id": e.source, "ts": e.ts, "lat": e.lat, "lon": e.lon}
        for e in evidence_of(store, [r for r in c.evidence if r.startswith("ANPR:")])
        if e.stored
    ]


def _device(store: Store, own: list[str], lo: int, hi: int) -> list[tuple[str, str, str, str]]:
    return [
        (
            kind_words(e["kind"]),
            e["tag_id"],
            local_time(parse_ts(e["started_at"])),
            local_time(parse_ts(e["ended_at"])) if e["ended_at"] else "not ended",
        )
        for tag in own
        for e in store.device_events(tag)
        if parse_ts(e["started_at"]) < hi
        and (e["ended_at"] is None or parse_ts(e["ended_at"]) >= lo)
    ]


def candidate_pack(store: Store, cid: str, exhibit: str, produced: int) -> Pack:
    """The pack of candidate ``cid``."""
    c = store.candidate(cid)
    if c is None:
        raise InputError(f"no candidate {cid}")
    reg = store.current_registry()
    end = c.closed_at if c.closed_at is not None else c.last_evidence_at
    lo, hi = c.opened_at - MARGIN_MS, end + MARGIN_MS
    own = sorted({f.tag_id for f in reg.fittings if f.subject_id == c.subject_id})
    positions = _candidate_positions(store, c, own, lo, hi)
    other = c.details.get("other_subject_id")
    positions.sort(key=lambda p: (p.ts, p.role))
    _place(positions)
    reads = _reads(store, c)
    device = _device(store, own, lo, hi)
    review = [
        (
            local_time(r["at"]),
            r["actor"],
            r["action"],
            "; ".join(x for x in (r.get("state"), r.get("reason"), r.get("note")) if x),
        )
        for r in store.review_history(cid)
    ]
    subj = reg.subjects.get(c.subject_id)
    facts = [
        ("candidate", f"{c.id}: {kind_words(c.kind)}, {severity(c)}"),
        ("subject", f"{c.subject_id} (pseudonymous id)"),
        ("district", district_name(reg, subj.district) if subj else "-"),
        (
            "episode",
            f"{c.status}; opened {local_time(c.opened_at)}"
            + (f", closed {local_time(c.closed_at)}" if c.closed_at else ""),
        ),
        *_order_facts(reg, c),
        *((detail_label(k), detail_value(k, v)) for k, v in sorted(c.details.items())),
    ]
    circle = None
    order = reg.orders.get(c.order_id)
    cond = condition_at(order, c.condition_id, c.opened_at) if order else None
    place = cond.curfew_place(c.opened_at) if cond is not None else None
    if place is not None:
        x, y = to_bng(np.array([place[1]]), np.array([place[0]]))
        circle = (float(x[0]), float(y[0]), place[2])
    zone = reg.zones.get(c.zone_id or "")
    cfg = EngineConfig()
    settings = _settings(cfg)
    summary = [
        f"{kind_words(c.kind).capitalize()}: {c.explanation}",
        f"The episode is {c.status}. Its evidence is {len(c.evidence)} fixes or camera reads, "
        f"listed with every other position of the subject's tag from 30 minutes before it "
        f"opened to 30 minutes after it ended (UK local time). A breach candidate is evidence "
        "for a person to decide on, not a proven breach.",
    ]
    if other:
        summary.append(
            f"The other subject, {other}, appears only over the minutes the two "
            "were together; none of their other positions is in this pack."
        )
    return Pack(
        exhibit=exhibit,
        kind="candidate",
        ref=c.id,
        subject_id=c.subject_id,
        title=f"Breach candidate {c.id}: {kind_words(c.kind)}",
        summary=summary,
        facts=facts,
        window=(lo, hi),
        positions=positions,
        gaps=_gaps(positions),
        device=device,
        reads=reads,
        review=review,
        zone=zone.geometry if zone is not None else None,
        circle=circle,
        area_label=(f"zone {zone.id}" if zone is not None else "curfew area" if circle else ""),
        provenance=_provenance(store, produced, settings),
        subjects=sorted({c.subject_id, *([other] if other else [])}),
        districts=[subj.district] if subj else [],
    )


def crime_pack(
    store: Store,
    crime: Crime,
    subject: str,
    exhibit: str,
    produced: int,
    cfg: CrimeConfig | None = None,
) -> Pack:
    """One subject's verdict on a crime: their hits lettered as in ``hits.csv``, their fixes
    around the window, and, for the subjects ruled out, why (no one else's positions)."""
    cfg = cfg or CrimeConfig()
    reg = store.current_registry()
    if subject not in reg.subjects:
        raise InputError(f"no subject {subject}")
    margin = int(cfg.margin_minutes * MS_PER_MINUTE)
    index = FixIndex(store, reg, crime.start - margin - 3_600_000, crime.end + margin + 3_600_000)
    verdicts: dict[str, Verdict] = {v.subject_id: v for v in match_crime(index, crime, cfg)}
    mine = verdicts.get(subject)
    if mine is None:
        raise InputError(f"{subject}: no tag fitted around the crime's window")
    lo, hi = crime.start - margin, crime.end + margin
    own = sorted({f.tag_id for f in reg.fittings if f.subject_id == subject})
    labels = {(p.ts, p.kind): f"{p.sequence}{p.number}" for p in mine.positions}
    positions = [
        _at(f, tag, evidence=(f["ts"], "fix") in labels, label=labels.get((f["ts"], "fix"), ""))
        for tag in own
        for f in store.fixes_of_tag(tag, lo, hi)
    ]
    positions += [
        Position(
            p.ts,
            p.lat,
            p.lon,
            p.accuracy_m,
            own[0] if own else "-",
            source="between",
            evidence=True,
            label=f"{p.sequence}{p.number}",
        )
        for p in mine.positions
        if p.kind == "between"
    ]
    positions.sort(key=lambda p: (p.ts, p.source))
    _place(positions)
    r = cfg.radius(crime)
    subj = reg.subjects[subject]
    hits = [p for p in positions if p.label]
    summary = [
        f"Crime {crime.ref} ({crime.type}) between {local_time(crime.start)} and "
        f"{local_time(crime.end)}, at easting {crime.x:.0f}, northing {crime.y:.0f}; the "
        f"vicinity is {distance(r)} around it.",
        (
            f"{subject} was there: {len(hits)} positions within the vicinity, lettered by visit "
            "as in hits.csv (a position outside the vicinity ends a visit)."
            if mine.hit
            else f"{subject}: {mine.verdict.replace('_', ' ')}: {mine.reason}."
        ),
        "Positions between two fixes at most five minutes apart are interpolated at each whole "
        "minute, with the larger of the two accuracy radii. Other subjects appear only by "
        "pseudonymous id with their verdict; none of their positions is in this pack.",
    ]
    facts = [
        ("crime", f"{crime.ref}, {crime.type}"),
        ("window", f"{local_time(crime.start)} to {local_time(crime.end)}"),
        (
            "scene",
            f"easting {crime.x:.0f}, northing {crime.y:.0f} ({crime.lat:.5f}, {crime.lon:.5f})",
        ),
        ("vicinity", distance(r)),
        ("top speed", f"{cfg.speed_ms(crime) * 3.6:.0f} km/h between fixes"),
        ("subject", f"{subject} (pseudonymous id), {district_name(reg, subj.district)}"),
        ("verdict", f"{mine.verdict.replace('_', ' ')}: {mine.reason}"),
    ]
    settings = _settings(cfg)
    return Pack(
        exhibit=exhibit,
        kind="crime",
        ref=crime.ref,
        subject_id=subject,
        title=f"Crime {crime.ref}: {subject}",
        summary=summary,
        facts=facts,
        window=(lo, hi),
        positions=positions,
        gaps=_gaps(positions),
        verdicts=[
            (v.subject_id, v.verdict.replace("_", " "), v.reason)
            for k, v in sorted(verdicts.items())
            if k != subject
        ],
        circle=(crime.x, crime.y, r),
        area_label=f"vicinity {distance(r)}",
        scene=(crime.x, crime.y),
        provenance=_provenance(store, produced, settings),
        subjects=[subject],
        districts=[subj.district],
    )
