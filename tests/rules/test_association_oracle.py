"""Non-association meetings against a plain reference, written apart from the engine.

The reference walks every whole minute from the first fix to the last and, for each of the
two subjects, places them from their fixes the documented way with a plain loop: at a fix
made at that very instant, or on the straight line between the fixes either side when
they are at most five minutes apart, with the worse of their two accuracy radii; fixes
vaguer than 100 m place nobody. The two are together at that minute when the distance is
at most 50 m plus both radii. Together minutes at most five minutes apart are one meeting;
a meeting of ten minutes or more (first to last together minute) is a candidate, closed
once both trails go on more than five minutes past its last together minute.

No cell index, no column arrays, no spans: the engine must find exactly these meetings.
Durations land exactly on the ten-minute minimum often (whole-minute instants).
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from geomonitor.model.crs import to_bng

from ..conftest import fix_at
from .test_association import matched, reg

MINUTE = 60_000
DIST, MIN_MS, GAP, JOIN, MAX_ACC = 50.0, 10 * MINUTE, 5 * MINUTE, 5 * MINUTE, 100.0


def position(fixes: list[tuple[int, float, float, float]], t: int):
    """(x, y, acc) of a subject at ``t`` from their usable fixes (time, x, y, acc), sorted;
    None when not known."""
    before = after = None
    for f in fixes:
        if f[0] == t:
            return f[1], f[2], f[3]
        if f[0] < t:
            before = f
        elif after is None:
            after = f
    if before is None or after is None or after[0] - before[0] > GAP:
        return None
    share = (t - before[0]) / (after[0] - before[0])
    x = before[1] + share * (after[1] - before[1])
    y = before[2] + share * (after[2] - before[2])
    return x, y, max(before[3], after[3])


def reference(fixes) -> list[tuple[int, int | None]]:
    """(first together minute, last together minute or None while still open) of every
    meeting of S-0001 (BUD-0001) and S-0002 (BUD-0002)."""
    trails: dict[str, list[tuple[int, float, float, float]]] = {"BUD-0001": [], "BUD-0002": []}
    for f in fixes:
        if f.accuracy_m <= MAX_ACC:
            x, y = to_bng(np.array([f.lon]), np.array([f.lat]))
            trails[f.tag_id].append((f.ts, float(x[0]), float(y[0]), f.accuracy_m))
    for tr in trails.values():
        tr.sort()
    a, b = trails["BUD-0001"], trails["BUD-0002"]
    if not a or not b:
        return []
    together = []
    t = -(-min(a[0][0], b[0][0]) // MINUTE) * MINUTE
    while t <= max(a[-1][0], b[-1][0]):
        pa, pb = position(a, t), position(b, t)
        if pa and pb and math.hypot(pa[0] - pb[0], pa[1] - pb[1]) <= DIST + pa[2] + pb[2]:
            together.append(t)
        t += MINUTE
    meetings: list[list[int]] = []
    for t in together:
        if meetings and t - meetings[-1][-1] <= JOIN:
            meetings[-1].append(t)
        else:
            meetings.append([t])
    seen_to = min(a[-1][0], b[-1][0])
    return [
        (m[0], m[-1] if m[-1] + JOIN < seen_to else None)
        for m in meetings
        if m[-1] - m[0] >= MIN_MS
    ]


@st.composite
def evenings(draw):
    """Two trails: stretches at spots near and far, at various rates, with gaps and
    vague fixes."""
    fixes = []
    for tag in ("BUD-0001", "BUD-0002"):
        m = draw(st.integers(0, 5)) + draw(st.sampled_from([0.0, 0.25, 0.5]))
        while m < 60:
            dx = draw(st.sampled_from([0, 20, 40, 69, 71, 75, 200])) if tag == "BUD-0002" else 0
            step = draw(st.sampled_from([0.5, 1.0, 2.0, 3.0, 5.0, 7.0]))
            end = m + draw(st.integers(1, 25))
            while m < min(end, 60):
                acc = draw(st.sampled_from([5.0, 10.0, 15.0, 40.0, 300.0]))
                fixes.append(fix_at(dx, 0, m, acc=acc, tag=tag))
                m += step
    return fixes


@settings(max_examples=300, deadline=None)
@given(fixes=evenings())
def test_meetings_match_the_reference(fixes):
    got = sorted((c.opened_at, c.closed_at) for c in matched(fixes, reg()))
    assert got == reference(fixes)
