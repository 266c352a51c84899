"""Terminal tables (rich): columns stay aligned whatever the text holds (wide characters,
emoji), and a piped table is not wrapped to a terminal's width."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from ..model.candidate import SEVERITIES, SEVERITY, Candidate, evidence_counts, severity
from ..model.text import details_words, local_short
from ..model.times import parse_ts


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> Table:
    """A plain table: a header row, then one row per item; cells never wrap."""
    t = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    for h in headers:
        t.add_column(h, no_wrap=True, overflow="fold")
    for r in rows:
        t.add_row(*r)
    return t


def show(t: Table, file: Any = None) -> None:
    """Print a table to ``file`` (standard output by default); piped output keeps every
    column whole however wide the table is."""
    out = file or sys.stdout
    tty = hasattr(out, "isatty") and out.isatty()
    console = Console(file=out, width=None if tty else 10_000, highlight=False, soft_wrap=False)
    console.print(t, crop=False)


def candidate_table(cands: Sequence[Candidate], reviews: Mapping[str, str] | None = None) -> Table:
    """The desk's queue, in the order given: severity, episode and review state, times in
    UK local time, and the evidence as fixes and ANPR reads."""
    rows = []
    for c in cands:
        fixes, reads = evidence_counts(c)
        rows.append(
            (
                severity(c).upper(),
                c.id,
                c.kind,
                c.status,
                (reviews or {}).get(c.id, "new"),
                c.subject_id,
                _condition(c),
                local_short(c.opened_at),
                local_short(c.closed_at),
                str(fixes),
                str(reads),
            )
        )
    headers = ("SEVERITY", "ID", "KIND", "STATUS", "REVIEW", "SUBJECT", "CONDITION", "OPENED",
               "CLOSED", "FIXES", "READS")  # fmt: skip
    return table(headers, rows)


def _condition(c: Candidate) -> str:
    """What the candidate is about: the order's condition (and zone), or the tag."""
    if c.order_id == "-":
        return f"tag {c.condition_id}"
    zone = f" ({c.zone_id})" if c.zone_id else ""
    return f"{c.order_id}/{c.condition_id}{zone}"


def kind_counts(cands: Sequence[Candidate]) -> Table:
    """Open and closed candidates per kind, most severe kinds first."""
    by: dict[str, list[int]] = {}
    for c in cands:
        n = by.setdefault(c.kind, [0, 0])
        n[0 if c.status == "open" else 1] += 1
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    kinds = sorted(by, key=lambda k: (rank[SEVERITY.get(k, "medium")], k))
    rows = [(SEVERITY.get(k, "medium").upper(), k, str(by[k][0]), str(by[k][1])) for k in kinds]
    return table(("SEVERITY", "KIND", "OPEN", "CLOSED"), rows)


def device_table(events: Sequence[dict[str, Any]]) -> Table:
    """Device health events per tag."""
    rows = []
    for ev in events:
        det = details_words(ev["details"])
        rows.append(
            (
                ev["tag_id"],
                ev["kind"],
                local_short(parse_ts(ev["started_at"])),
                local_short(None if ev["ended_at"] is None else parse_ts(ev["ended_at"])),
                ev["subject_id"] or "(not fitted)",
                det,
            )
        )
    return table(("TAG", "KIND", "STARTED", "ENDED", "SUBJECT", "DETAILS"), rows)
