"""Device health as a rule family: every tag's events (fitted or not, for the audit), and
desk candidates for a strap tamper or lost contact while the tag is fitted."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ...model.candidate import (
    Candidate,
    DeviceEvent,
    candidate_id,
    fix_refs,
    local_clock,
    local_time,
)
from ...model.registry import Registry
from ...model.text import duration, local_day, plural
from ...model.times import MS_PER_HOUR, MS_PER_MINUTE, iso, parse_ts
from ..base import Changes, DeviceKey, Observations, RuleFamily
from ..config import EngineConfig
from ..curfew.family import curfew_rules
from ..curfew.night import CurfewRule
from ..fittings import Fittings
from .health import DeviceColumns, DeviceTrack, device_events

#: Device events that are also candidates for the monitoring desk (while fitted).
DESK_DEVICE_KINDS = ("strap_tamper", "no_contact")


class DeviceFamily(RuleFamily):
    """Strap tamper, battery, lost contact, GPS faults, per tag."""

    name: ClassVar[str] = "devices"
    kinds: ClassVar[tuple[str, ...]] = DESK_DEVICE_KINDS

    def __init__(self, registry: Registry, fittings: Fittings, config: EngineConfig):
        self.config = config.device
        self.fittings = fittings
        self.tag_ids = fittings.tag_ids
        self.tracks = [DeviceTrack() for _ in self.tag_ids]
        #: Curfews per subject: an outage names every curfew night it spans.
        self.curfews: dict[str, list[CurfewRule]] = {}
        for rule in curfew_rules(registry, config):
            self.curfews.setdefault(rule.subject_id, []).append(rule)
        self._events: dict[int, dict[DeviceKey, tuple[tuple, DeviceEvent]]] = {}
        #: Feed outages ``[start, end)``: no tag is out of contact during one.
        self._outages: list[tuple[int, int]] = []

    def observe(self, obs: Observations) -> Changes:
        """Device health of every tag that reported, and of fitted tags gone quiet."""
        res = Changes()
        batch, tix = obs.batch, obs.tag
        known = tix >= 0
        dirty: dict[int, int] = {}  # tag -> earliest instant whose evidence changed
        if known.any():
            idx = np.flatnonzero(known)
            order = idx[np.lexsort((batch.ts[idx], tix[idx]))]  # by tag, then event time
            st = tix[order]
            m = len(order)
            cols_all = DeviceColumns(
                batch.ts[order],
                batch.x[order],
                batch.y[order],
                batch.accuracy_m[order].astype(np.float32),
                batch.battery[order].astype(np.float32)
                if len(batch.battery)
                else np.full(m, np.nan, np.float32),
                batch.tamper[order] if len(batch.tamper) else np.zeros(m, bool),
                batch.charging_code[order] if len(batch.charging_code) else np.full(m, -1, np.int8),
                batch.rank[order],
            )
            cuts = np.flatnonzero(np.diff(st)) + 1
            starts = np.r_[0, cuts]
            ends = np.r_[cuts, m]
            quiet = self._quiet_appends(st, starts, cols_all)
            for a, b, ok in zip(starts.tolist(), ends.tolist(), quiet.tolist(), strict=True):
                t = int(st[a])
                self.tracks[t].add(DeviceColumns(*(c[a:b] for c in cols_all)))
                if ok and not self._poor_hour_tipped(t, cols_all.ts[a:b], cols_all.acc[a:b]):
                    continue
                first = int(cols_all.ts[a])
                dirty[t] = min(dirty.get(t, first), first)
        if obs.now is None:
            return res
        # Where the feed's state changed, a tag's silence there may now count or not.
        for a, b in obs.feed.changed:
            for t, track in enumerate(self.tracks):
                if len(track.ts) and int(track.ts[0]) < b:
                    k = max(0, int(np.searchsorted(track.ts, a)) - 1)
                    since = int(track.ts[k])
                    dirty[t] = min(dirty.get(t, since), since)
        self._outages = [(o.start, o.stop) for o in obs.feed.outages]
        # Event time moving on: a fitted tag that has gone quiet may now be out of contact.
        if obs.time_moved:
            limit = int(self.config.no_contact_minutes * MS_PER_MINUTE)
            for t, track in enumerate(self.tracks):
                if len(track.ts) and obs.now - int(track.ts[-1]) > limit:
                    last = int(track.ts[-1])
                    dirty[t] = min(dirty.get(t, last), last)
        for t in sorted(dirty):
            self._judge(t, dirty[t], obs.now, res)
        return res

    def _quiet_appends(
        self, tags: np.ndarray, starts: np.ndarray, cols: DeviceColumns
    ) -> np.ndarray:
        """For each tag's group of new fixes (``cols`` sorted by tag then time, groups
        starting at ``starts``): whether they come after the tag's last fix and can neither
        start nor change any device event, so nothing needs recomputing (the common case).
        Poor-accuracy hours are checked separately (:meth:`_poor_hour_tipped`)."""
        ts, x, y, acc, batt, tamper = cols.ts, cols.x, cols.y, cols.acc, cols.batt, cols.tamper
        cfg = self.config
        n_groups = len(starts)
        # The fix before each new one: the previous new fix, or the tag's stored last fix.
        prev_ts = np.empty(len(ts), np.int64)
        prev_ts[1:] = ts[:-1]
        prev_x, prev_y, prev_acc = np.empty_like(x), np.empty_like(y), np.empty_like(acc)
        prev_x[1:], prev_y[1:], prev_acc[1:] = x[:-1], y[:-1], acc[:-1]
        ok = np.ones(n_groups, bool)
        for g, (a, t) in enumerate(zip(starts.tolist(), tags[starts].tolist(), strict=True)):
            track = self.tracks[t]
            if len(track.ts) == 0:
                ok[g] = False
                prev_ts[a], prev_x[a], prev_y[a], prev_acc[a] = ts[a] - 1, x[a], y[a], acc[a]
                continue
            last = int(track.ts[-1])
            prev_ts[a] = last
            prev_x[a], prev_y[a], prev_acc[a] = track.x[-1], track.y[-1], track.acc[-1]
            for _, ev in self._events.get(t, {}).values():
                if ev.ended_at is None or ev.ended_at >= last:
                    ok[g] = False  # an event still open, or ending at the last fix
                    break
        dt = ts - prev_ts
        dist = np.hypot(x - prev_x, y - prev_y)
        with np.errstate(divide="ignore", invalid="ignore"):
            speed = (dist - (acc + prev_acc)) / (dt / 1000.0) * 3.6
        bad = (
            (dt <= 0)  # not after the tag's last fix, or out of order within the batch
            | tamper
            | (batt <= cfg.low_battery_pct)  # NaN compares False: no reading, no change
            | (dt > cfg.no_contact_minutes * MS_PER_MINUTE)
            | (speed > cfg.max_speed_kmh)
        )
        return ok & ~np.logical_or.reduceat(bad, starts)

    def _poor_hour_tipped(self, t: int, ts: np.ndarray, acc: np.ndarray) -> bool:
        """Whether new poor-accuracy fixes of tag ``t`` (already added to its track) make
        their clock hour a poor-accuracy hour."""
        cfg = self.config
        poor = acc > cfg.poor_accuracy_m
        if not poor.any():
            return False
        track = self.tracks[t]
        for h in np.unique(ts[poor] // MS_PER_HOUR).tolist():
            a = int(np.searchsorted(track.ts, h * MS_PER_HOUR))
            b = int(np.searchsorted(track.ts, (h + 1) * MS_PER_HOUR))
            bad = int((track.acc[a:b] > cfg.poor_accuracy_m).sum())
            if b - a >= cfg.poor_accuracy_min_fixes and bad > cfg.poor_accuracy_share * (b - a):
                return True
        return False

    def _judge(self, t: int, since: int, now: int, res: Changes) -> None:
        """Recompute the tag's events from a point before ``since`` that no event spans
        (events that ended before it cannot have changed)."""
        track = self.tracks[t]
        tag_id = self.tag_ids[t]
        before = self._events.get(t, {})
        # A silence before the earliest changed fix starts at the fix before it.
        k = int(np.searchsorted(track.ts, since)) - 1
        if k >= 0:
            since = int(track.ts[k])
        cut = since - since % MS_PER_HOUR  # accuracy streaks are judged by clock hour
        moved = True
        while moved:
            moved = False
            for _, ev in before.values():
                if ev.started_at < cut and (ev.ended_at is None or ev.ended_at >= cut):
                    cut = ev.started_at - ev.started_at % MS_PER_HOUR
                    moved = True
        kept = [ev for _, ev in before.values() if ev.started_at < cut]
        events = kept + device_events(
            tag_id,
            track,
            now,
            lambda ts: self.fittings.fitted_until(t, ts),
            self.config,
            since=cut,
            outages=self._outages,
        )
        after: dict[DeviceKey, tuple[tuple, DeviceEvent]] = {}
        for ev in events:
            ev.details["subject_id"] = self.fittings.subject_at(t, ev.started_at)
            if ev.kind == "no_contact" and ev.details["subject_id"] is not None:
                self._nights_spanned(ev, now)
            sig = ev.signature()
            old = before.get(ev.key)
            if old is not None and old[0] == sig:
                after[ev.key] = old
                continue
            after[ev.key] = (sig, ev)
            res.device_upserts.append(ev)
            if ev.kind in DESK_DEVICE_KINDS and ev.details["subject_id"] is not None:
                res.upserts.append(device_candidate(ev))
        for key, (_, ev) in before.items():
            if key not in after:
                res.device_removed.append(key)
                if ev.kind in DESK_DEVICE_KINDS and ev.details.get("subject_id") is not None:
                    res.retracted.append(device_candidate(ev).id)
        if after:
            self._events[t] = after
        else:
            self._events.pop(t, None)

    def _nights_spanned(self, ev: DeviceEvent, now: int) -> None:
        """Note on an outage the curfew nights it spans (one candidate for all of them)."""
        end = ev.ended_at if ev.ended_at is not None else now
        nights = sorted(
            {
                (a, rule.condition_id)
                for rule in self.curfews.get(ev.details["subject_id"], [])
                for a, b in rule.nights(ev.started_at, end)
                if min(b, end) - max(a, ev.started_at) > 0
            }
        )
        if nights:
            ev.details["curfew_nights"] = [iso(a) for a, _ in nights]
            ev.details["curfew_conditions"] = sorted({c for _, c in nights})

    def held(self, tix: np.ndarray, ts: np.ndarray) -> tuple[np.ndarray, ...]:
        """For fixes (tag index, time): whether a fix of that tag at that instant is held
        already, and where it is (x, y, accuracy; NaN where none is held)."""
        n = len(ts)
        found = np.zeros(n, bool)
        x, y, acc = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
        order = np.argsort(tix, kind="stable")
        cuts = np.flatnonzero(np.diff(tix[order])) + 1
        for rows in np.split(order, cuts) if n else []:
            t = int(tix[rows[0]])
            if t < 0:
                continue
            track = self.tracks[t]
            k = np.searchsorted(track.ts, ts[rows])
            ok = k < len(track.ts)
            ok[ok] = track.ts[k[ok]] == ts[rows[ok]]
            hit, kk = rows[ok], k[ok]
            found[hit] = True
            x[hit], y[hit], acc[hit] = track.x[kk], track.y[kk], track.acc[kk]
        return found, x, y, acc

    def device_events(self) -> list[DeviceEvent]:
        """Every current device event, by tag, kind and start."""
        return sorted(
            (ev for per in self._events.values() for _, ev in per.values()),
            key=lambda ev: ev.key,
        )

    def candidates(self) -> list[Candidate]:
        return [
            device_candidate(ev)
            for ev in self.device_events()
            if ev.kind in DESK_DEVICE_KINDS and ev.details.get("subject_id") is not None
        ]


def device_candidate(ev: DeviceEvent) -> Candidate:
    """The desk candidate of a tamper or lost contact of a fitted tag."""
    subject = ev.details["subject_id"]
    if ev.kind == "strap_tamper":
        what = (
            f"strap tamper reported by tag {ev.tag_id} worn by {subject} at "
            f"{local_time(ev.started_at)}"
        )
        what += (
            f", intact again at {local_clock(ev.ended_at, ev.started_at)}"
            if ev.ended_at is not None
            else ", no intact report since"
        )
    else:
        quiet = (
            f"until {local_clock(ev.ended_at, ev.started_at)}"
            if ev.ended_at is not None
            else "and still silent"
        )
        what = (
            f"no contact from tag {ev.tag_id} worn by {subject} since "
            f"{local_time(ev.started_at)} {quiet}"
        )
        if ev.ended_at is not None:
            what += f" ({duration(ev.ended_at - ev.started_at)})"
        elif "silent_minutes" in ev.details:
            what += f" ({duration(ev.details['silent_minutes'] * MS_PER_MINUTE)} so far)"
        if ev.details.get("until_removal"):
            what += ", when the tag was removed"
        nights = ev.details.get("curfew_nights", [])
        if nights:
            first, last = parse_ts(nights[0]), parse_ts(nights[-1])
            span = (
                local_day(first) if len(nights) == 1 else f"{local_day(first)} to {local_day(last)}"
            )
            what += (
                f"; spans {plural(len(nights), 'curfew night')} "
                f"({', '.join(ev.details['curfew_conditions'])}: {span})"
            )
        if "battery_pct_at_last_fix" in ev.details:
            what += f"; battery {ev.details['battery_pct_at_last_fix']:.0f}% at last fix"
    details = {k: v for k, v in ev.details.items() if k != "subject_id"}
    details["tag_id"] = ev.tag_id
    return Candidate(
        id=candidate_id(ev.kind, subject, "-", ev.tag_id, ev.started_at),
        kind=ev.kind,
        subject_id=subject,
        order_id="-",
        condition_id=ev.tag_id,
        zone_id=None,
        opened_at=ev.started_at,
        closed_at=ev.ended_at,
        status="open" if ev.ended_at is None else "closed",
        fix_count=len(ev.evidence),
        explanation=what[0].upper() + what[1:] + ".",
        last_evidence_at=max(ev.evidence) if ev.evidence else ev.started_at,
        evidence=fix_refs([ev.tag_id] * len(ev.evidence), ev.evidence),
        details=details,
    )
