"""Faulty-unit findings for a period, from the fixes and device events the store keeps.

Each finding names the unit, its district, what was found, when it was first and last
seen, the evidence in words, and a suggested status that a person confirms with
``geomonitor tags flag``. Nothing is flagged automatically.

Findings (thresholds in :class:`AuditConfig`)
---------------------------------------------
``silent_while_fitted``
    Fitted, and no fix for longer than ``silent_hours`` (default 24 h). Suggests ``lost``
    while the silence lasts to the end of what the report saw; a unit back in contact
    before then suggests no status (``none``: check why it was silent).
``frequent_gaps``
    While fitted, silences over ``gap_minutes`` (30) at a rate per fitted day at least
    ``fleet_factor`` (3) times the fleet's median and at least ``min_gaps`` (6) of them.
    Suggests ``faulty``.
``poor_accuracy``
    A share of fixes with an accuracy radius over ``poor_accuracy_m`` (100 m) at least
    ``fleet_factor`` times the fleet's and at least ``min_poor_share`` (25%), over at least
    ``min_fixes`` (50) fixes. Suggests ``faulty``.
``battery_drain``
    Battery lost per hour while not charging at least ``drain_factor`` (2) times the
    fleet's median, over at least ``min_drain_hours`` (12) hours of readings. Suggests
    ``faulty``.
``repeated_jumps``
    At least ``min_jumps`` (3) implausible jumps. Suggests ``faulty``.
``tamper_without_removal``
    A strap tamper while fitted that did not report the strap intact again within
    ``tamper_intact_minutes`` (30), and no removal recorded within ``tamper_hours`` (24 h).
    Suggests ``damaged``. (A tamper intact again within minutes is a matter for the desk,
    which has it as a candidate, not a sign of a damaged unit.)
``reports_while_unfitted``
    Fixes while in stock or allocated (nobody wears it). Suggests ``lost``.
``conflicting_fixes``
    Two different fixes for one instant (a forged or corrupted copy). Suggests ``faulty``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from ...model.inventory import UnitState, spans, state_at
from ...model.text import duration, local_time
from ...model.times import MS_PER_HOUR, MS_PER_MINUTE, iso

FINDINGS = (
    "silent_while_fitted",
    "frequent_gaps",
    "poor_accuracy",
    "battery_drain",
    "repeated_jumps",
    "tamper_without_removal",
    "reports_while_unfitted",
    "conflicting_fixes",
)
SUGGESTED = {
    "silent_while_fitted": "lost",
    "frequent_gaps": "faulty",
    "poor_accuracy": "faulty",
    "battery_drain": "faulty",
    "repeated_jumps": "faulty",
    "tamper_without_removal": "damaged",
    "reports_while_unfitted": "lost",
    "conflicting_fixes": "faulty",
}


@dataclass(frozen=True)
class AuditConfig:
    silent_hours: float = 24.0
    gap_minutes: float = 30.0
    min_gaps: int = 6
    fleet_factor: float = 3.0
    poor_accuracy_m: float = 100.0
    min_poor_share: float = 0.25
    min_fixes: int = 50
    drain_factor: float = 2.0
    min_drain_hours: float = 12.0
    min_jumps: int = 3
    tamper_hours: float = 24.0
    tamper_intact_minutes: float = 30.0


@dataclass(frozen=True)
class Finding:
    tag_id: str
    district: str
    finding: str
    first_seen: int
    last_seen: int
    evidence: str
    suggested_status: str

    def as_csv(self) -> dict[str, object]:
        return {
            "tag_id": self.tag_id,
            "district": self.district,
            "finding": self.finding,
            "first_seen": iso(self.first_seen),
            "last_seen": iso(self.last_seen),
            "evidence": self.evidence,
            "suggested_status": self.suggested_status,
        }


@dataclass
class _Stats:
    """What one unit's fixes in the period show."""

    fitted_ms: int = 0
    gaps: list[tuple[int, int]] | None = None
    fixes: int = 0
    poor: int = 0
    drain_pct: float = 0.0
    drain_hours: float = 0.0
    unfitted: tuple[int, int, int] | None = None  # count, first, last
    last_fix: int | None = None  # the last fix while fitted

    @property
    def gap_rate(self) -> float:
        days = self.fitted_ms / (24 * MS_PER_HOUR)
        return len(self.gaps or []) / days if days > 0 else 0.0


def _fitted_spans(states: list[UnitState], lo: int, hi: int) -> list[tuple[int, int]]:
    return [(a, b) for a, b, s in spans(states, lo, hi) if s.state == "fitted"]


def _unit_stats(
    cols: dict[str, np.ndarray], states: list[UnitState], lo: int, hi: int, cfg: AuditConfig
) -> _Stats:
    ts = cols["ts"]
    st = _Stats(gaps=[])
    fitted = _fitted_spans(states, lo, hi)
    st.fitted_ms = sum(b - a for a, b in fitted)
    in_fit = np.zeros(len(ts), bool)
    for a, b in fitted:
        in_fit |= (ts >= a) & (ts < b)
    # Silences while fitted: between fixes, and from a fitting's start or to its end.
    gap_ms = cfg.gap_minutes * MS_PER_MINUTE
    for a, b in fitted:
        inside = ts[(ts >= a) & (ts < b)]
        edges = np.concatenate([[a], inside, [b]])
        d = np.diff(edges)
        for k in np.flatnonzero(d > gap_ms).tolist():
            assert st.gaps is not None
            st.gaps.append((int(edges[k]), int(edges[k + 1])))
    st.fixes = int(in_fit.sum())
    st.last_fix = int(ts[in_fit].max()) if st.fixes else None
    st.poor = int((cols["acc"][in_fit] > cfg.poor_accuracy_m).sum())
    # Battery: drops between consecutive readings while not charging, up to 2 h apart.
    batt, t, ch = cols["batt"], ts, cols["charging"]
    ok = ~np.isnan(batt)
    batt, t, ch = batt[ok], t[ok], ch[ok]
    if len(batt) > 1:
        dt = np.diff(t) / MS_PER_HOUR
        drop = batt[:-1] - batt[1:]
        use = (dt > 0) & (dt <= 2.0) & (ch[:-1] != 1) & (ch[1:] != 1) & (drop >= 0)
        st.drain_pct, st.drain_hours = float(drop[use].sum()), float(dt[use].sum())
    # Positions while nobody wears the unit.
    idle = np.zeros(len(ts), bool)
    for a, bb, s in spans(states, lo, hi):
        if s.state in ("in_stock", "allocated"):
            idle |= (ts >= a) & (ts < bb)
    if idle.any():
        st.unfitted = (int(idle.sum()), int(ts[idle][0]), int(ts[idle][-1]))
    return st


def find(
    lines: dict[str, list[UnitState]],
    columns: Iterable[tuple[str, dict[str, np.ndarray]]],
    device: dict[str, list[tuple[str, int, int | None]]],
    districts: dict[str, str],
    lo: int,
    hi: int,
    cfg: AuditConfig | None = None,
) -> list[Finding]:
    """Findings for ``[lo, hi)``. ``columns``: each reporting unit's fixes (see
    :meth:`~geomonitor.store.inventory.InventoryTables.iter_tag_columns`); ``device``: the
    units' tamper, jump and conflicting-fix events in the period."""
    cfg = cfg or AuditConfig()
    stats: dict[str, _Stats] = {}
    for tag, cols in columns:
        if tag in lines:
            stats[tag] = _unit_stats(cols, lines[tag], lo, hi, cfg)
    for tag, states in lines.items():  # fitted units that never reported
        if tag not in stats:
            empty = {k: np.empty(0) for k in ("acc", "batt", "charging")}
            stats[tag] = _unit_stats({"ts": np.empty(0, np.int64), **empty}, states, lo, hi, cfg)
    fleet_gaps = np.median([s.gap_rate for s in stats.values() if s.fitted_ms] or [0.0])
    shares = [s.poor / s.fixes for s in stats.values() if s.fixes >= cfg.min_fixes]
    fleet_poor = float(np.median(shares)) if shares else 0.0
    rates = [
        s.drain_pct / s.drain_hours for s in stats.values() if s.drain_hours >= cfg.min_drain_hours
    ]
    fleet_drain = float(np.median(rates)) if rates else 0.0
    out: list[Finding] = []
    for tag in sorted(stats):
        s, states = stats[tag], lines[tag]
        where = state_at(states, hi - 1) or states[-1]
        district = districts.get(where.district or "", "in stock")
        for f in _unit_findings(tag, s, states, device.get(tag, []), lo, hi, cfg,
                                fleet_gaps, fleet_poor, fleet_drain):  # fmt: skip
            kind, first, last, evidence, *own = f  # a finding may suggest otherwise
            out.append(Finding(tag, district, kind, first, last, evidence,
                               own[0] if own else SUGGESTED[kind]))  # fmt: skip
    return out


def _unit_findings(
    tag: str,
    s: _Stats,
    states: list[UnitState],
    events: list[tuple[str, int, int | None]],
    lo: int,
    hi: int,
    cfg: AuditConfig,
    fleet_gaps: float,
    fleet_poor: float,
    fleet_drain: float,
) -> Iterator[tuple[str, int, int, str] | tuple[str, int, int, str, str]]:
    silent = [(a, b) for a, b in s.gaps or [] if b - a > cfg.silent_hours * MS_PER_HOUR]
    if silent:
        a, b = max(silent, key=lambda g: g[1] - g[0])
        back = s.last_fix is not None and s.last_fix >= silent[-1][1]
        said = (
            f"fitted and silent for {(b - a) / MS_PER_HOUR:.0f} h from {local_time(a)}"
            f"{f' ({len(silent)} such silences)' if len(silent) > 1 else ''}"
        )
        if back:  # in contact again: nothing says it is lost
            said += f"; back in contact at {local_time(silent[-1][1])}"
            yield ("silent_while_fitted", silent[0][0], silent[-1][1], said, "none")
        else:
            said += "; still silent when the report was made"
            yield ("silent_while_fitted", silent[0][0], silent[-1][1], said)
    short = [g for g in s.gaps or [] if g not in silent]
    if len(short) >= cfg.min_gaps and s.gap_rate >= max(cfg.fleet_factor * fleet_gaps, 1e-9):
        yield (
            "frequent_gaps",
            short[0][0],
            short[-1][1],
            f"{len(short)} silences over {cfg.gap_minutes:.0f} min while fitted "
            f"({s.gap_rate:.1f} a day; fleet median {fleet_gaps:.1f})",
        )
    if s.fixes >= cfg.min_fixes:
        share = s.poor / s.fixes
        if share >= max(cfg.min_poor_share, cfg.fleet_factor * fleet_poor):
            yield (
                "poor_accuracy",
                lo,
                hi - 1,
                f"{share:.0%} of {s.fixes} fixes wider than {cfg.poor_accuracy_m:.0f} m "
                f"(fleet median {fleet_poor:.0%})",
            )
    if s.drain_hours >= cfg.min_drain_hours and fleet_drain > 0:
        rate = s.drain_pct / s.drain_hours
        if rate >= cfg.drain_factor * fleet_drain:
            yield (
                "battery_drain",
                lo,
                hi - 1,
                f"battery falls {rate:.1f}% an hour off charge (fleet median {fleet_drain:.1f}%)",
            )
    jumps = [e for e in events if e[0] == "implausible_jump"]
    if len(jumps) >= cfg.min_jumps:
        yield (
            "repeated_jumps",
            jumps[0][1],
            jumps[-1][1],
            f"{len(jumps)} implausible jumps",
        )
    for kind, start, end in events:
        if kind != "strap_tamper":
            continue
        if end is not None and end - start <= cfg.tamper_intact_minutes * MS_PER_MINUTE:
            continue  # intact again within minutes: the desk's matter, not the unit's
        now = state_at(states, start)
        if now is None or now.state != "fitted":
            continue
        limit = start + int(cfg.tamper_hours * MS_PER_HOUR)
        removed = any(x.since > start and x.since <= limit and x.state != "fitted" for x in states)
        if not removed:
            yield (
                "tamper_without_removal",
                start,
                start,
                f"strap tamper at {local_time(start)} while fitted to {now.subject_id}, "
                + (
                    "not reported intact again"
                    if end is None
                    else f"intact again only after {duration(end - start)}"
                )
                + f"; no removal recorded within {cfg.tamper_hours:.0f} h",
            )
            break
    if s.unfitted is not None:
        n, a, b = s.unfitted
        yield (
            "reports_while_unfitted",
            a,
            b,
            f"{n} fixes while in stock or allocated (nobody wears it)",
        )
    clashes = [e for e in events if e[0] == "conflicting_fix"]
    if clashes:
        yield (
            "conflicting_fixes",
            clashes[0][1],
            clashes[-1][1],
            f"{len(clashes)} instants with two different fixes",
        )
