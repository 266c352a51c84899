"""Telling the responsible officer: candidates of the configured severities by email, once.

An app-level reader of the store, apart from the engine and the consumers, run as its own
process (``geomonitor notify``): it follows the store's candidate history from a cursor
kept in the store, so whichever process recorded a candidate, it is mailed once.

* **Queue.** Every candidate first recorded (``opened``) of a configured severity
  (default critical and high) queues one mail to its subject's responsible officer (the
  registry's ``officer``; none: the district's ``duty_inbox``); a feed outage goes to the
  duty inboxes of the districts it silenced. Queuing and moving the cursor are one
  transaction: a crash queues nothing twice and misses nothing.
* **Send.** A mail is claimed (``sending``, committed) before the server is spoken to and
  recorded ``sent`` after it accepted. A sender that died between the two sends it again
  on restart with the same ``Message-ID`` (mail systems drop a copy they hold by it);
  a sender that died before claiming sends it once. While the server is down, each mail
  is retried with a doubling wait (``retry_first_s`` up to ``retry_max_s``); a permanent
  refusal (5xx) is ``failed``. Every attempt is recorded, without the address or content.
* **Escalate.** A mailed candidate still unacknowledged on the desk after
  ``escalate_after_minutes`` for its severity is mailed to the district's duty inbox.
* **Nothing personal.** A mail says the candidate id, kind, severity, when it began in UK
  local time, the district, and the desk link: no name, address, plate or coordinates.

Time is passed in (``now``, epoch ms); the command reads the wall clock at the edge.
"""

from __future__ import annotations

import hashlib
import logging
import smtplib
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

import orjson

from ..io.kafka.config import NotifyConfig
from ..io.kafka.faults import crash_point
from ..model.candidate import Candidate, severity
from ..model.registry import Registry
from ..model.text import local_time
from ..model.times import MS_PER_HOUR, MS_PER_MINUTE
from ..store.domain import Store
from ..store.stream_state import StreamState, lease_holder

log = logging.getLogger("geomonitor.notify")

#: Where the sender has read the candidate history up to.
CURSOR_KEY = "notify/cursor"
#: Candidate history rows read per transaction.
PAGE = 1000
#: One sender per store: two would both send what is due.
LEASE_KEY = "notify/sender"

#: A mail to send: (recipient, message) -> None; raises on failure.
Send = Callable[[str, EmailMessage], None]


class PermanentFailure(Exception):
    """The server refused for good (5xx): retrying will not help."""


def smtp_sender(cfg: NotifyConfig) -> Send:
    """Send over SMTP as configured (STARTTLS, login with the password read at load)."""

    def send(recipient: str, msg: EmailMessage) -> None:
        if cfg.host is None:
            raise ConnectionError("no mail server configured ([notify] host)")
        try:
            with smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout_s) as smtp:
                smtp.ehlo()
                if cfg.starttls:
                    smtp.starttls(context=ssl.create_default_context(cafile=cfg.tls_cafile))
                    smtp.ehlo()
                if cfg.username is not None:
                    password = cfg.password.get_secret_value() if cfg.password else ""
                    smtp.login(cfg.username, password)
                smtp.send_message(msg, to_addrs=[recipient])
        except smtplib.SMTPRecipientsRefused as e:
            codes = sorted({code for code, _ in e.recipients.values()})
            if all(c >= 500 for c in codes):
                raise PermanentFailure(f"recipient refused (SMTP {codes[0]})") from None
            raise ConnectionError(f"recipient deferred (SMTP {codes[0]})") from None
        except smtplib.SMTPResponseException as e:
            if e.smtp_code >= 500:
                raise PermanentFailure(f"refused (SMTP {e.smtp_code})") from None
            raise ConnectionError(f"deferred (SMTP {e.smtp_code})") from None

    return send


def describe_error(e: BaseException) -> str:
    """One line about a failed attempt, with nothing from the message or the address."""
    if isinstance(e, PermanentFailure | ConnectionError) and e.args:
        return f"{type(e).__name__}: {e.args[0]}"
    if isinstance(e, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(e, smtplib.SMTPNotSupportedError):
        return "the server does not offer STARTTLS"
    return type(e).__name__


@dataclass
class Stats:
    queued: int = 0
    skipped: int = 0
    escalated: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    cancelled: int = 0


def message_id(candidate_id: str, purpose: str, recipient: str) -> str:
    """The same for every copy of one mail (a resend is recognisable by it)."""
    h = hashlib.blake2b(f"{candidate_id}|{purpose}|{recipient}".encode(), digest_size=8)
    return f"<{candidate_id}.{purpose}.{h.hexdigest()}@geomonitor>"


class Notifier:
    """The notification sender over one store.

    Parameters
    ----------
    store
        The store (candidates, reviews, the outbox).
    cfg
        The ``[notify]`` settings.
    send
        How a message is sent (default: SMTP as configured).
    """

    def __init__(self, store: Store, cfg: NotifyConfig, send: Send | None = None):
        self.store = store
        self.cfg = cfg
        self.send = send or smtp_sender(cfg)
        self.stats = Stats()
        self._registry: Registry | None = None
        self._state = StreamState(store)
        self._holder = lease_holder(self)

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            self._registry = self.store.current_registry()
        return self._registry

    # ------------------------------------------------------------------ queue
    def recipients(self, c: Candidate) -> list[str]:
        """Who is told first of ``c``."""
        reg = self.registry
        subject = reg.subjects.get(c.subject_id)
        if subject is not None:
            to = subject.officer or self.duty_inbox(c)
            return [to] if to else []
        # Force-wide (a feed outage): the districts it silenced, else every district.
        named = set(c.details.get("districts", {}))
        chosen = [d for d in reg.districts.values() if d.name in named] or list(
            reg.districts.values()
        )
        return sorted({d.duty_inbox for d in chosen if d.duty_inbox})

    def duty_inbox(self, c: Candidate) -> str | None:
        """The duty inbox of the candidate's subject's district (None: none, or no subject)."""
        subject = self.registry.subjects.get(c.subject_id)
        district = self.registry.districts.get(subject.district) if subject else None
        return district.duty_inbox if district else None

    def enqueue(self, now: int) -> int:
        """Queue mail for candidates recorded since the cursor; returns how many."""
        wanted = set(self.cfg.severities)
        max_age = int(self.cfg.max_age_hours * MS_PER_HOUR)
        queued = 0
        while True:
            with self.store.transaction():
                cursor = int(self.store.meta_value(CURSOR_KEY) or 0)
                rows = self.store.candidate_events_after(cursor, PAGE)
                for _seq, cid, action, body in rows:
                    if action != "opened" or body is None:
                        continue
                    c = Candidate.from_json(orjson.loads(body))
                    sev = severity(c)
                    if sev not in wanted:
                        continue
                    stale = now - c.last_evidence_at > max_age
                    for to in self.recipients(c):
                        state = "skipped" if stale else "pending"
                        if self.store.queue_notification(
                            cid, "first", to, sev, now, message_id(cid, "first", to), state
                        ):
                            queued += not stale
                            self.stats.queued += not stale
                            self.stats.skipped += stale
                if rows:
                    self.store.set_meta(CURSOR_KEY, str(rows[-1][0]))
            if queued:
                crash_point("notify_queued")
            if len(rows) < PAGE:  # read to the end
                return queued

    def escalate(self, now: int) -> int:
        """Queue mail to the duty inbox for mailed candidates still unacknowledged."""
        out = 0
        with self.store.transaction():
            for n in self.store.unacknowledged_mail():
                after = self.cfg.escalate_after_minutes.get(n["severity"])
                if after is None or now - n["sent_at"] < after * MS_PER_MINUTE:
                    continue
                c = self.store.candidate(n["candidate_id"])
                if c is None:
                    continue  # retracted: nothing to acknowledge
                to = self.duty_inbox(c)
                if to is None or to == n["recipient"]:
                    continue
                mid = message_id(c.id, "escalation", to)
                if self.store.queue_notification(c.id, "escalation", to, n["severity"], now, mid):
                    out += 1
        self.stats.escalated += out
        return out

    # ------------------------------------------------------------------ send
    def compose(self, n: dict[str, Any], c: Candidate) -> EmailMessage:
        """The mail for notification ``n`` about ``c``: no personal data."""
        kind = c.kind.replace("_", " ")
        sev = n["severity"]
        msg = EmailMessage()
        msg["From"] = self.cfg.sender
        msg["To"] = n["recipient"]
        what = "Escalated: " if n["purpose"] == "escalation" else ""
        msg["Subject"] = f"[geomonitor] {what}{sev} {kind} {c.id}"
        msg["Message-ID"] = n["message_id"]
        msg["Date"] = format_datetime(datetime.fromtimestamp(n["queued_at"] / 1000, UTC))
        subject = self.registry.subjects.get(c.subject_id)
        district = self.registry.districts.get(subject.district) if subject else None
        lines = [
            "A breach candidate needs review on the monitoring desk."
            if n["purpose"] == "first"
            else (
                "Not acknowledged on the desk within "
                f"{self.cfg.escalate_after_minutes.get(sev, 0):g} minutes of the mail to the "
                "responsible officer: escalated to the duty inbox."
            ),
            "",
            f"Candidate: {c.id}",
            f"Kind: {kind}",
            f"Severity: {sev}",
            f"Began: {local_time(c.opened_at)}",
            f"District: {district.name if district else 'force-wide'}",
            f"Open it on the desk: {self.cfg.desk_url.rstrip('/')}/candidates/{c.id}",
            "",
            "No personal details are sent by mail: the evidence is on the desk.",
        ]
        msg.set_content("\n".join(lines) + "\n")
        return msg

    def send_due(self, now: int) -> int:
        """Send the mail that is due; returns how many were sent."""
        sent = 0
        for n in self.store.due_notifications(now):
            c = self.store.candidate(n["candidate_id"])
            if c is None:
                with self.store.transaction():
                    self.store.finish_notification(n["id"], now, "cancelled", "retracted")
                self.stats.cancelled += 1
                continue
            with self.store.transaction():
                self.store.claim_notification(n["id"], now)
            try:
                self.send(n["recipient"], self.compose(n, c))
            except PermanentFailure as e:
                with self.store.transaction():
                    self.store.finish_notification(n["id"], now, "failed", describe_error(e))
                self.stats.failed += 1
                log.warning("notification %d refused for good: %s", n["id"], describe_error(e))
                continue
            except (OSError, smtplib.SMTPException) as e:
                wait = min(
                    self.cfg.retry_first_s * 2 ** max(0, n["attempts"]), self.cfg.retry_max_s
                )
                with self.store.transaction():
                    self.store.finish_notification(
                        n["id"], now, "retry", describe_error(e), now + int(wait * 1000)
                    )
                self.stats.retried += 1
                log.info(
                    "notification %d not sent (%s): again in %.0f s",
                    n["id"],
                    describe_error(e),
                    wait,
                )
                continue
            crash_point("notify_sent")
            with self.store.transaction():
                self.store.finish_notification(n["id"], now, "sent")
            sent += 1
            self.stats.sent += 1
        return sent

    # ------------------------------------------------------------------ the loop
    def run_once(self, now: int) -> Stats:
        """Queue, escalate and send once (holding the store's sender lease, so that a
        second sender on the store is refused rather than mailing everything twice)."""
        with self.store.transaction():
            self._state.take_named_lease(
                LEASE_KEY, self._holder, "another notification sender is running on this store"
            )
        self.enqueue(now)
        self.escalate(now)
        self.send_due(now)
        return self.stats

    def run(self, clock: Callable[[], int], stop: threading.Event) -> Stats:
        """Until ``stop`` is set: a round every ``poll_s`` seconds."""
        try:
            while not stop.is_set():
                self.run_once(clock())
                stop.wait(self.cfg.poll_s)
        finally:
            self.release()
        return self.stats

    def release(self) -> None:
        """Give the sender's lease up (a stopped sender lets the next start at once)."""
        self._state.release_named_lease(LEASE_KEY, self._holder)
