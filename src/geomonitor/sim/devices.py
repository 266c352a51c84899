"""Planting step for the tags themselves: strap tampers, and faulty units."""

from __future__ import annotations

import numpy as np

from ..model.times import MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE, iso
from .scenario import Scenario, SimSubject, Visit


def plant_device_faults(
    sc: Scenario,
    s: SimSubject,
    ts: np.ndarray,
    acc: np.ndarray,
    batt: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    visits: list[Visit],
) -> tuple[np.ndarray, np.ndarray | None]:
    """Strap tampers on some tags; one faulty unit in every ten subjects or so.

    A tamper is a run of 3-8 reports with the strap open. A faulty unit has three hours
    of poor accuracy, one fix thrown 30 km, and a battery that runs down and dies four
    hours before the end of the scenario (so contact is lost while fitted). Changes the
    columns in place; returns the strap column and which fixes the tag still sent (None:
    all of them).
    """
    rng = sc.rng_d
    k, count = sc.people.index(s), len(sc.people)
    n = len(ts)
    strap = np.array(["ok"] * n, dtype=object)
    busy = [(a - 30 * MS_PER_MINUTE, b + 30 * MS_PER_MINUTE) for _, _, a, b in visits]

    def free(i0: int, i1: int) -> bool:
        return not any(ts[i0] <= b and ts[i1] >= a for a, b in busy)

    if rng.random() < 0.2 and n > 200:
        for _ in range(20):
            i0 = int(rng.integers(60, n - 60))
            i1 = i0 + int(rng.integers(3, 9))
            if free(i0, i1):
                strap[i0:i1] = "tamper"
                sc.planted.append(
                    {
                        "kind": "strap_tamper",
                        "subject_id": s.id,
                        "order_id": "-",
                        "condition_id": s.tag,
                        "start": iso(int(ts[i0])),
                        "end": iso(int(ts[i1])),
                        "planted": True,
                    }
                )
                break
    if not (count >= 5 and k % 10 == 3):
        return strap, None
    t_start = sc.t_start
    death = sc.end - 4 * MS_PER_HOUR
    if any(b > death - 60 * MS_PER_MINUTE for _, _, _, b in visits):
        return strap, None
    # Three hours of poor accuracy, mid-scenario.
    p0 = int(np.searchsorted(ts, t_start + MS_PER_DAY + 10 * MS_PER_HOUR))
    p1 = int(np.searchsorted(ts, t_start + MS_PER_DAY + 13 * MS_PER_HOUR))
    acc[p0:p1] = rng.uniform(200, 600, p1 - p0)
    # One fix thrown 30 km (a GPS fault).
    j = int(np.searchsorted(ts, t_start + MS_PER_DAY + 15 * MS_PER_HOUR))
    lat[j] += 0.27
    # The battery runs down over the last eight hours, then the tag goes quiet.
    b0 = int(np.searchsorted(ts, death - 8 * MS_PER_HOUR))
    d = int(np.searchsorted(ts, death))
    batt[b0:d] = np.linspace(40, 4, d - b0)
    # The silence it leaves is in the ground truth with every other (silence_truth).
    sc.faulty.append(
        {
            "tag_id": s.tag,
            "subject_id": s.id,
            "faults": [
                "poor_accuracy",
                "implausible_jump",
                "low_battery",
                "battery_depleted",
                "no_contact",
            ],
        }
    )
    return strap, np.arange(n) < d
