"""The consultation and audit log (a part of :class:`~geomonitor.store.domain.Store`).

Every look at personal data, every refusal and every change made on the desk is one row:
who, when, what (ids, never contents), from where, why (the purpose), whether it was
allowed, the district whose data it was (``all`` for force-wide) and the subjects it was
about.

The log shows tampering three ways:

* triggers refuse any update or delete through SQL;
* each row carries an HMAC-SHA256 of its content and of the row before it, keyed by a
  secret kept *outside* the store (:func:`audit_key_path`): an edit, a deleted row, or
  every hash recomputed after an edit breaks the chain, since whoever can write the
  store file cannot make the keyed hash without the key;
* after every transaction that added rows, a signed checkpoint (the last row's number and
  hash) is appended to a file outside the store (:func:`checkpoint_path`): rows removed
  from the end are missing against it.

:meth:`AuditTables.audit_verify` checks all three (``geomonitor auditlog verify``).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ..model.errors import StoreError

GENESIS = "0" * 64
KEY_ENV = "GEOMONITOR_AUDIT_KEY_FILE"
CHECKPOINT_ENV = "GEOMONITOR_AUDIT_CHECKPOINTS"
KEY_BYTES = 32
COLUMNS = ("seq", "at", "actor", "action", "target", "origin", "detail", "purpose", "outcome",
           "district", "subjects")  # fmt: skip
#: the columns the keyed hash covers, in order
SIGNED = COLUMNS[1:]


def audit_key_path(db: Path) -> Path:
    """``$GEOMONITOR_AUDIT_KEY_FILE``, else ``<store>.audit-key`` beside the store file."""
    env = os.environ.get(KEY_ENV)
    return Path(env) if env else Path(str(db) + ".audit-key")


def checkpoint_path(db: Path) -> Path:
    """``$GEOMONITOR_AUDIT_CHECKPOINTS``, else ``<store>.audit-checkpoints``."""
    env = os.environ.get(CHECKPOINT_ENV)
    return Path(env) if env else Path(str(db) + ".audit-checkpoints")


def read_key(db: Path) -> bytes:
    """The log's key; made (random, mode 0600) on first use at the default place only. A
    configured key file that is missing is an error, never replaced."""
    path = audit_key_path(db)
    if not path.exists():
        if os.environ.get(KEY_ENV):
            raise StoreError(f"the audit log's key file {path} ({KEY_ENV}) does not exist")
        tmp = path.with_name(f"{path.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(KEY_BYTES).hex().encode())
        try:
            os.link(tmp, path)  # atomic: a second process making one at once loses cleanly
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    key = path.read_bytes().strip()
    if len(key) < KEY_BYTES:
        raise StoreError(f"the audit log's key file {path} holds under {KEY_BYTES} bytes")
    return key


def row_mac(key: bytes, prev: str, values: tuple[Any, ...]) -> str:
    text = "\x1f".join("" if v is None else str(v) for v in (prev, *values))
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def checkpoint_mac(key: bytes, seq: int, digest: str) -> str:
    return hmac.new(key, f"checkpoint\x1f{seq}\x1f{digest}".encode(), hashlib.sha256).hexdigest()


@dataclass
class Verdict:
    """What :meth:`AuditTables.audit_verify` found."""

    rows: int = 0
    last_seq: int = 0
    checkpoint_seq: int = 0
    problems: list[str] = field(default_factory=list)
    #: the first row that does not verify (None: none)
    broken_at: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


class AuditTables:
    db: sqlite3.Connection
    path: Path
    _audit_key: bytes | None = None
    _audit_tip: tuple[int, str] | None = None

    def audit_key(self) -> bytes:
        if self._audit_key is None:
            self._audit_key = read_key(self.path)
        return self._audit_key

    def audit(
        self,
        at: int,
        actor: str,
        action: str,
        target: str | None,
        origin: str,
        detail: str | None = None,
        *,
        purpose: str | None = None,
        outcome: str = "ok",
        district: str | None = None,
        subjects: tuple[str, ...] | list[str] | set[str] = (),
    ) -> None:
        """Append one row; its checkpoint is written when the transaction commits."""
        key = self.audit_key()
        with self.transaction():  # type: ignore[attr-defined]
            prev = self.db.execute(
                "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            seq, prev_hash = (prev[0] + 1, prev[1]) if prev else (1, GENESIS)
            subj = " ".join(sorted(set(subjects))) or None
            values = (at, actor, action, target, origin, detail, purpose, outcome, district, subj)
            digest = row_mac(key, prev_hash, (seq, *values))
            self.db.execute(
                f"INSERT INTO audit_log ({', '.join(COLUMNS)}, prev_hash, hash) "
                f"VALUES ({', '.join('?' * (len(COLUMNS) + 2))})",
                (seq, *values, prev_hash, digest),
            )
            self._audit_tip = (seq, digest)

    def write_audit_checkpoint(self) -> None:
        """Append the latest row's signed checkpoint to the file outside the store (called
        by the store when a transaction that added rows commits)."""
        tip, self._audit_tip = self._audit_tip, None
        if tip is None:
            return
        seq, digest = tip
        line = {"seq": seq, "hash": digest, "mac": checkpoint_mac(self.audit_key(), seq, digest)}
        fd = os.open(checkpoint_path(self.path), os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)
        try:
            os.write(fd, orjson.dumps(line) + b"\n")  # one write: lines never interleave
        finally:
            os.close(fd)

    def audit_log(
        self,
        limit: int = 500,
        target: str | None = None,
        district: str | None = None,
        subject: str | None = None,
    ) -> list[dict[str, Any]]:
        """The latest rows first; only ``district``'s rows if given (``None``: all)."""
        q = f"SELECT {', '.join(COLUMNS)} FROM audit_log WHERE 1=1"
        args: list[Any] = []
        if target is not None:
            q += " AND target=?"
            args.append(target)
        if district is not None:  # a row may be about several districts
            q += " AND instr(' ' || district || ' ', ?) > 0"
            args.append(f" {district} ")
        if subject is not None:  # ids are words: no LIKE wildcard in them counts
            q += " AND instr(' ' || subjects || ' ', ?) > 0"
            args.append(f" {subject} ")
        q += " ORDER BY seq DESC LIMIT ?"
        rows = self.db.execute(q, (*args, limit))
        return [dict(zip(COLUMNS, r, strict=True)) for r in rows]

    def audit_chain_ok(self) -> bool:
        return self.audit_verify().ok

    def audit_verify(self) -> Verdict:
        """Check every row's keyed hash and link, the numbering, and the checkpoints."""
        key = self.audit_key()
        v = Verdict()
        prev, expect = GENESIS, 1
        q = f"SELECT {', '.join(COLUMNS)}, prev_hash, hash FROM audit_log ORDER BY seq"
        hashes: dict[int, str] = {}
        for row in self.db.execute(q):
            seq, values, p, h = row[0], row[1 : len(COLUMNS)], row[-2], row[-1]
            v.rows += 1
            if v.broken_at is None:
                if seq != expect:
                    v.problems.append(f"rows {expect} to {seq - 1} are missing")
                    v.broken_at = expect
                elif p != prev:
                    v.problems.append(f"row {seq} does not follow row {seq - 1}")
                    v.broken_at = seq
                elif not hmac.compare_digest(h, row_mac(key, p, (seq, *values))):
                    v.problems.append(f"row {seq} was changed (or the key is not the log's)")
                    v.broken_at = seq
            prev, expect, v.last_seq = h, seq + 1, seq
            hashes[seq] = h
        self._check_checkpoints(key, v, hashes)
        return v

    def _check_checkpoints(self, key: bytes, v: Verdict, hashes: dict[int, str]) -> None:
        path = checkpoint_path(self.path)
        if not path.exists():
            if v.rows:
                v.problems.append(f"no checkpoint file {path}: the log's end cannot be checked")
            return
        for n, line in enumerate(path.read_bytes().splitlines(), 1):
            try:
                cp = orjson.loads(line)
                seq, digest, mac = int(cp["seq"]), str(cp["hash"]), str(cp["mac"])
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                v.problems.append(f"checkpoint line {n} is not a checkpoint")
                continue
            if not hmac.compare_digest(mac, checkpoint_mac(key, seq, digest)):
                v.problems.append(f"checkpoint line {n} is not signed by the log's key")
                continue
            v.checkpoint_seq = max(v.checkpoint_seq, seq)
            if seq not in hashes:
                v.problems.append(f"row {seq} (checkpoint line {n}) is missing: rows were removed")
            elif hashes[seq] != digest:
                v.problems.append(f"row {seq} differs from its checkpoint (line {n})")
        if v.broken_at is None and v.problems:
            v.broken_at = v.last_seq + 1


def rekey(db: sqlite3.Connection, key: bytes) -> tuple[int, str] | None:
    """Chain the rows of a log written before the keyed hash (schema 9) with the key (and
    number them 1, 2, ... as the chain expects); the last row's number and hash."""
    prev, tip = GENESIS, None
    rows = db.execute(f"SELECT {', '.join(COLUMNS)} FROM audit_log ORDER BY seq").fetchall()
    for n, row in enumerate(rows, 1):
        digest = row_mac(key, prev, (n, *row[1:]))
        db.execute("UPDATE audit_log SET seq=?, prev_hash=?, hash=? WHERE seq=?",
                   (n, prev, digest, row[0]))  # fmt: skip
        prev, tip = digest, (n, digest)
    return tip
