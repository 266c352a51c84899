"""What counts as a look at personal data, and the record of one: the consultation log.

The Data Protection Act 2018 Part 3 requires a log of every consultation and disclosure of
personal data processed for law enforcement: who, when, what, from where and why. This
module is the one place that says which desk routes (:data:`ROUTES`) and which commands
(:data:`COMMANDS`) consult such data; the desk refuses to start with a route it does not
know, the command line with a command it does not know, and a test walks both. Each
consultation, allowed or refused, is one row of the store's audit log
(:mod:`geomonitor.store.auditlog`) holding ids, never contents.

Trails, crime matches, evidence and exports need a stated purpose (``--purpose TEXT``);
the desk's pages have the purpose of the desk itself (reviewing candidates, checking
curfews, auditing tags).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ..model.errors import InputError
from ..model.text import free_text
from ..store.domain import Store

MAX_PURPOSE = 300
ALL = "all"


@dataclass(frozen=True)
class Kind:
    """A kind of consultation: its action name in the log, and whether the user must say
    why (``purpose``) or has the desk's own purpose (``default_purpose``)."""

    action: str
    purpose: bool = False
    default_purpose: str | None = None


#: a route or command that changes things: the workflow logs the change itself; a
#: refusal is logged as a consultation refused
WRITE = Kind("change")

_REVIEW = "desk review"

#: every desk route: (method, path) -> what it consults (None: no personal data)
ROUTES: dict[tuple[str, str], Kind | None] = {
    ("GET", "/login"): None,
    ("POST", "/login"): None,  # logins are logged by the accounts module
    ("POST", "/logout"): None,
    ("GET", "/api/session"): None,
    ("GET", "/api/openapi.json"): None,
    ("GET", "/"): Kind("view_queue", default_purpose=_REVIEW),
    ("GET", "/candidates/{cid}"): Kind("view", default_purpose=_REVIEW),
    ("POST", "/candidates/{cid}/{action}"): WRITE,
    ("GET", "/candidates/{cid}/map"): Kind("view_map", default_purpose=_REVIEW),
    ("POST", "/candidates/{cid}/pack"): Kind("evidence_pack"),  # the purpose typed in the form
    ("GET", "/subjects/{sid}"): Kind("view_subject", default_purpose=_REVIEW),
    ("POST", "/subjects/{sid}/absences"): WRITE,
    ("POST", "/absences/{aid}/cancel"): WRITE,
    ("GET", "/accounts"): Kind("view_accounts", default_purpose="account management"),
    ("POST", "/accounts"): WRITE,
    ("POST", "/accounts/{username}/{what}"): WRITE,
    ("GET", "/audit"): Kind("read_audit_log", default_purpose="supervision"),
    ("GET", "/health"): Kind("view_health", default_purpose="supervision"),
    ("GET", "/reports/audit"): Kind("view_tag_audit", default_purpose="monthly tag audit"),
    ("GET", "/maps/curfew"): Kind("view_curfew_map", default_purpose="curfew check"),
    ("GET", "/api/candidates"): Kind("api_queue", default_purpose=_REVIEW),
    ("GET", "/api/candidates/{cid}"): Kind("api_view", default_purpose=_REVIEW),
    ("POST", "/api/candidates/{cid}/{action}"): WRITE,
}

#: every command: its words -> what it consults (None: no personal data shown)
COMMANDS: dict[str, Kind | None] = {
    "registry load": None,
    "registry check": None,
    "registry history": Kind("registry_history"),
    "registry schema": None,
    "replay": None,
    "alerts list": Kind("list_candidates"),
    "alerts show": Kind("view"),
    "alerts history": Kind("view_history"),
    **{f"alerts {a}": WRITE for a in ("ack", "dismiss", "decide", "note", "reopen")},
    "devices": Kind("list_device_events"),
    "rejected": Kind("list_rejected"),
    "users add": None,
    "users list": None,
    "users disable": None,
    "users enable": None,
    "users bind": None,
    "desk": None,
    "tags list": Kind("list_tags"),
    "tags show": Kind("view_tag"),
    "tags history": Kind("tag_history"),
    **{f"tags {a}": None for a in ("add", "allocate", "transfer", "fit", "remove", "flag")},
    "tags usage": None,  # figures per district, no person
    "tags flex": None,
    "demand set": None,
    "demand list": None,
    "audit monthly": Kind("tag_audit"),
    "map curfew": Kind("curfew_map"),
    "map alert": Kind("alert_map", purpose=True),
    "map trail": Kind("trail_map", purpose=True),
    "map zones": Kind("zone_map"),
    "crimes match": Kind("crime_match", purpose=True),
    "crimes check": Kind("crime_check", purpose=True),
    "evidence pack": Kind("evidence_pack", purpose=True),
    "evidence verify": None,  # the pack's files and their digests only
    "simulate": None,
    "demo": None,
    "consume": None,
    "produce": None,
    "notify": None,
    "health": Kind("health"),
    "auditlog verify": None,  # hashes and counts only
    "auditlog show": Kind("read_audit_log"),
    "retention run": None,  # counts only; the run is logged by itself
    "retention hold": WRITE,
    "retention release": WRITE,
    "subject withdraw": WRITE,
    "subject export": Kind("subject_export", purpose=True),
    "absences add": WRITE,
    "absences cancel": WRITE,
    "absences import": WRITE,
    "absences list": Kind("list_absences"),
}


def purpose_text(value: str | None) -> str | None:
    """A stated purpose, checked like any free text; None if none was given."""
    t = free_text(value, "purpose", MAX_PURPOSE)
    if value is not None and len(t) < 3:
        raise InputError("purpose: say why, in at least 3 characters")
    return t or None


@dataclass
class Consultation:
    """One look at personal data, filled in while it happens and recorded once."""

    kind: Kind
    actor: str
    origin: str
    #: the actor's reach: a district code, or ``all`` (force-wide, logged as such)
    scope: str
    purpose: str | None = None
    target: str | None = None
    subjects: set[str] = field(default_factory=set)
    districts: set[str] = field(default_factory=set)
    detail: str | None = None

    def about(self, subjects: Iterable[str] = (), districts: Iterable[str | None] = ()) -> None:
        """Note whose data this is (pseudonymous subject ids, district codes)."""
        self.subjects.update(s for s in subjects if s and s != "-")
        self.districts.update(d for d in districts if d)

    def record(self, store: Store, at: int, refused: str | None = None) -> None:
        """Append the row (``refused``: why it was refused)."""
        parts = [p for p in (self.detail, "force-wide" if self.scope == ALL else None,
                             f"refused: {refused}" if refused else None) if p]  # fmt: skip
        districts = self.districts or {self.scope}
        store.audit(
            at,
            self.actor,
            self.kind.action,
            self.target,
            self.origin,
            "; ".join(parts) or None,
            purpose=self.purpose or self.kind.default_purpose,
            outcome="refused" if refused else "ok",
            district=" ".join(sorted(districts)),
            subjects=sorted(self.subjects),
        )
