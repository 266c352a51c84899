"""Accounts, passwords and sessions of the web desk.

* Passwords are hashed with Argon2id (argon2-cffi), never stored or logged; at least
  :data:`MIN_PASSWORD` characters. There is no default account: the first is made with
  ``geomonitor users add``.
* A session is a random token in a cookie; the store keeps only its SHA-256, with the
  session's CSRF token and expiry (:data:`SESSION_HOURS`). Disabling an account ends its
  sessions; enabling it again brings none back.
* Logins are limited before any password is checked: each attempt is recorded first, in
  one transaction with the count that lets it through, so parallel guesses cannot slip
  past the limit. Attempts are counted by a keyed hash of the name typed (a name mistyped
  is often a password: it is never stored), per name from one address
  (:data:`FREE_FAILURES`), per name from anywhere (:data:`NAME_FAILURES`) and per address
  over distinct names (:data:`ADDRESS_NAMES`). Past a limit each attempt must wait twice
  as long as the last (from 2 s up to 15 minutes) and is refused unchecked until then.
  One person's failures never hold up another name's correct login from the same address.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ...model.errors import InputError
from ...model.registry import known_districts
from ...store.domain import Store
from .review import ALL, ROLES, Conflict, User

MIN_PASSWORD = 12
SESSION_HOURS = 8
FREE_FAILURES = 5
NAME_FAILURES = 10
ADDRESS_NAMES = 10
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


def same_token(expected: str | None, given: str | None) -> bool:
    """Whether a CSRF token is the one expected (any text at all is safe to compare)."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "surrogatepass"))


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
        raise InputError(
            f"district {district!r}: not in the registry "
            f"({known_districts(store.current_registry())}, or 'all')"
        )
    if len(password) < MIN_PASSWORD:
        raise InputError(f"the password must have at least {MIN_PASSWORD} characters")
    with store.transaction():
        if store.user(username) is not None:
            raise Conflict(f"user {username!r} exists already")
        store.add_user(username, _hasher.hash(password), role, code, now, by)
        store.audit(now, by, "add_user", username, origin, f"role={role} district={code}",
                    district=code)  # fmt: skip
    return User(username, role, code)


def user_of(store: Store, username: str) -> User | None:
    u = store.user(username)
    if u is None or u["disabled"]:
        return None
    return User(u["username"], u["role"], u["district"])


def _wait_s(failures: int, free: int) -> int:
    return min(MAX_WAIT_S, 2 ** (failures - free + 1))


def name_key(store: Store, username: str) -> str:
    """What the login limits count a typed name by: keyed (the audit log's key, kept
    outside the store), so the store never holds the name as typed."""
    return hmac.new(store.audit_key(), b"login\x1f" + username.encode(), "sha256").hexdigest()


def _throttle(store: Store, key: str, origin: str, now: int) -> int:
    """Milliseconds this attempt must still wait (0: it may be checked)."""
    got = store.login_failures(key, origin, now - WINDOW_MINUTES * 60_000)
    wait = 0
    for kind, free in (("pair", FREE_FAILURES), ("name", NAME_FAILURES),
                       ("origin", ADDRESS_NAMES)):  # fmt: skip
        n, latest = got[kind]
        if n >= free:
            wait = max(wait, latest + _wait_s(n, free) * 1000 - now)
    return wait


def authenticate(store: Store, username: str, password: str, origin: str, now: int) -> User:
    """Check a name and password under the login limits; the account, or
    :class:`LoginRefused` / :class:`TooManyAttempts`. Every outcome is in the audit log,
    under the account's name if there is one (never a name as typed)."""
    key = name_key(store, username)
    u = store.user(username)
    actor = u["username"] if u is not None else "(unknown name)"
    district = u["district"] if u is not None else None
    with store.transaction():  # BEGIN IMMEDIATE: attempts are counted one at a time
        wait = _throttle(store, key, origin, now)
        if wait > 0:
            store.audit(now, actor, "login_throttled", None, origin, outcome="refused",
                        district=district)  # fmt: skip
        else:
            seq = store.start_login(key, origin, now)
    if wait > 0:
        raise TooManyAttempts(-(-wait // 1000))
    ok = False
    if u is not None and not u["disabled"]:
        try:
            ok = _hasher.verify(u["password_hash"], password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
    else:
        _hasher.hash(password)  # the same work whether or not the account exists
    with store.transaction():  # a failure is recorded before it is reported
        store.finish_login(seq, ok)
        store.audit(now, actor, "login" if ok else "login_failed", None, origin,
                    outcome="ok" if ok else "refused", district=district)  # fmt: skip
        if ok and _hasher.check_needs_rehash(u["password_hash"]):  # type: ignore[index]
            store.set_password_hash(username, _hasher.hash(password))
    if not ok:
        raise LoginRefused("wrong user name or password")
    assert u is not None
    return User(u["username"], u["role"], u["district"])


def login(store: Store, username: str, password: str, origin: str, now: int) -> Session:
    """Check a password (:func:`authenticate`) and open a session."""
    user = authenticate(store, username, password, origin, now)
    with store.transaction():
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        store.add_session(_hash_token(token), user.username, csrf, now,
                          now + SESSION_HOURS * 3_600_000)  # fmt: skip
    return Session(token, csrf, user)


def set_disabled(store: Store, username: str, disabled: bool, by: str, origin: str,
                 now: int, district: str | None) -> None:  # fmt: skip
    """Disable (ending every session of the account) or enable an account."""
    with store.transaction():
        store.set_disabled(username, disabled)
        if disabled:
            store.end_sessions_of(username)
        store.audit(now, by, "disable_user" if disabled else "enable_user", username, origin,
                    district=district)  # fmt: skip


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
