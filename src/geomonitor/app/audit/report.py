"""The monthly tag audit: its CSV files and a printable HTML report with charts drawn into
the file (SVG from matplotlib: it opens without a network)."""

from __future__ import annotations

import csv
import io
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from ... import __version__
from ...model.errors import InputError
from ...model.inventory import state_at
from ...model.text import local_short, local_time
from ...model.times import UK
from ...store.domain import Store
from .figures import COLUMNS, FORCE, DistrictRow, district_rows
from .findings import FINDINGS, AuditConfig, Finding, find

#: each finding as a supervisor reads it
FINDING_WORDS = {
    "silent_while_fitted": "silent while fitted",
    "frequent_gaps": "frequent gaps",
    "poor_accuracy": "poor accuracy",
    "battery_drain": "battery drains fast",
    "repeated_jumps": "repeated jumps",
    "tamper_without_removal": "tamper, no removal",
    "reports_while_unfitted": "reports while not fitted",
    "conflicting_fixes": "conflicting fixes",
}

FINDING_COLUMNS = (
    "tag_id",
    "district",
    "finding",
    "first_seen",
    "last_seen",
    "evidence",
    "suggested_status",
)


def month_bounds(month: str) -> tuple[int, int]:
    """``YYYY-MM`` to the month's first and next month's first instant, UK local time."""
    try:
        y, m = (int(p) for p in month.split("-"))
        start = datetime(y, m, 1, tzinfo=UK)
    except ValueError:
        raise InputError(f"month {month!r}: expected YYYY-MM, e.g. 2026-11") from None
    nxt = datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=UK)
    return int(start.timestamp() * 1000), int(nxt.timestamp() * 1000)


def local_month(ms: int) -> str:
    """``YYYY-MM`` of an instant in UK local time."""
    return datetime.fromtimestamp(ms / 1000, tz=UK).strftime("%Y-%m")


def previous(month: str, n: int) -> list[str]:
    """The ``n`` months before ``month``, oldest first."""
    y, m = (int(p) for p in month.split("-"))
    out = []
    for _ in range(n):
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
        out.append(f"{y:04d}-{m:02d}")
    return out[::-1]


@dataclass
class Audit:
    month: str
    rows: list[DistrictRow]
    findings: list[Finding]
    #: utilisation per district name for the previous months and this one (None: the
    #: district held no unit that month)
    trend: dict[str, dict[str, float | None]]
    #: figures count to this instant (the month's end, or now in a month not yet over)
    until: int = 0
    #: fixes were judged to this instant (the latest fix the store holds, at most until)
    seen: int = 0
    #: the one district this audit is cut down to (None: the force)
    scope: str | None = None

    def of_district(self, name: str) -> Audit:
        """The same audit for one district's readers: its figures and findings only (no
        force total, no other district, no unit in stock)."""
        return Audit(
            self.month,
            [r for r in self.rows if r.district == name],
            [f for f in self.findings if f.district == name],
            {m: {d: v for d, v in t.items() if d == name} for m, t in self.trend.items()},
            self.until,
            self.seen,
            name,
        )


def monthly(
    store: Store, month: str, cfg: AuditConfig | None = None, now: int | None = None
) -> Audit:
    """The month's figures and findings, and the utilisation trend before it.

    A month not yet over (``now`` inside it) is counted up to ``now``; silences are judged
    only up to the latest fix the store holds (a unit is not silent after the data ends).
    """
    lo, hi = month_bounds(month)
    until = hi if now is None else max(lo + 1, min(hi, now))
    reg = store.current_registry()
    districts = {c: d.name for c, d in sorted(reg.districts.items(), key=lambda kv: kv[1].name)}
    lines = store.unit_timelines()
    reported = set(store.fix_tags(lo, until))
    demand = store.demand_at(until - 1)
    rows = district_rows(month, lines, reported, demand, districts, lo, until)
    # What the store has observed: from its first fix to its latest (no unit is silent
    # before the data begins or after it ends).
    first, latest = store.db.execute(
        "SELECT MIN(ts), MAX(ts) FROM fixes WHERE ts<?", (until,)
    ).fetchone()
    seen = until if latest is None else max(lo + 1, min(until, int(latest) + 1))
    since = lo if first is None else min(max(lo, int(first)), seen - 1)
    kinds = ("strap_tamper", "implausible_jump", "conflicting_fix")
    cols = store.iter_tag_columns(sorted(reported & lines.keys()), since, seen)
    events = store.device_events_between(kinds, since, seen)
    found = find(lines, cols, events, districts, since, seen, cfg)
    trend: dict[str, dict[str, float | None]] = {}
    for m in [*previous(month, 2), month]:
        a, b = month_bounds(m)
        got = rows if m == month else district_rows(m, lines, set(), {}, districts, a, b)
        # a district that held no unit that month has no utilisation (None), not 0%
        trend[m] = {r.district: r.utilisation_pct if r.unit_days_allocated > 0 else None
                    for r in got}  # fmt: skip
    return Audit(month, rows, found, trend, until, seen)


def write_monthly(
    store: Store, month: str, out: Path, cfg: AuditConfig | None = None, now: int | None = None
) -> list[Path]:
    """Write the month's CSV files and HTML report into ``out``; returns their paths."""
    audit = monthly(store, month, cfg, now)
    out.mkdir(parents=True, exist_ok=True)
    figures = out / f"audit-{month}.csv"
    with figures.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, COLUMNS)
        w.writeheader()
        w.writerows(r.as_csv() for r in audit.rows)
    findings = out / f"audit-{month}-findings.csv"
    with findings.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, FINDING_COLUMNS)
        w.writeheader()
        w.writerows(x.as_csv() for x in audit.findings)
    html = out / f"audit-{month}.html"
    html.write_text(render(audit, store), encoding="utf-8")
    return [figures, findings, html]


# ---------------------------------------------------------------------- the HTML report
def _svg(fig) -> str:  # type: ignore[no-untyped-def]
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    a, b = text.find("<metadata>"), text.find("</metadata>")
    if a >= 0 and b > a:  # creator, date and licence namespaces: nothing a reader needs
        text = text[:a] + text[b + len("</metadata>") :]
    return text


def _charts(audit: Audit, by_state: dict[str, Counter]) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    plt.rcParams.update({"font.size": 9, "svg.fonttype": "none"})
    names = [r.district for r in audit.rows if r.district != FORCE]
    charts = {}
    fig, ax = plt.subplots(figsize=(7.0, 2.8))
    months = list(audit.trend)
    width = 0.8 / len(months)
    empty = False
    for k, m in enumerate(months):
        got = [audit.trend[m].get(n) for n in names]
        vals = [0.0 if v is None else v for v in got]
        xs = [i + (k - (len(months) - 1) / 2) * width for i in range(len(names))]
        bars = ax.bar(xs, vals, width, label=m, color=["#c6dbef", "#6baed6", "#08519c"][k % 3])
        if m == audit.month:
            ax.bar_label(bars, labels=[f"{v:.0f}%" if v is not None else "" for v in got],
                         fontsize=7)  # fmt: skip
        for x, v in zip(xs, got, strict=True):  # no bar: say why, where the bar would be
            if v is None:
                empty = True
                ax.text(x, 2, "no units", rotation=90, ha="center", va="bottom", fontsize=6,
                        color="#555")  # fmt: skip
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel("utilisation %")
    ax.set_ylim(0, 105)
    # the key above the plot, clear of the bars and their labels
    ax.legend(frameon=False, ncols=len(months), loc="lower left", bbox_to_anchor=(0, 1.02),
              borderaxespad=0)  # fmt: skip
    ax.spines[["top", "right"]].set_visible(False)
    charts["utilisation"] = _svg(fig)
    charts["utilisation_empty"] = "yes" if empty else ""
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7.0, 2.8))
    states = [("fitted", "#08519c"), ("allocated", "#9ecae1"), ("faulty", "#fd8d3c")]
    states += [("damaged", "#e6550d"), ("lost", "#a50f15")]
    bottom = [0.0] * len(names)
    for state, colour in states:
        vals = [by_state[n][state] for n in names]
        ax.bar(names, vals, bottom=bottom, label=state, color=colour)
        bottom = [a + b for a, b in zip(bottom, vals, strict=True)]
    ax.set_ylabel("units at month end")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(frameon=False, ncols=5, loc="lower left", bbox_to_anchor=(0, 1.02),
              borderaxespad=0)  # fmt: skip
    ax.spines[["top", "right"]].set_visible(False)
    charts["states"] = _svg(fig)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7.0, 2.6))
    per = Counter((f.district, f.finding) for f in audit.findings)
    bottom = [0.0] * len(names)
    palette = [
        "#7f3b08",
        "#b35806",
        "#e08214",
        "#fdb863",
        "#b2abd2",
        "#8073ac",
        "#542788",
        "#2d004b",
    ]
    for k, kind in enumerate(FINDINGS):
        vals = [per[(n, kind)] for n in names]
        if any(vals):
            ax.bar(names, vals, bottom=bottom, label=FINDING_WORDS[kind], color=palette[k])
            bottom = [a + b for a, b in zip(bottom, vals, strict=True)]
    ax.set_ylabel("findings")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if audit.findings:
        ax.legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.spines[["top", "right"]].set_visible(False)
    charts["findings"] = _svg(fig)
    plt.close(fig)
    return charts


def render(audit: Audit, store: Store, now: int | None = None) -> str:
    """The report as one self-contained HTML page (A4, a page per district), saying when it
    was produced (``now``, default the clock) and numbering its printed pages."""
    lines = store.unit_timelines()
    _, hi = month_bounds(audit.month)
    reg = store.current_registry()
    names = {c: d.name for c, d in reg.districts.items()}
    by_state: dict[str, Counter] = {r.district: Counter() for r in audit.rows}
    for states in lines.values():
        s = state_at(states, hi - 1)
        name = names.get(s.district or "") if s is not None else None
        if s is not None and name is not None and name in by_state:  # a scoped audit: one
            by_state[name][s.state] += 1
    env = Environment(
        loader=PackageLoader("geomonitor.app", "templates"),
        autoescape=select_autoescape(["html"]),
    )
    y, m = (int(p) for p in audit.month.split("-"))
    title = datetime(y, m, 1, tzinfo=UK).strftime("%B %Y")
    return env.get_template("audit.html").render(
        audit=audit,
        produced=local_time(now if now is not None else int(time.time() * 1000)),
        version=__version__,
        words=FINDING_WORDS,
        when=local_short,
        counted_to=local_time(audit.until) if audit.until < hi else None,
        fixes_to=local_time(audit.seen) if audit.seen < hi else None,
        title=title,
        columns=COLUMNS[2:],
        force=None if audit.scope else audit.rows[-1],
        districts=audit.rows if audit.scope else audit.rows[:-1],
        findings_of={
            r.district: [f for f in audit.findings if f.district == r.district] for r in audit.rows
        },
        in_stock=[f for f in audit.findings if f.district == "in stock"],
        charts=_charts(audit, by_state),
    )
