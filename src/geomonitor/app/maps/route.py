"""A visiting order: the shortest open route from a start through every stop.

Exact (Held-Karp dynamic programming) up to :data:`EXACT_UP_TO` stops; beyond, the nearest
neighbour improved by 2-opt until no swap shortens it. Straight-line distances in metres
(British National Grid): officers drive, but the order between nearby addresses is what
matters, and that straight lines get right.
"""

from __future__ import annotations

import math
from itertools import combinations, pairwise

EXACT_UP_TO = 12


def route_length(
    start: tuple[float, float], stops: list[tuple[float, float]], order: list[int]
) -> float:
    pts = [start, *(stops[i] for i in order)]
    return sum(math.dist(a, b) for a, b in pairwise(pts))


def visiting_order(start: tuple[float, float], stops: list[tuple[float, float]]) -> list[int]:
    """Indexes of ``stops`` in the order to visit them, starting from ``start``."""
    n = len(stops)
    if n <= 1:
        return list(range(n))
    if n <= EXACT_UP_TO:
        return _held_karp(start, stops)
    return _two_opt(start, stops, _nearest(start, stops))


def _held_karp(start: tuple[float, float], stops: list[tuple[float, float]]) -> list[int]:
    n = len(stops)
    d = [[math.dist(a, b) for b in stops] for a in stops]
    best: dict[tuple[int, int], tuple[float, int]] = {}
    for i in range(n):
        best[(1 << i, i)] = (math.dist(start, stops[i]), -1)
    for size in range(2, n + 1):
        for subset in combinations(range(n), size):
            mask = sum(1 << i for i in subset)
            for j in subset:
                prev = mask & ~(1 << j)
                best[(mask, j)] = min((best[(prev, k)][0] + d[k][j], k) for k in subset if k != j)
    full = (1 << n) - 1
    j = min(range(n), key=lambda j: (best[(full, j)][0], j))
    order, mask = [], full
    while j != -1:
        order.append(j)
        j, mask = best[(mask, j)][1], mask & ~(1 << j)
    return order[::-1]


def _nearest(start: tuple[float, float], stops: list[tuple[float, float]]) -> list[int]:
    left, here, order = set(range(len(stops))), start, []
    while left:
        j = min(left, key=lambda k: (math.dist(here, stops[k]), k))
        order.append(j)
        left.remove(j)
        here = stops[j]
    return order


def _two_opt(
    start: tuple[float, float], stops: list[tuple[float, float]], order: list[int]
) -> list[int]:
    best = route_length(start, stops, order)
    improved = True
    while improved:
        improved = False
        for i in range(len(order) - 1):
            for j in range(i + 1, len(order)):
                cand = order[:i] + order[i : j + 1][::-1] + order[j + 1 :]
                length = route_length(start, stops, cand)
                if length < best - 1e-9:
                    order, best, improved = cand, length, True
    return order
