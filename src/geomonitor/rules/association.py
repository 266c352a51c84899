"""Non-association: two people an order says must not meet, found together.

A ``non_association`` condition on a subject's order names other subjects, a distance
(``distance_m``, default 50) and a time (``min_minutes``, default 10). Both wear tags, so
their trails (:mod:`geomonitor.trail`) can be compared at common instants: every whole
minute (``step_s``) at which both positions are known. At such an instant the two are
*together* when the distance between the positions is no more than ``distance_m`` plus both
accuracy radii (the evidence allows that they were that close). Together instants no more
than ``join_minutes`` apart are one meeting; a meeting lasting ``min_minutes`` or more, from
its first together instant to its last, is a ``non_association`` breach candidate of the
order that names the other person (mutual conditions give one candidate on each order).

Scale: the positions of every subject concerned are put in time-bucketed square cells at
least as wide as the largest reach, and only subjects in the same or a neighbouring cell at
the same instant are compared. The cost grows with the number of subjects and the pairs
actually near each other, not with the square of the number of subjects.

Pure: trails and the span of instants each batch changed in, candidate changes out. The
together instants of a pair are a function of the two trails only, so any arrival order
gives the same candidates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..model.candidate import (
    Candidate,
    Emitted,
    candidate_id,
    fix_refs,
    reconcile,
)
from ..model.columns import join_sorted
from ..model.registry import Registry, in_force
from ..model.text import distance, duration, local_clock, local_time, plural
from ..model.times import MS_PER_MINUTE
from .config import AssociationConfig
from .trail import Trail


@dataclass(frozen=True)
class AssociationRule:
    """One non-association condition between its subject and one named other subject."""

    subject: int  # engine subject index
    other: int
    subject_id: str
    other_id: str
    order_id: str
    condition_id: str
    distance_m: float
    min_ms: int
    valid_from: int
    valid_to: int


def association_rules(registry: Registry, subject_ix: dict[str, int]) -> list[AssociationRule]:
    """Every (condition, other subject) pair of the registry's non-association conditions."""
    out = []
    for order, cond in registry.conditions("non_association"):
        p = cond.non_association
        assert p is not None
        vf, vt = in_force(order, cond)
        for other in p.subjects:  # never the subject itself (the registry refuses it)
            out.append(
                AssociationRule(
                    subject_ix[order.subject_id],
                    subject_ix[other],
                    order.subject_id,
                    other,
                    order.id,
                    cond.id,
                    p.distance_m,
                    int(p.min_minutes * MS_PER_MINUTE),
                    vf,
                    vt,
                )
            )
    return out


@dataclass
class _Together:
    """A rule's together instants and the distance at each, sorted by time."""

    t: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    d: np.ndarray = field(default_factory=lambda: np.empty(0))


def near_pairs(slot: np.ndarray, cx: np.ndarray, cy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs ``(i, j)``, ``i != j``, each once, of points in the same time slot and in
    the same or a neighbouring cell (cells given as integer coordinates, any range)."""
    n = len(slot)
    e = np.empty(0, np.int64)
    if n == 0:
        return e, e
    # One integer key per (slot, cell) in mixed radix over this batch's own ranges, with
    # a spare cell on every side: neighbouring cells differ by exactly dx * ny + dy.
    s = slot.astype(np.int64) - slot.min()
    x = cx.astype(np.int64) - cx.min() + 1
    y = cy.astype(np.int64) - cy.min() + 1
    nx, ny = int(x.max()) + 2, int(y.max()) + 2
    if (int(s.max()) + 1) * nx * ny >= 2**62:  # far-flung points: one instant at a time
        out = [
            (idx[a], idx[b])
            for v in np.unique(slot)
            for idx in [np.flatnonzero(slot == v)]
            for a, b in [near_pairs(slot[idx], cx[idx], cy[idx])]
        ]
        return np.concatenate([a for a, _ in out]), np.concatenate([b for _, b in out])
    key = (s * nx + x) * ny + y
    order = np.argsort(key, kind="stable")
    sk = key[order]
    out_i, out_j = [], []
    # Half the neighbourhood: every unordered pair of cells is visited once.
    for dx, dy in ((0, 0), (1, -1), (1, 0), (1, 1), (0, 1)):
        qi, j = join_sorted(sk, order, key + dx * ny + dy)
        if dx == 0 and dy == 0:
            keep = qi < j
            qi, j = qi[keep], j[keep]
        out_i.append(qi)
        out_j.append(j)
    return np.concatenate(out_i), np.concatenate(out_j)


def _merge_spans(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


class Associations:
    """The non-association rules of a registry, over the subjects' trails.

    Parameters
    ----------
    rules
        From :func:`association_rules`.
    tag_ids
        Engine tag index -> tag id (for evidence references).
    """

    def __init__(
        self,
        rules: list[AssociationRule],
        tag_ids: list[str],
        cfg: AssociationConfig | None = None,
    ):
        self.cfg = cfg or AssociationConfig()
        self.rules = rules
        self._tag_names = np.array(tag_ids, dtype=object)
        self._rules_of: dict[int, list[int]] = {}
        self._rules_of_pair: dict[int, list[int]] = {}
        self._n = max([max(r.subject, r.other) for r in rules], default=0) + 1
        for i, r in enumerate(rules):
            self._rules_of.setdefault(r.subject, []).append(i)
            self._rules_of.setdefault(r.other, []).append(i)
            self._rules_of_pair.setdefault(self._pair(r.subject, r.other), []).append(i)
        self._named = np.array(sorted(self._rules_of_pair), np.int64)
        reach = max([r.distance_m for r in rules], default=0.0)
        self.cell_m = max(reach + 2 * self.cfg.max_accuracy_m, 1.0)
        self.step_ms = int(self.cfg.step_s * 1000)
        self.gap_ms = int(self.cfg.max_gap_minutes * MS_PER_MINUTE)
        self.join_ms = int(self.cfg.join_minutes * MS_PER_MINUTE)
        self._together = [_Together() for _ in rules]
        self._emitted: list[Emitted] = [{} for _ in rules]
        #: Per rule, per emitted candidate: the meeting it was made from and the span of
        #: its evidence (an unchanged meeting whose evidence a batch did not touch is not
        #: made again: a pair who meet every day would otherwise be rebuilt every batch).
        self._made: list[dict[str, tuple[tuple, int, int]]] = [{} for _ in rules]

    @property
    def subjects(self) -> set[int]:
        """Subjects whose trails these rules need."""
        return set(self._rules_of)

    def _pair(self, a: int, b: int) -> int:
        return min(a, b) * self._n + max(a, b)

    # ------------------------------------------------------------------ matching
    def update(
        self, trails: dict[int, Trail], changed: dict[int, tuple[int, int]]
    ) -> tuple[list[Candidate], list[str]]:
        """Re-examine the instants whose positions changed; returns the candidates opened
        or changed and the ids of those retracted.

        Parameters
        ----------
        trails
            Subject index -> trail (after the batch).
        changed
            Subject index -> closed span of instants whose position may have changed.
        """
        spans: dict[int, tuple[int, int]] = {}
        for s, (lo, hi) in changed.items():
            for r in self._rules_of.get(s, ()):
                a, b = spans.get(r, (lo, hi))
                spans[r] = (min(a, lo), max(b, hi))
        if not spans:
            return [], []
        # Which instants to place each subject at: the spans of its rules.
        per_subject: dict[int, list[tuple[int, int]]] = {}
        for r, span in spans.items():
            rule = self.rules[r]
            per_subject.setdefault(rule.subject, []).append(span)
            per_subject.setdefault(rule.other, []).append(span)
        ts_l, s_l, x_l, y_l, acc_l = [], [], [], [], []
        for s, sp in sorted(per_subject.items()):
            trail = trails.get(s)
            if trail is None or len(trail) == 0:
                continue
            inst = np.unique(
                np.concatenate(
                    [
                        trail.known_instants(a, b, self.step_ms, self.gap_ms)
                        for a, b in _merge_spans(sp)
                    ]
                )
            )
            if len(inst) == 0:
                continue
            known, x, y, acc, _ = trail.at(inst, self.gap_ms)
            ts_l.append(inst[known])
            s_l.append(np.full(int(known.sum()), s, np.int64))
            x_l.append(x[known])
            y_l.append(y[known])
            acc_l.append(acc[known])
        new: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        if ts_l:
            t = np.concatenate(ts_l)
            subj = np.concatenate(s_l)
            x, y, acc = np.concatenate(x_l), np.concatenate(y_l), np.concatenate(acc_l)
            i, j = near_pairs(
                t // self.step_ms,
                np.floor(x / self.cell_m).astype(np.int64),
                np.floor(y / self.cell_m).astype(np.int64),
            )
            code = np.minimum(subj[i], subj[j]) * self._n + np.maximum(subj[i], subj[j])
            hit = np.isin(code, self._named)
            i, j, code = i[hit], j[hit], code[hit]
            d = np.hypot(x[i] - x[j], y[i] - y[j])
            slack = acc[i] + acc[j]
            tt = t[i]
            order = np.argsort(code, kind="stable")
            i, j, code, d, slack, tt = (a[order] for a in (i, j, code, d, slack, tt))
            bounds = np.flatnonzero(np.diff(code)) + 1
            for seg in np.split(np.arange(len(code)), bounds) if len(code) else []:
                for r in self._rules_of_pair[int(code[seg[0]])]:
                    if r not in spans:
                        continue
                    rule = self.rules[r]
                    lo, hi = spans[r]
                    ok = (
                        (d[seg] <= rule.distance_m + slack[seg])
                        & (tt[seg] >= max(lo, rule.valid_from))
                        & (tt[seg] <= hi)
                        & (tt[seg] < rule.valid_to)
                    )
                    new[r] = (tt[seg][ok], d[seg][ok])
        upserts: list[Candidate] = []
        retracted: list[str] = []
        for r, (lo, hi) in sorted(spans.items()):
            tog = self._together[r]
            keep = (tog.t < lo) | (tog.t > hi)
            nt, nd = new.get(r, (np.empty(0, np.int64), np.empty(0)))
            t_all = np.concatenate([tog.t[keep], nt])
            d_all = np.concatenate([tog.d[keep], nd])
            o = np.argsort(t_all, kind="stable")
            tog.t, tog.d = t_all[o], d_all[o]
            self._judge(r, trails, (lo, hi), upserts, retracted)
        return sorted(upserts, key=lambda c: c.id), sorted(retracted)

    def _judge(
        self,
        r: int,
        trails: dict[int, Trail],
        span: tuple[int, int],
        upserts: list[Candidate],
        retracted: list[str],
    ) -> None:
        rule = self.rules[r]
        tog = self._together[r]
        emitted, made = self._emitted[r], self._made[r]
        now: list[Candidate] = []
        lo, hi = span
        if len(tog.t):
            bounds = np.flatnonzero(np.diff(tog.t) > self.join_ms) + 1
            a_tr, b_tr = trails[rule.subject], trails[rule.other]
            # Both trails go on past this instant: a meeting ending before it is over.
            seen_to = min(int(a_tr.ts[-1]), int(b_tr.ts[-1]))
            for seg in np.split(np.arange(len(tog.t)), bounds):
                first, last = int(tog.t[seg[0]]), int(tog.t[seg[-1]])
                if last - first < rule.min_ms:
                    continue
                closed = last + self.join_ms < seen_to
                meeting = (first, last, closed, len(seg), float(tog.d[seg].min()))
                cid = _meeting_id(rule, first)
                old = made.get(cid)
                if old is not None and old[0] == meeting and (old[2] < lo or old[1] > hi):
                    now.append(emitted[cid][1])  # nothing behind it changed
                    continue
                c, ev_lo, ev_hi = self._candidate(rule, *meeting, a_tr, b_tr)
                made[cid] = (meeting, ev_lo, ev_hi)
                now.append(c)
        reconcile(emitted, now, upserts, retracted)
        for cid in [cid for cid in made if cid not in emitted]:
            del made[cid]

    def _candidate(
        self,
        rule: AssociationRule,
        first: int,
        last: int,
        closed: bool,
        samples: int,
        closest: float,
        a_tr: Trail,
        b_tr: Trail,
    ) -> tuple[Candidate, int, int]:
        """The candidate of one meeting, and the first and last instant of its evidence."""
        ts: list[int] = []
        tags: list[str] = []
        for tr in (a_tr, b_tr):
            sl = tr.fixes_between(first, last)
            ts += tr.ts[sl].tolist()
            tags += self._tag_names[tr.tag[sl]].tolist()
        order = sorted(range(len(ts)), key=lambda k: (ts[k], tags[k]))
        evidence = fix_refs([tags[k] for k in order], [ts[k] for k in order])
        minutes = round((last - first) / MS_PER_MINUTE)
        end = (
            f"to {local_clock(last, first)}"
            if closed
            else f"still together at {local_clock(last, first)}"
        )
        c = Candidate(
            id=_meeting_id(rule, first),
            kind="non_association",
            subject_id=rule.subject_id,
            order_id=rule.order_id,
            condition_id=rule.condition_id,
            zone_id=None,
            opened_at=first,
            closed_at=last if closed else None,
            status="closed" if closed else "open",
            fix_count=len(evidence),
            explanation=(
                f"{rule.subject_id} within {distance(rule.distance_m)} of {rule.other_id} "
                f"(non-association {rule.condition_id}) for "
                f"{duration(minutes * MS_PER_MINUTE)} from {local_time(first)} {end}: "
                f"together at {plural(samples, 'minute')} compared, closest "
                f"{distance(closest)} apart (accuracy allowed for)."
            ),
            last_evidence_at=last,
            evidence=evidence,
            details={
                "other_subject_id": rule.other_id,
                "minutes": minutes,
                "closest_m": round(closest, 1),
                "instants_together": samples,
                "distance_m": rule.distance_m,
            },
        )  # fmt: skip
        return c, min(ts), max(ts)

    def candidates(self) -> list[Candidate]:
        return [c for per in self._emitted for _, c in per.values()]


def _meeting_id(rule: AssociationRule, first: int) -> str:
    return candidate_id(
        "non_association", rule.subject_id, rule.order_id,
        f"{rule.condition_id}|{rule.other_id}", first,
    )  # fmt: skip
