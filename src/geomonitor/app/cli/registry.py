"""``geomonitor registry``: check, load, history and schema of the registry."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ...io.replay import rejudge
from ...model.errors import InputError
from ...model.orders import VARIATION_TYPES
from ...model.registry_doc import schema
from ...model.registry_load import load_registry_file
from ...model.text import local_time
from ...model.times import parse_ts
from .common import db_arg, open_store


def add_parser(sub: Any) -> None:
    reg = sub.add_parser("registry", help="load and inspect the registry")
    rsub = reg.add_subparsers(dest="action", required=True)
    p = rsub.add_parser("load", help="validate and load a registry file (idempotent)")
    p.add_argument("file", type=Path)
    p.add_argument(
        "--allow-removals",
        action="store_true",
        help="load even if subjects, orders or fittings in the store are missing from the file",
    )
    db_arg(p)
    p = rsub.add_parser("check", help="validate a registry file without loading it (with "
                        "--db: and say what loading it would change)")  # fmt: skip
    p.add_argument("file", type=Path)
    p.add_argument("--db", type=Path, default=None,
                   help="a store to compare with (nothing is written to it)")  # fmt: skip
    p = rsub.add_parser("history", help="versions loaded and what changed in each")
    p.add_argument("--limit", type=int, default=200,
                   help="changes shown per version (0: all)")  # fmt: skip
    db_arg(p)
    rsub.add_parser("schema", help="print the JSON Schema of a registry file")
    reg.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.action == "schema":
        print(json.dumps(schema(), indent=2))
        return 0
    if args.action == "check":
        reg, _ = load_registry_file(args.file)
        print(f"{args.file}: valid ({counts(reg)})")
        if args.db is not None:
            with open_store(args) as st:
                res = _would_load(st, reg, str(args.file))
                gone = st.registry_removals(reg)
            print("loading it would change nothing" if res.unchanged else
                  f"loading it would make version {res.version}: {res.added} added, "
                  f"{res.changed} changed, {res.removed} removed")  # fmt: skip
            if gone:
                print(f"  and remove {len(gone)} entries: it would need --allow-removals")
        return 0
    if args.action == "load":
        reg, _ = load_registry_file(args.file)
        if not reg.districts and not args.allow_removals:
            raise InputError(
                f"{args.file} has no districts: nothing was loaded; if that is meant, load it "
                "again with --allow-removals"
            )
        with open_store(args, create=True) as st:
            gone = st.registry_removals(reg)
            if gone and not args.allow_removals:
                kinds: dict[str, list[str]] = {}
                for kind, i in gone:
                    kinds.setdefault(kind, []).append(i)
                what = "; ".join(
                    f"{len(ids)} {kind}(s): {', '.join(ids[:5])}{' ...' if len(ids) > 5 else ''}"
                    for kind, ids in kinds.items()
                )
                raise InputError(
                    f"{args.file} would remove {what}. Nothing was loaded; if that is meant, "
                    "load it again with --allow-removals"
                )
            res = st.load_registry(reg, str(args.file))
            # Orders changed with fixes already judged: judge them again now (a backdated
            # variation retracts and replaces what it touches, saying so).
            again = None
            if res.orders_changed and st.has_fixes():
                _, again, _ = rejudge(st)
        if res.unchanged:
            print(f"registry unchanged (version {res.version}); {counts(reg)}")
        else:
            print(
                f"registry version {res.version}: {res.added} added, {res.changed} changed, "
                f"{res.removed} removed; {counts(reg)}"
            )
        if again is not None:
            print(f"judged again: {again.retracted} candidates retracted, {again.opened} "
                  f"opened, {again.updated} updated")  # fmt: skip
        return 0
    with open_store(args) as st:
        for v in st.registry_history():
            print(
                f"version {v['version']}  loaded {local_time(parse_ts(v['loaded_at']))}  "
                f"from {v['source']}  "
                f"+{v['added']} ~{v['changed']} -{v['removed']}"
            )
            shown = v["entities"] if args.limit <= 0 else v["entities"][: args.limit]
            for e in shown:
                print(f"    {e['change']:<8} {e['kind']:<9} {entity_words(e['kind'], e['id'])}")
                for var in e.get("variations", []):
                    kind = VARIATION_TYPES.get(var["type"], var["type"])
                    print(f"             variation {var['id']}: {kind}, in effect from "
                          f"{local_time(parse_ts(var['effective']))}: {var['reason']}")  # fmt: skip
            if len(shown) < len(v["entities"]):
                n = len(v["entities"])
                print(f"    showing {len(shown)} of {n} changes (--limit 0 for all)")
    return 0


def entity_words(kind: str, eid: str) -> str:
    """A registry entity's id for people: a fitting (stored as ``TAG@epoch-ms``) as its tag
    and local time, ``BUD-0001 fitted Mon 19 Oct 2026 01:00 BST``."""
    tag, _, ms = eid.partition("@")
    if kind == "fitting" and ms.isdigit():
        return f"{tag} fitted {local_time(int(ms))}"
    return eid


class _Undo(Exception):
    pass


def _would_load(st: Any, reg: Any, source: str) -> Any:
    """What loading ``reg`` would do, done in a transaction that is then undone."""
    res = None
    try:
        with st.transaction():
            res = st.load_registry(reg, source)
            raise _Undo
    except _Undo:
        return res


def counts(reg: Any) -> str:
    return (
        f"{len(reg.districts)} districts, {len(reg.zones)} zones, {len(reg.subjects)} "
        f"subjects, {len(reg.orders)} orders, {len(reg.tags)} tags, {len(reg.fittings)} "
        f"fittings, {len(reg.cameras)} cameras"
    )
