"""Curfews against a plain reference, written apart from the engine.

For each night the reference answers the two questions the desk asks, with a loop over the
fixes and nothing of the engine's code:

* **placed away beyond the grace period?** Leaving and returning each take two decisive
  fixes in a row (a fix is home only if its whole accuracy circle is within the radius,
  away only if it is wholly outside; anything else decides nothing); leaving also takes
  two good fixes (accuracy 100 m or better) or ten minutes away. Away when the curfew
  started is a breach only once the grace period has run out: an away fix at or after
  its end, home only after it (and observed: no silence over the limit before coming
  home), or still away with the night observed past it.
A subject is observed from their first fix: nights before it are not judged (a tag fitted
and never heard from is the tag audit's ``silent_while_fitted``).

* **silent beyond the limit?** A stretch of the window with no fix longer than 30 minutes
  (window start, every fix, and the last instant observed bound the stretches), counted
  only from the first fix the service received (here the subject's own: nothing was
  observed before it).

The engine must say yes to each exactly when the reference does: an absence or late
return for the first; a no-signal finding, an absence that ends in silence, or a lost-
contact candidate naming the night, for the second.

Trails are on a five-minute grid, so returns exactly at the end of the grace period and
silences exactly at the limit occur often; distances include a circle reaching past the
radius by less than its accuracy (not sure either way). Steps are too slow to make spikes
(2 km in five minutes is under 25 km/h).
"""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from geomonitor.engine import Engine
from geomonitor.model.fix import FixBatch
from geomonitor.model.times import iso, parse_ts

from ..conftest import fix_at
from .test_curfew import MIN, registry

T0 = parse_ts("2026-11-21T18:00:00Z")
RADIUS, GRACE, LIMIT = 100.0, 15 * MIN, 30 * MIN
GOOD_M, LASTING = 100.0, 10 * MIN
NIGHTS = [
    (parse_ts(f"2026-11-{d}T19:00:00Z"), parse_ts(f"2026-11-{d + 1}T07:00:00Z"))
    for d in (21, 22, 23)
]
PLACES = [0.0, 89.0, 95.0, 105.0, 150.0, 2000.0]
REG = registry()


def where(d: float, acc: float) -> str:
    if d + acc <= RADIUS:
        return "home"
    if d - acc > RADIUS:
        return "away"
    return "unsure"


def reference(s: int, e: int, trail: list[tuple[int, float, float]], now: int) -> tuple[bool, bool]:
    """(placed away beyond grace, silent beyond the limit) for the night ``[s, e)``."""
    seen = min(e, now)
    inside = [(t, where(d, a), a) for t, d, a in trail if s <= t < e and t <= now]
    # Runs of decisive fixes: (place, [(t, acc), ...]).
    runs: list[tuple[str, list[tuple[int, float]]]] = []
    for t, w, a in inside:
        if w == "unsure":
            continue
        if runs and runs[-1][0] == w:
            runs[-1][1].append((t, a))
        else:
            runs.append((w, [(t, a)]))
    # Spells away: [first away time, first home time of the run that ended it or None,
    # away fix times, away at start?]
    spells = []
    away = False
    home_seen = False
    for w, fixes in runs:
        if w == "away" and not away:
            good = sum(1 for _, a in fixes if a <= GOOD_M)
            lasting = fixes[-1][0] - fixes[0][0] >= LASTING
            if len(fixes) >= 2 and (good >= 2 or lasting):
                away = True
                spells.append([fixes[0][0], None, [], not home_seen])
        elif w == "home" and away and len(fixes) >= 2:
            away = False
            spells[-1][1] = fixes[0][0]
        if away and w == "away":
            spells[-1][2].extend(t for t, _ in fixes)
        if w == "home":
            home_seen = True
    times = [t for t, _, _ in inside]
    feed_first = min(t for t, _, _ in trail)
    start = max(s, feed_first)
    edges = [start, *[t for t in times if t >= start], max(seen, start)]
    gaps = [(a, b) for a, b in itertools.pairwise(edges) if b - a > LIMIT]
    silent = bool(gaps)

    def silence_after(t: int) -> int:
        later = [x for x in times if x > t]
        return (later[0] if later else seen) - t

    beyond = False
    for _first, end, away_ts, at_start in spells:
        if not at_start:
            beyond = True
            continue
        last = max(away_ts)
        lost = silence_after(last) > LIMIT
        if any(t >= s + GRACE for t in away_ts):
            beyond = True
        elif end is not None and not lost and end - s > GRACE:
            beyond = True
        elif end is None and not lost and seen >= s + GRACE:
            beyond = True
    return beyond, silent


def engine_says(trail: list[tuple[int, float, float]]) -> dict[int, tuple[bool, bool]]:
    e = Engine(REG)
    e.process(FixBatch.from_fixes([fix_at(d, 0, (t - T0) / MIN, a) for t, d, a in trail]))
    out = {s: [False, False] for s, _ in NIGHTS}
    for c in e.candidates():
        night = next((s for s, en in NIGHTS if s <= c.opened_at < en), None)
        if night is None:
            continue
        if c.kind in ("curfew_absent", "curfew_late_return"):
            out[night][0] = True
        if c.kind == "curfew_no_signal" or (
            c.kind == "curfew_absent" and c.details.get("signal_lost")
        ):
            out[night][1] = True
    for ev in e.device_events():
        if ev.kind == "no_contact":
            for s, _ in NIGHTS:
                if iso(s) in ev.details.get("curfew_nights", []):
                    out[s][1] = True
    return {s: (a, b) for s, (a, b) in out.items()}


@st.composite
def trails(draw):
    """A subject's fixes from 18:00 on the first day: places held for a while, silences."""
    out = []
    # Mostly around the curfew's start (grace period, away at the start), else anywhere.
    t = T0 + draw(st.one_of(st.integers(0, 24), st.integers(0, 13 * 12))) * 5 * MIN
    for _ in range(draw(st.integers(5, 50))):
        place = draw(st.sampled_from([*PLACES, None]))
        acc = draw(st.sampled_from([10.0, 10.0, 10.0, 150.0]))
        span = draw(st.sampled_from([5, 10, 15, 20, 25, 30, 35, 40]))
        if place is not None:
            out.extend((t + k * MIN, place, acc) for k in range(0, span, 5))
        t += span * MIN
    return out


@settings(max_examples=300, deadline=None)
@given(trail=trails())
def test_each_night_matches_the_reference(trail):
    if not trail:
        return
    first, now = min(t for t, _, _ in trail), max(t for t, _, _ in trail)
    got = engine_says(trail)
    for s, e in NIGHTS:
        if s >= now or e <= first:  # a subject is observed from their first fix
            continue
        assert got[s] == reference(s, e, trail, now), f"night of {iso(s)}: {_show(trail)}"


def _show(trail: list[tuple[int, float, float]]) -> str:
    """The trail as ``HH:MM d/acc`` runs, for a failure message."""
    return ", ".join(f"{iso(t)[11:16]} {d:g}/{a:g}" for t, d, a in trail)
