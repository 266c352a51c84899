"""``geomonitor alerts``, ``devices`` and ``rejected``: what the desk and the device audit
read from the store."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, datetime
from typing import Any

from ...model.candidate import SEVERITIES, Candidate, evidence_counts, queue_order, severity
from ...model.errors import InputError, TimeError
from ...model.registry import known_districts
from ...model.text import (
    detail_label,
    detail_value,
    distance,
    kind_words,
    local_short,
    local_time,
    plural,
)
from ...model.times import UK, from_datetime, parse_ts
from ..desk.review import STATES as REVIEW_STATES
from ..evidence import Evidence, evidence_of
from ..health import timeline_rows, timelines
from ..tables import candidate_table, device_table, show
from .common import db_arg, open_store
from .desk import add_review_parsers, review_lines, run_review

ZONE_KINDS = ("exclusion_zone", "outside_inclusion_zone")
#: evidence lines ``alerts show`` prints (all of them with --format json)
EVIDENCE_SHOWN = 50


def add_parser(sub: Any) -> None:
    al = sub.add_parser("alerts", help="breach candidates for the monitoring desk")
    asub = al.add_subparsers(dest="action", required=True)
    p = asub.add_parser("list", help="the desk's queue: open first, then by severity, oldest first")
    db_arg(p)
    p.add_argument("--status", choices=["open", "closed"])
    p.add_argument("--subject", help="only this subject")
    p.add_argument("--kind", action="append", help="only this kind (repeatable)")
    p.add_argument("--district", help="only subjects of this district (code or name)")
    p.add_argument("--severity", choices=SEVERITIES, help="only this severity or worse")
    p.add_argument("--review", choices=REVIEW_STATES,
                   help="only this review state (new, acknowledged, an outcome)")  # fmt: skip
    p.add_argument("--since", help="opened at or after (ISO time with zone, or a local date)")
    p.add_argument("--until", help="opened before (ISO time with zone, or a local date)")
    p.add_argument(
        "--limit",
        type=int,
        default=None,
        help="at most this many rows (0: all; default 50 in a table, all in jsonl)",
    )
    p.add_argument("--format", choices=["table", "jsonl"], default="table")
    p = asub.add_parser("show", help="one candidate with its evidence and history")
    p.add_argument("id")
    db_arg(p)
    p.add_argument("--format", choices=["text", "json"], default="text")
    p = asub.add_parser("history", help="every change to one candidate")
    p.add_argument("id")
    db_arg(p)
    al.set_defaults(func=run_alerts)
    add_review_parsers(asub, run_review)

    p = sub.add_parser("devices", help="device health events per tag (faulty-unit audit)")
    db_arg(p)
    p.add_argument("--tag", help="only this tag")
    p.add_argument("--kind", help="only this kind (strap_tamper, low_battery, ...)")
    p.add_argument("--format", choices=["table", "jsonl"], default="table")
    p.set_defaults(func=run_devices)

    p = sub.add_parser("rejected", help="records rejected on input, with reasons")
    db_arg(p)
    p.add_argument("--reason")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument(
        "--show-raw", action="store_true", help="include raw records (may hold personal data)"
    )
    p.set_defaults(func=run_rejected)


def run_alerts(args: argparse.Namespace) -> int:
    if args.action == "list":
        return _list(args)
    with open_store(args) as st:
        c = st.candidate(args.id)
        gone = None if c is not None else st.retracted_candidate(args.id)
        hist = st.candidate_history(args.id)
    if c is None and gone is None:
        print(f"geomonitor: no candidate {args.id}", file=sys.stderr)
        return 1
    shown = c if c is not None else gone[0] if gone is not None else None
    if args.consult is not None and shown is not None:  # whose data the log says it was
        args.consult.about([shown.subject_id])
    if args.action == "history":
        for line in history_lines(hist):
            print(line)
        with open_store(args) as st:
            for line in review_lines(st, args.id):
                print(line)
        return 0
    if c is None:
        assert gone is not None
        c, successor = gone
        why = next((h.get("cause") for h in reversed(hist) if h["action"] == "retracted"), None)
        note = (
            f"superseded by {successor}"
            if successor
            else f"because of {why}"
            if why
            else "withdrawn by later evidence"
        )
        print(f"{args.id}: retracted, {note}. Its last content:")
    with open_store(args) as st:
        tl = timelines(st, args.id).get(args.id)
        review = st.review(args.id)
        reviewed = review_lines(st, args.id)
        review_history = st.review_history(args.id)
        evidence = evidence_of(st, c.evidence[:EVIDENCE_SHOWN]) if args.format != "json" else []
    if args.format == "json":
        d = c.to_json()
        d["severity"] = severity(c)
        d["history"] = hist
        d["review_state"] = review["state"] if review else "new"
        d["review_history"] = review_history
        print(json.dumps(d, indent=2))
        return 0
    for line in show_lines(c, hist, evidence):
        print(line)
    state = review["state"] if review else "new"
    why = f" ({review['reason']})" if review and review["reason"] else ""
    by = f", by {review['updated_by']} {local_short(review['updated_at'])}" if review else ""
    print(f"{'review':<18} {state}{why}{by}")
    for line in reviewed:
        print(line)
    if tl is not None:
        print("to a person:")
        for step, when in timeline_rows(tl):
            print(f"    {step:<16} {when}")
    return 0


def _list(args: argparse.Namespace) -> int:
    with open_store(args) as st:
        cands = st.candidates(args.status, args.subject)
        reviews = {cid: r["state"] for cid, r in st.reviews().items()}
        districts = None
        if args.district:
            reg = st.current_registry()
            code = next(
                (d.code for d in reg.districts.values()
                 if args.district.lower() in (d.code.lower(), d.name.lower())),
                None,
            )  # fmt: skip
            if code is None:
                raise InputError(
                    f"--district: no district {args.district!r} in the registry "
                    f"({known_districts(reg)})"
                )
            districts = {s.id for s in reg.subjects.values() if s.district == code}
    since, until = parse_when(args.since, "--since"), parse_when(args.until, "--until")
    worst = SEVERITIES.index(args.severity) if args.severity else len(SEVERITIES)
    cands = queue_order(
        c
        for c in cands
        if (not args.kind or c.kind in args.kind)
        and (districts is None or c.subject_id in districts)
        and SEVERITIES.index(severity(c)) <= worst
        and (since is None or c.opened_at >= since)
        and (until is None or c.opened_at < until)
        and (not args.review or reviews.get(c.id, "new") == args.review)
    )
    limit = args.limit if args.limit is not None else (0 if args.format == "jsonl" else 50)
    shown = cands if limit <= 0 else cands[:limit]
    if args.consult is not None:
        args.consult.about(c.subject_id for c in shown)
    if args.format == "jsonl":
        for cand in shown:
            print(json.dumps({**cand.to_json(), "severity": severity(cand),
                              "review_state": reviews.get(cand.id, "new")}))  # fmt: skip
        return 0
    if not cands:
        print("no candidates")
        return 0
    show(candidate_table(shown, reviews))
    if len(shown) < len(cands):
        print(f"showing {len(shown)} of {len(cands)} (--limit 0 for all)")
    return 0


def parse_when(text: str | None, option: str) -> int | None:
    """An instant from an ISO 8601 time with a zone, or a local (UK) date's midnight."""
    if text is None:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        try:
            return parse_ts(text)
        except TimeError as e:
            raise InputError(f"{option}: {e}") from None
    return from_datetime(datetime(day.year, day.month, day.day, tzinfo=UK))


def show_lines(
    c: Candidate, hist: list[dict[str, Any]], evidence: list[Evidence] | None = None
) -> list[str]:
    """``alerts show`` as text: times in local time, distances and durations in words; the
    evidence as looked up in the store (:func:`~geomonitor.app.evidence.evidence_of`), or
    by reference when not given."""
    out = [
        f"{'id':<18} {c.id}",
        f"{'kind':<18} {kind_words(c.kind)} ({severity(c)})",
        f"{'status':<18} {c.status}",
        f"{'subject':<18} {c.subject_id}",
    ]
    if c.order_id != "-":
        out.append(f"{'condition':<18} {c.order_id}/{c.condition_id}")
    else:
        out.append(f"{'tag':<18} {c.condition_id}")
    if c.zone_id:
        out.append(f"{'zone':<18} {c.zone_id}")
    out.append(f"{'opened':<18} {local_time(c.opened_at)}")
    if c.closed_at is not None:
        out.append(f"{'closed':<18} {local_time(c.closed_at)}")
    if c.close_reason:
        out.append(f"{'close reason':<18} {c.close_reason.replace('_', ' ')}")
    out.append(f"{'last evidence':<18} {local_time(c.last_evidence_at)}")
    if c.max_penetration_m is not None and c.kind in ZONE_KINDS:
        out.append(f"{'deepest':<18} {distance(c.max_penetration_m)} past the boundary")
    out.append(f"{'explanation':<18} {c.explanation}")
    for k, v in c.details.items():
        out.append(f"{detail_label(k):<18} {detail_value(k, v)}")
    fixes, reads = evidence_counts(c)
    what = [plural(fixes, "fix", "fixes")] + ([plural(reads, "ANPR read")] if reads else [])
    if c.kind in ZONE_KINDS:
        what.append(f"{c.fix_count} wholly past the boundary, {c.uncertain_count} straddling it")
    out.append(f"evidence ({', '.join(what)}):")
    if evidence is not None:
        out += [f"    {e.words()}" for e in evidence[:EVIDENCE_SHOWN]]
    else:
        out += [f"    {ref}" for ref in c.evidence[:EVIDENCE_SHOWN]]
    if len(c.evidence) > EVIDENCE_SHOWN:
        out.append(f"    ... {len(c.evidence) - EVIDENCE_SHOWN} more (use --format json)")
    out.append("history:")
    out += ["    " + line for line in history_lines(hist)]
    return out


def history_lines(hist: list[dict[str, Any]]) -> list[str]:
    """Each change in event time (what the evidence said, when), local time, with when the
    service recorded it and the links to other candidates."""
    out = []
    for h in hist:
        rec = parse_ts(h["recorded_at"])
        ev = h.get("evidence_at")
        when = local_time(parse_ts(ev)) if ev else local_time(rec)
        line = f"{when}  {h['action']}"
        if "superseded_by" in h:
            line += f", superseded by {h['superseded_by']}"
        if "supersedes" in h:
            line += f", replacing {h['supersedes']}"
        if "absence" in h:
            line += f": kept off the desk by authorised absence {h['absence']}"
        line += f"  (recorded {local_time(rec)})"
        if "cause" in h:
            line += f"\n    because of {h['cause']}"
        out.append(line)
    return out


def run_devices(args: argparse.Namespace) -> int:
    with open_store(args) as st:
        events = st.device_events(args.tag, args.kind)
    if args.format == "jsonl":
        for ev in events:
            print(json.dumps(ev))
    elif not events:
        print("no device events")
    else:
        show(device_table(events))
    return 0


def run_rejected(args: argparse.Namespace) -> int:
    if args.show_raw and not args.purpose:
        raise InputError("--show-raw shows records as received (personal data): say why "
                         "with --purpose TEXT")  # fmt: skip
    with open_store(args) as st:
        counts = st.rejection_counts()
        if not counts:
            print("no rejected records")
            return 0
        print("rejected records by reason: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        rows = st.rejections(args.reason, args.limit)
        for r in rows:
            line = f"  {r['kind']:<5} {r['source']} {r['locator']}: {r['message']}"
            if args.show_raw:
                line += f"\n        raw: {r['raw']}"
            print(line)
    total = counts.get(args.reason, 0) if args.reason else sum(counts.values())
    if len(rows) < total:
        print(f"showing {len(rows)} of {total} (--limit to see more)")
    return 0
