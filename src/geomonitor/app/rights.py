"""A person's rights over what the store holds about them.

* :func:`withdraw`: a volunteer withdraws consent at an instant. Their orders are judged no
  further, their tag's fixes from then are refused on input (``consent_withdrawn``, the
  raw record not kept) and the tag is due for removal; the retention schedule counts from
  then.
* :func:`export`: everything held about one subject (a subject access request): registry
  entries with their history, fittings, consent, fixes, reads of their declared vehicles,
  candidates with their history, reviews and notes, device events, and the consultation
  log's rows about them; as JSON and as a page a person can read. Nothing about anyone
  else: other subjects' ids (a non-association names them) and their tags are replaced by
  ``(another person)``; the shapes of exclusion zones (which may show where a victim
  lives) are withheld, their names given.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import orjson

from ..model.errors import InputError
from ..model.text import local_time
from ..model.times import iso
from ..store.domain import Store

OTHER = "(another person)"


def withdraw(store: Store, subject: str, at: int, by: str, origin: str, now: int) -> list[str]:
    """Record the withdrawal; returns the tags fitted to the subject then (due for removal)."""
    reg = store.current_registry()
    subj = reg.subjects.get(subject)
    if subj is None:
        raise InputError(f"no subject {subject}")
    if subject in store.withdrawals():
        raise InputError(f"{subject} has withdrawn consent already")
    tags = [f.tag_id for f in reg.fittings if f.subject_id == subject
            and f.fitted_at <= at and (f.removed_at is None or f.removed_at > at)]  # fmt: skip
    with store.transaction():
        store.add_withdrawal(subject, at, now, by)
        store.audit(now, by, "consent_withdrawn", subject, origin, f"from {iso(at)}",
                    district=subj.district, subjects=[subject])  # fmt: skip
    return tags


def export(store: Store, subject: str) -> dict[str, Any]:
    """Everything held about ``subject`` (ids of others replaced)."""
    reg = store.current_registry()
    if subject not in reg.subjects:
        raise InputError(f"no subject {subject}")
    fittings = [f for f in reg.fittings if f.subject_id == subject]
    tags = sorted({f.tag_id for f in fittings})
    vrms = sorted({v for o, c in reg.conditions("declared_vehicles")
                   if o.subject_id == subject and c.declared for v in c.declared.vrms})  # fmt: skip
    out: dict[str, Any] = {"subject_id": subject}
    out["registry"] = _registry_rows(store, subject)
    out["consent"] = {
        "fittings": [
            {
                "tag_id": f.tag_id,
                "fitted_at": iso(f.fitted_at),
                "removed_at": iso(f.removed_at),
                "consent_recorded_at": iso(f.consent_recorded_at),
                "guardian": f.guardian,
            }
            for f in fittings
        ],
        "withdrawn_at": iso(store.withdrawals().get(subject)),
        "legal_hold": store.holds().get(subject),
    }
    out["tag_history"] = _rows(store, "SELECT * FROM tag_events WHERE subject_id=? ORDER BY seq",
                               (subject,))  # fmt: skip
    out["absences"] = store.absence_rows(subject)
    out["kept_off_the_desk"] = [
        {"absence_id": aid, "candidate": c.to_json()} for c, aid in store.authorised_of(subject)
    ]
    out["fixes"] = []
    for f in fittings:
        hi = f.removed_at if f.removed_at is not None else 2**62
        out["fixes"] += _rows(
            store,
            "SELECT tag_id, ts, lat, lon, accuracy_m, battery_pct, strap, charging, source "
            "FROM fixes WHERE tag_id=? AND ts>=? AND ts<? ORDER BY ts",
            (f.tag_id, f.fitted_at, hi),
        )
    for r in out["fixes"]:
        r["time"] = iso(r.pop("ts"))
    out["anpr_reads"] = []
    for vrm in vrms:
        out["anpr_reads"] += _rows(
            store, "SELECT read_id, camera_id, vrm, ts, lat, lon, confidence, direction "
            "FROM anpr_reads WHERE vrm=? ORDER BY ts", (vrm,))  # fmt: skip
    for r in out["anpr_reads"]:
        r["time"] = iso(r.pop("ts"))
    cands = [c.to_json() for c in store.candidates(subject_id=subject)]
    ids = [c["id"] for c in cands]
    out["candidates"] = cands
    out["candidate_history"] = {cid: store.candidate_history(cid) for cid in ids}
    out["reviews"] = {cid: store.review_history(cid) for cid in ids}
    out["device_events"] = _rows(
        store, "SELECT tag_id, kind, started_at, ended_at, details FROM device_events "
        "WHERE subject_id=? ORDER BY started_at", (subject,))  # fmt: skip
    out["consultations"] = store.audit_log(limit=1_000_000, subject=subject)
    others = sorted({s for s in reg.subjects if s != subject}
                    | {t for t in reg.tags if t not in tags}, key=len, reverse=True)  # fmt: skip
    return _redact(out, others)


def _rows(store: Store, q: str, args: tuple) -> list[dict[str, Any]]:
    cur = store.db.execute(q, args)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur]


def _registry_rows(store: Store, subject: str) -> list[dict[str, Any]]:
    """Every version of the registry entries about the subject (zones by name only)."""
    out = []
    rows = store.db.execute(
        "SELECT e.kind, e.id, e.version_from, e.version_to, e.content, v.loaded_at FROM "
        "registry_entities e JOIN registry_versions v ON v.version=e.version_from "
        "ORDER BY e.version_from"
    )
    zones: set[str] = set()
    for kind, eid, vfrom, vto, content, loaded in rows:
        c = orjson.loads(content)
        mine = (kind == "subject" and eid == subject) or c.get("subject") == subject
        if not mine:
            continue
        for cond in c.get("conditions", []) if kind == "order" else []:
            if cond.get("zone"):
                zones.add(cond["zone"])
        out.append({"kind": kind, "id": eid, "version_from": vfrom, "version_to": vto,
                    "loaded_at": loaded, "content": c})  # fmt: skip
    reg = store.current_registry()
    for z in sorted(zones):
        zone = reg.zones.get(z)
        out.append({"kind": "zone", "id": z, "content": {
            "id": z, "name": getattr(zone, "name", None),
            "geometry": "withheld: it may show where another person lives"}})  # fmt: skip
    return out


def _redact(doc: dict[str, Any], others: list[str]) -> dict[str, Any]:
    if not others:
        return doc
    text = orjson.dumps(doc, default=str).decode()
    alts = "|".join(re.escape(o) for o in others)
    pattern = re.compile(rf"(?<![\w-])(?:{alts})(?![\w-])")
    return dict(orjson.loads(pattern.sub(OTHER, text)))


def write_export(doc: dict[str, Any], out: Path) -> list[Path]:
    """``subject-<id>.json`` and a readable ``subject-<id>.html`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    sid = doc["subject_id"]
    js = out / f"subject-{sid}.json"
    js.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2, default=str))
    page = out / f"subject-{sid}.html"
    page.write_text(_page(doc), encoding="utf-8")
    for p in (js, page):
        p.chmod(0o600)
    return [js, page]


def _page(doc: dict[str, Any]) -> str:
    e = html.escape
    parts = [f"<!doctype html><html lang='en'><meta charset='utf-8'><title>What is held about "
             f"{e(doc['subject_id'])}</title><style>body{{font:14px sans-serif;margin:2em}}"
             "table{border-collapse:collapse}td,th{border:1px solid #999;padding:2px 6px;"
             "text-align:left}</style>",
             f"<h1>What geomonitor holds about {e(doc['subject_id'])}</h1>",
             "<p>Every record the monitoring service holds about this person. Other people "
             f"are shown as {e(OTHER)}. Times are UK local time.</p>"]  # fmt: skip
    sections = [("Registry entries", "registry"), ("Fixes (positions of the tag)", "fixes"),
                ("Number-plate reads of declared vehicles", "anpr_reads"),
                ("Breach candidates", "candidates"), ("Device events", "device_events"),
                ("Tag history", "tag_history"),
                ("Who looked at this person's data", "consultations")]  # fmt: skip
    consent = orjson.dumps(doc["consent"], option=orjson.OPT_INDENT_2).decode()
    parts.append(f"<h2>Consent</h2><pre>{e(consent)}</pre>")
    for title, key in sections:
        rows = doc.get(key) or []
        parts.append(f"<h2 id='{key}'>{e(title)} ({len(rows)})</h2>")
        if not rows:
            parts.append("<p>None.</p>")
            continue
        cols = list(rows[0].keys())
        parts.append("<table><thead><tr>" + "".join(f"<th>{e(c)}</th>" for c in cols)
                     + "</tr></thead><tbody>")  # fmt: skip
        for r in rows:
            parts.append("<tr>" + "".join(f"<td>{e(_cell(c, r.get(c)))}</td>" for c in cols)
                         + "</tr>")  # fmt: skip
        parts.append("</tbody></table>")
    parts.append("<h2>Reviews and notes</h2>")
    for cid, hist in doc.get("reviews", {}).items():
        for r in hist:
            parts.append(f"<p>{e(cid)} {e(local_time(r['at']))}: {e(r['action'])} "
                         f"{e(r['state'])} {e(r.get('note') or '')}</p>")  # fmt: skip
    return "\n".join(parts) + "</html>"


def _cell(col: str, v: Any) -> str:
    if col == "at" and isinstance(v, int):
        return local_time(v)
    if isinstance(v, dict | list):
        return orjson.dumps(v).decode()
    return "" if v is None else str(v)
