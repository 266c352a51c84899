"""Terminal tables (rich): columns stay aligned whatever the text holds (wide characters,
emoji), and a piped table is not wrapped to a terminal's width."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from ..model.candidate import Candidate
from ..model.times import iso


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


def candidate_table(cands: Sequence[Candidate]) -> Table:
    """The desk's queue."""
    rows = [
        (
            c.id,
            c.kind,
            c.status,
            c.subject_id,
            f"{c.order_id}/{c.condition_id}",
            c.zone_id or "-",
            (iso(c.opened_at) or "")[:16],
            (iso(c.closed_at) or "-")[:16],
            str(c.fix_count),
        )
        for c in cands
    ]
    headers = ("ID", "KIND", "STATUS", "SUBJECT", "ORDER/COND", "ZONE", "OPENED (UTC)",
               "CLOSED (UTC)", "FIXES")  # fmt: skip
    return table(headers, rows)


def device_table(events: Sequence[dict[str, Any]]) -> Table:
    """Device health events per tag."""
    rows = []
    for ev in events:
        det = ", ".join(f"{k}={v}" for k, v in sorted(ev["details"].items()))
        rows.append(
            (
                ev["tag_id"],
                ev["kind"],
                (ev["started_at"] or "")[:16],
                (ev["ended_at"] or "-")[:16],
                ev["subject_id"] or "(not fitted)",
                det,
            )
        )
    return table(("TAG", "KIND", "STARTED (UTC)", "ENDED (UTC)", "SUBJECT", "DETAILS"), rows)
