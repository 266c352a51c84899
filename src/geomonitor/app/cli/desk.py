"""``geomonitor alerts ack|dismiss|decide|note|reopen``, ``geomonitor users ...`` and
``geomonitor desk``: the review workflow from the command line (the same implementation
as the web desk), accounts, and serving the web desk."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import time
from typing import Any

from ...model.errors import InputError
from ...model.registry import district_name
from ...model.text import local_short
from ..desk.accounts import MIN_PASSWORD, add_user, authenticate, set_disabled, user_of
from ..desk.review import DISMISS_REASONS, OUTCOMES, ROLES, Desk, User
from ..tables import show, table
from .common import db_arg, map_tiles, open_store, tiles_args

ACTIONS = ("ack", "dismiss", "decide", "note", "reopen")


def login_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (a container): still say it was the command line
        return "unknown"


def add_review_parsers(asub: Any, run: Any) -> None:
    """The review actions, under ``geomonitor alerts``."""
    helps = {
        "ack": "acknowledge: someone is on it",
        "dismiss": "dismiss with a reason",
        "decide": "record an outcome",
        "note": "add a note",
        "reopen": "reopen a decision (supervisors), with a reason",
    }
    for name in ACTIONS:
        p = asub.add_parser(name, help=helps[name])
        p.add_argument("id")
        p.add_argument(
            "--as",
            dest="user",
            help="your desk account (default $GEOMONITOR_USER, or the account bound to your login)",
        )
        p.add_argument("--password-stdin", action="store_true",
                       help="read the account's password from stdin")  # fmt: skip
        if name == "dismiss":
            p.add_argument("--reason", required=True, choices=DISMISS_REASONS)
            p.add_argument("--text", help="details (required for 'other')")
        elif name == "decide":
            p.add_argument("outcome", choices=OUTCOMES)
            p.add_argument("--reason", choices=DISMISS_REASONS, help="for a dismissal")
            p.add_argument("--text", help="a note with the decision")
        elif name in ("note", "reopen"):
            p.add_argument("text", help="the note" if name == "note" else "why")
        db_arg(p)
        p.set_defaults(func=run)


def _review_user(st: Any, args: argparse.Namespace, now: int) -> User:
    """The desk account a review command acts as: one bound to this operating-system login
    (``users bind``), or one whose password is given; never a name alone."""
    me = login_name()
    name = args.user or os.environ.get("GEOMONITOR_USER")
    if not name:
        bound = [u["username"] for u in st.users() if u["os_account"] == me]
        if len(bound) != 1:
            raise InputError("say who you are: --as USER (a desk account) or $GEOMONITOR_USER")
        name = bound[0]
    u = st.user(name)
    if u is not None and u["os_account"] and u["os_account"] == me:
        user = user_of(st, name)
        if user is None:
            raise InputError(f"the desk account {name!r} is disabled")
        return user
    if args.password_stdin:
        pw = sys.stdin.readline().rstrip("\n")
    elif sys.stdin.isatty():
        pw = getpass.getpass(f"password of {name}: ")
    else:
        raise InputError(
            f"acting as {name!r} needs its password (--password-stdin) or this login bound "
            f"to it ('geomonitor users bind {name} --os-user {me}')"
        )
    return authenticate(st, name, pw, f"cli:{me}", now)


def run_review(args: argparse.Namespace) -> int:
    with open_store(args) as st:
        now = int(time.time() * 1000)
        user = _review_user(st, args, now)
        desk = Desk(st, user, f"cli:{login_name()}", now)
        a = args.action
        if a == "ack":
            it = desk.acknowledge(args.id)
        elif a == "dismiss":
            it = desk.dismiss(args.id, args.reason, args.text)
        elif a == "decide":
            it = desk.decide(args.id, args.outcome, args.reason, args.text)
        elif a == "note":
            it = desk.note(args.id, args.text)
        else:
            it = desk.reopen(args.id, args.text)
    print(f"{args.id}: {it.state}" + (f" ({it.reason})" if it.reason else ""))
    return 0


def review_lines(store: Any, cid: str) -> list[str]:
    """The review history of a candidate, for ``alerts history``."""
    return [
        f"{local_short(r['at'])}  review {r['action']:<12} {r['state']:<18} by {r['actor']}"
        + (f"  reason: {r['reason']}" if r["reason"] else "")
        + (f"  note: {r['note']}" if r["note"] else "")
        for r in store.review_history(cid)
    ]


def add_parser(sub: Any) -> None:
    us = sub.add_parser("users", help="accounts of the web desk")
    uss = us.add_subparsers(dest="action", required=True)
    p = uss.add_parser("add", help="create an account (the password from a prompt or stdin)")
    p.add_argument("username")
    p.add_argument("--role", required=True, choices=list(ROLES))
    p.add_argument("--district", required=True, help="district code or name, or 'all'")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.add_argument("--os-user", help="an operating-system login that may act as it without "
                   "a password on the command line")  # fmt: skip
    db_arg(p)
    p = uss.add_parser("list", help="every account")
    db_arg(p)
    for name in ("disable", "enable"):
        p = uss.add_parser(name, help=f"{name} an account")
        p.add_argument("username")
        db_arg(p)
    p = uss.add_parser("bind", help="let an operating-system login act as an account on the "
                       "command line without its password")  # fmt: skip
    p.add_argument("username")
    p.add_argument("--os-user", help="the login name (default: yours); --clear to unbind")
    p.add_argument("--clear", action="store_true")
    db_arg(p)
    us.set_defaults(func=run_users)

    p = sub.add_parser("desk", help="serve the web desk (127.0.0.1 by default)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--trusted-proxy", action="append", default=[], metavar="ADDRESS",
                   help="a reverse proxy whose X-Forwarded-For is believed (repeatable; "
                   "default: none, the socket's address is the client's)")  # fmt: skip
    tiles_args(p)
    db_arg(p)
    p.set_defaults(func=run_desk)


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        pw = sys.stdin.readline().rstrip("\n")
    elif not sys.stdin.isatty():
        raise InputError("no terminal to ask for the password: give it on stdin with "
                         "--password-stdin")  # fmt: skip
    else:
        pw = getpass.getpass("password: ")
        if getpass.getpass("again: ") != pw:
            raise InputError("the two passwords differ")
    if len(pw) < MIN_PASSWORD:
        raise InputError(f"the password must have at least {MIN_PASSWORD} characters")
    return pw


def run_users(args: argparse.Namespace) -> int:
    with open_store(args) as st:
        now = int(time.time() * 1000)
        if args.action == "add":
            u = add_user(st, args.username, _password(args), args.role, args.district,
                         f"cli:{login_name()}", now)  # fmt: skip
            if args.os_user:
                with st.transaction():
                    st.bind_os_account(u.username, args.os_user)
                    st.audit(now, f"cli:{login_name()}", "bind_user", u.username, "cli",
                             f"os_account={args.os_user}", district=u.district)  # fmt: skip
            print(f"{u.username}: {u.role}, {district_name(st.current_registry(), u.district)}")
        elif args.action == "list":
            reg = st.current_registry()
            rows = [
                [u["username"], u["role"], district_name(reg, u["district"]),
                 local_short(u["created_at"]),
                 u["created_by"], u["os_account"] or "", "disabled" if u["disabled"] else ""]
                for u in st.users()
            ]  # fmt: skip
            show(table(["user", "role", "district", "created", "by", "login", ""], rows))
        else:
            acct = st.user(args.username)
            if acct is None:
                raise InputError(f"no account {args.username!r}")
            if args.action == "bind":
                os_user = None if args.clear else (args.os_user or login_name())
                with st.transaction():
                    st.bind_os_account(args.username, os_user)
                    st.audit(now, f"cli:{login_name()}", "bind_user", args.username, "cli",
                             f"os_account={os_user}", district=acct["district"])  # fmt: skip
                print(f"{args.username}: " + (f"bound to {os_user}" if os_user else "unbound"))
                return 0
            set_disabled(st, args.username, args.action == "disable", f"cli:{login_name()}",
                         "cli", now, acct["district"])  # fmt: skip
            print(f"{args.username}: {args.action}d")
    return 0


def run_desk(args: argparse.Namespace) -> int:
    import uvicorn

    from ..desk.web import server_config
    from .common import default_db_path

    db = args.db or default_db_path()
    with open_store(args) as st:
        if st.user_count() == 0:
            raise InputError(
                f"no desk account yet: create the first with "
                f"'geomonitor users add NAME --role supervisor --district all --db {db}'"
            )
    print(f"geomonitor desk on http://{args.host}:{args.port}/ (Ctrl-C to stop)")
    tiles = map_tiles(args)
    uvicorn.Server(server_config(db, args.host, args.port, tuple(args.trusted_proxy),
                                 tiles)).run()  # fmt: skip
    return 0
