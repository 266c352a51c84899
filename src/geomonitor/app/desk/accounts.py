"""Accounts, passwords and sessions of the web desk.

* Passwords are hashed with Argon2id (argon2-cffi), never stored or logged; at least
  :data:`MIN_PASSWORD` characters. There is no default account: the first is made with
  ``geomonitor users add``.
* A session is a random token in a cookie; the store keeps only its SHA-256, with the
  session's CSRF token and expiry (:data:`SESSION_HOURS`).
* Logins are slowed: after :data:`FREE_FAILURES` failures within :data:`WINDOW_MINUTES`
  for a user name or from one address, each attempt must wait twice as long as the last
  (from 2 s up to 15 minutes) and is refused unchecked until then.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ...model.errors import InputError
from ...store.domain import Store
from .review import ALL, ROLES, User

MIN_PASSWORD = 12
SESSION_HOURS = 8
FREE_FAILURES = 5
WINDOW_MINUTES = 15
MAX_WAIT_S = 900
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,39}$")

_hasher = PasswordHasher()


class LoginRefused(InputError):
    """Wrong user name or password (one message for both), or a disabled account."""


class TooManyAttempts(InputError):
    def __init__(self, wait_s: int):
        super().__init__(f"too many failed logins: try again in {wait_s} s")
        self.wait_s = wait_s


@dataclass(frozen=True)
class Session:
    token: str
    csrf: str
    user: User


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add_user(store: Store, username: str, password: str, role: str, district: str,
             by: str, now: int, origin: str = "cli") -> User:  # fmt: skip
    """Create an account; the district is a code or name of the registry, or ``all``."""
    if not USERNAME.match(username):
        raise InputError(f"user name {username!r}: 2-40 of a-z, 0-9, '.', '_', '-'")
    if role not in ROLES:
        raise InputError(f"role {role!r}: one of {', '.join(ROLES)}")
    code = ALL if district.lower() == ALL else store.current_registry().district_code(district)
    if code is None:
        raise InputError(f"district {district!r}: not in the registry (or 'all')")
    if len(password) < MIN_PASSWORD:
        raise InputError(f"the password must have at least {MIN_PASSWORD} characters")
    with store.transaction():
        if store.user(username) is not None:
            raise InputError(f"user {username!r} exists already")
        store.add_user(username, _hasher.hash(password), role, code, now, by)
        store.audit(now, by, "add_user", username, origin, f"role={role} district={code}")
    return User(username, role, code)


def user_of(store: Store, username: str) -> User | None:
    u = store.user(username)
    if u is None or u["disabled"]:
        return None
    return User(u["username"], u["role"], u["district"])


def _wait_s(failures: int) -> int:
    return min(MAX_WAIT_S, 2 ** (failures - FREE_FAILURES + 1))


def login(store: Store, username: str, password: str, origin: str, now: int) -> Session:
    """Check a password and open a session; slowed after repeated failures."""
    since = now - WINDOW_MINUTES * 60_000
    by_user, by_origin, latest = store.failed_logins(username, origin, since)
    failures = max(by_user, by_origin)
    if failures >= FREE_FAILURES:
        remaining = latest + _wait_s(failures) * 1000 - now
        if remaining > 0:
            with store.transaction():
                store.audit(now, username[:40] or "-", "login_throttled", None, origin)
            raise TooManyAttempts(-(-remaining // 1000))
    u = store.user(username)
    ok = False
    if u is not None and not u["disabled"]:
        try:
            ok = _hasher.verify(u["password_hash"], password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
    else:
        _hasher.hash(password)  # the same work whether or not the account exists
    with store.transaction():  # a failure is recorded before it is reported
        store.note_login(username[:40], origin, now, ok)
        store.audit(now, username[:40] or "-", "login" if ok else "login_failed", None, origin)
    if not ok:
        raise LoginRefused("wrong user name or password")
    assert u is not None
    with store.transaction():
        if _hasher.check_needs_rehash(u["password_hash"]):
            store.set_password_hash(username, _hasher.hash(password))
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        store.add_session(_hash_token(token), username, csrf, now, now + SESSION_HOURS * 3_600_000)
    return Session(token, csrf, User(u["username"], u["role"], u["district"]))


def session_of(store: Store, token: str | None, now: int) -> Session | None:
    if not token:
        return None
    s = store.session(_hash_token(token), now)
    if s is None:
        return None
    user = user_of(store, s["username"])
    return None if user is None else Session(token, s["csrf"], user)


def logout(store: Store, token: str) -> None:
    with store.transaction():
        store.end_session(_hash_token(token))
