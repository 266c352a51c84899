"""The review workflow: how a candidate becomes a decision. One implementation for the
command line, the web desk and its JSON API.

A candidate's *episode* state (open or closed) is the engine's; its *review* state is the
desk's: ``new`` -> ``acknowledged`` (someone is on it) -> one outcome. A dismissal needs a
reason (:data:`DISMISS_REASONS`; ``other`` needs words). Notes may be added at any time;
a supervisor may reopen a decision, with a reason. A candidate that new evidence changed
after its decision is flagged for another look.

Who may do what (:data:`ROLES`): a ``viewer`` reads; the ``desk`` also acknowledges,
decides and notes; a ``supervisor`` also reopens and reads the audit log. Everybody sees
only their own district's candidates (a force-wide account has district ``all``): any
other id is "not found", as if it did not exist.

Every action goes to the audit log; what a user looks at is recorded by the desk or the
command that showed it (:mod:`geomonitor.app.consult`), with the subjects :meth:`Desk.get`
and :meth:`Desk.saw` note on ``consult``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...model.candidate import SEVERITIES, Candidate, severity
from ...model.errors import InputError
from ...model.text import free_text
from ...store.domain import Store
from ..consult import Consultation

OUTCOMES = (
    "dismissed",
    "advice_given",
    "warning_letter",
    "interview",
    "recall_requested",
    "file_to_cps",
    "intelligence_only",
)
DISMISS_REASONS = ("gps_drift", "authorised_visit", "duplicate", "device_fault", "other")
STATES = ("new", "acknowledged", *OUTCOMES)
ROLES = {
    "viewer": frozenset({"view"}),
    "desk": frozenset({"view", "ack", "decide", "note", "absences"}),
    "supervisor": frozenset(
        {"view", "ack", "decide", "note", "reopen", "audit", "accounts", "absences"}
    ),
}
ALL = "all"
MAX_NOTE = 4000


class NotFound(InputError):
    """No such candidate, or not one this user may see (the same answer for both)."""


class NotAllowed(InputError):
    """The user's role does not allow the action."""


class Conflict(InputError):
    """The request is well formed but conflicts with what is there (a state that does not
    allow it, a name taken): HTTP 409."""


class ReviewError(Conflict):
    """The workflow refuses the action (a reason missing, a state that does not allow it)."""


@dataclass(frozen=True)
class User:
    username: str
    role: str
    district: str  # a district code, or ``all``

    def may(self, what: str) -> bool:
        return what in ROLES.get(self.role, frozenset())

    def sees(self, district: str | None) -> bool:
        return self.district == ALL or district == self.district


@dataclass
class Item:
    """A candidate with its review state, for the queue and the candidate page."""

    candidate: Candidate
    district: str
    state: str
    outcome: str | None
    reason: str | None
    look_again: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "candidate": self.candidate.to_json(),
            "severity": severity(self.candidate),
            "district": self.district,
            "review_state": self.state,
            "outcome": self.outcome,
            "reason": self.reason,
            "look_again": self.look_again,
        }


class Desk:
    """The review workflow over a store, for one user, from one place (``origin``: an IP
    address or ``cli``)."""

    def __init__(self, store: Store, user: User, origin: str, now: int,
                 consult: Consultation | None = None):  # fmt: skip
        self.store, self.user, self.origin, self.now = store, user, origin, now
        self.consult = consult
        self._districts = {s.id: s.district for s in store.current_registry().subjects.values()}

    # ------------------------------------------------------------------ reading
    def _item(self, c: Candidate, reviews: dict, changed: dict) -> Item:
        r = reviews.get(c.id) or {}
        decided = r.get("decided_at")
        look = bool(decided is not None and changed.get(c.id, 0) > decided)
        return Item(c, self._districts.get(c.subject_id, ""), r.get("state", "new"),
                    r.get("outcome"), r.get("reason"), look)  # fmt: skip

    def items(self) -> list[Item]:
        """Every candidate the user may see, whatever its review state, unsorted."""
        reviews, changed = self.store.reviews(), self.store.last_changed()
        its = (self._item(c, reviews, changed) for c in self.store.candidates())
        return [it for it in its if self.user.sees(it.district)]

    def queue(
        self,
        district: str | None = None,
        kind: str | None = None,
        state: str | None = None,
        since: int | None = None,
        until: int | None = None,
        open_only: bool = False,
    ) -> list[Item]:
        """The user's queue: severity, then age (oldest first), open or closed episodes alike;
        filters as given. Without a ``state`` filter, decided candidates are left out unless
        flagged for another look."""
        return queue_of(self.items(), district, kind, state, since, until, open_only)

    def get(self, cid: str) -> Item:
        """One candidate the user may see (noted on the consultation); NotFound otherwise."""
        c = self.store.candidate(cid)
        if c is None or not self.user.sees(self._districts.get(c.subject_id)):
            raise NotFound(f"no candidate {cid}")
        it = self._item(c, {cid: self.store.review(cid)}, self.store.last_changed(cid))
        self.saw([it])
        return it

    def saw(self, items: list[Item]) -> list[Item]:
        """Note on the consultation whose data the user is shown; returns ``items``."""
        if self.consult is not None:
            self.consult.about((it.candidate.subject_id for it in items),
                               (it.district for it in items))  # fmt: skip
        return items

    def history(self, cid: str) -> list[dict[str, Any]]:
        self.get(cid)
        return self.store.review_history(cid)

    # ------------------------------------------------------------------ acting
    def _act(self, what: str, cid: str) -> Item:
        if not self.user.may(what):
            raise NotAllowed(f"{self.user.username} ({self.user.role}) may not {what}")
        return self.get(cid)

    def _save(self, it: Item, action: str, state: str, outcome: str | None,
              reason: str | None, note: str | None, decided: int | None) -> Item:  # fmt: skip
        cid = it.candidate.id
        with self.store.transaction():
            self.store.save_review(cid, self.now, self.user.username, action, state, outcome,
                                   reason, note, decided)  # fmt: skip
            parts = [f"outcome={outcome}", f"reason={reason}"] if action == "decide" else [
                f"state={state}", f"reason={reason}"]  # fmt: skip
            detail = " ".join(p for p in parts if not p.endswith("=None"))
            self.store.audit(self.now, self.user.username, action, cid, self.origin, detail,
                             district=it.district, subjects=[it.candidate.subject_id])  # fmt: skip
        return self.get(cid)

    def acknowledge(self, cid: str) -> Item:
        it = self._act("ack", cid)
        if it.state != "new":
            raise ReviewError(f"{cid} is {it.state}, not new")
        return self._save(it, "acknowledge", "acknowledged", None, None, None, None)

    def decide(self, cid: str, outcome: str, reason: str | None = None,
               text: str | None = None) -> Item:  # fmt: skip
        """Record an outcome. A dismissal needs a reason (``other`` with text)."""
        it, why, text = self.check_decision(cid, outcome, reason, text)
        return self._save(it, "decide", outcome, outcome, why, text, self.now)

    def check_decision(self, cid: str, outcome: str, reason: str | None = None,
                       text: str | None = None) -> tuple[Item, str | None, str]:  # fmt: skip
        """What :meth:`decide` would record (the item, the reason, the note), or the error
        it would raise; nothing is saved (the desk asks for confirmation with this)."""
        it = self._act("decide", cid)
        if outcome not in OUTCOMES:
            raise ReviewError(f"unknown outcome {outcome!r} ({', '.join(OUTCOMES)})")
        if it.state in OUTCOMES and not it.look_again:
            raise ReviewError(f"{cid} is already decided ({it.state}); a supervisor may reopen it")
        text = _clean(text)
        if outcome == "dismissed":
            if reason not in DISMISS_REASONS:
                raise ReviewError(
                    f"a dismissal needs a reason: one of {', '.join(DISMISS_REASONS)}"
                )
            if reason == "other" and not text:
                raise ReviewError("a dismissal for another reason needs it in words")
        elif reason is not None and reason not in DISMISS_REASONS:
            reason = None
        why = reason if outcome == "dismissed" else None
        if why == "other":
            why = f"other: {text}"
        return it, why, text

    def dismiss(self, cid: str, reason: str | None, text: str | None = None) -> Item:
        return self.decide(cid, "dismissed", reason, text)

    def note(self, cid: str, text: str) -> Item:
        it = self._act("note", cid)
        text = _clean(text)
        if not text:
            raise ReviewError("an empty note")
        r = self.store.review(cid) or {}
        return self._save(it, "note", it.state, r.get("outcome"), r.get("reason"), text,
                          r.get("decided_at"))  # fmt: skip

    def reopen(self, cid: str, reason: str) -> Item:
        it = self._act("reopen", cid)
        reason = _clean(reason)
        if it.state not in OUTCOMES:
            raise ReviewError(f"{cid} is {it.state}: nothing to reopen")
        if not reason:
            raise ReviewError("reopening needs a reason")
        return self._save(it, "reopen", "acknowledged", None, reason, None, None)

    def audit_log(self, limit: int = 500) -> list[dict[str, Any]]:
        """The latest rows of the audit log: of the user's district only (rows about its
        data or its accounts), every row for a force-wide supervisor."""
        if not self.user.may("audit"):
            raise NotAllowed(f"{self.user.username} ({self.user.role}) may not read the audit log")
        scope = None if self.user.district == ALL else self.user.district
        return self.store.audit_log(limit, district=scope)


def queue_of(
    items: list[Item],
    district: str | None = None,
    kind: str | None = None,
    state: str | None = None,
    since: int | None = None,
    until: int | None = None,
    open_only: bool = False,
) -> list[Item]:
    """The items that pass the filters, by severity then age (see :meth:`Desk.queue`)."""
    out = []
    for it in items:
        c = it.candidate
        if district and it.district != district:
            continue
        if kind and c.kind != kind:
            continue
        if state and it.state != state:
            continue
        if not state and it.state in OUTCOMES and not it.look_again:
            continue
        if since is not None and c.opened_at < since:
            continue
        if until is not None and c.opened_at >= until:
            continue
        if open_only and c.status != "open":
            continue
        out.append(it)
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    out.sort(key=lambda it: (rank[severity(it.candidate)], it.candidate.opened_at,
                             it.candidate.id))  # fmt: skip
    return out


def _clean(text: str | None) -> str:
    return free_text(text, "text", MAX_NOTE)
