"""The pack's PDF (ReportLab, no network): the exhibit number and "page N of M" on every
page; what happened in plain words and local time; the order and condition; the map; the
positions, gaps and device health; camera reads; for a crime, the verdicts of the subjects
ruled out; the review history; how the data was obtained; and a witness statement page in
the usual form for the producing officer to complete (no name filled in)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...model.text import duration, local_seconds, local_time
from .content import Pack

MAX_ROWS = 2000  # positions in the PDF's table (all of them are in the CSV)


def _canvas(exhibit: str, title: str) -> type:
    from reportlab.pdfgen import canvas

    class Numbered(canvas.Canvas):
        """Writes the pages once their number is known: "page N of M" on each."""

        def __init__(self, *args: Any, **kw: Any) -> None:
            super().__init__(*args, **kw)
            self._pages: list[dict] = []

        def showPage(self) -> None:  # ReportLab's name
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                self.setFont("Helvetica", 8)
                self.setFillGray(0.3)
                w, _ = self._pagesize
                self.drawString(40, 20, f"Exhibit {exhibit}: {title}")
                self.drawRightString(
                    w - 40, 20, f"Exhibit {exhibit}, page {self._pageNumber} of {total}"
                )
                self.drawRightString(w - 40, self._pagesize[1] - 25, f"Exhibit {exhibit}")
                super().showPage()
            super().save()

    return Numbered


def _table(rows: list[list[str]], widths: list[float], head: bool = True) -> Any:
    from reportlab.lib import colors
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, Table, TableStyle

    small = getSampleStyleSheet()["BodyText"].clone("cell", fontSize=7.5, leading=9)
    data = [[Paragraph(_esc(c), small) for c in r] for r in rows]
    t = Table(data, colWidths=widths, repeatRows=1 if head else 0)
    style = [("GRID", (0, 0), (-1, -1), 0.25, colors.grey), ("VALIGN", (0, 0), (-1, -1), "TOP")]
    if head:
        style.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef3f9")))
    t.setStyle(TableStyle(style))
    return t


def _esc(text: object) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_pdf(pack: Pack, path: Path, map_png: Path, produced: int) -> Path:
    """Write the PDF; returns its path."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Image, KeepTogether, PageBreak, Paragraph, SimpleDocTemplate

    ss = getSampleStyleSheet()
    h1, h2, body = ss["Heading1"], ss["Heading2"], ss["BodyText"]
    doc = SimpleDocTemplate(
        str(path),
        pagesize=A4,
        leftMargin=16 * mm,
        rightMargin=16 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
        title=pack.title,
        author="geomonitor",
        subject=f"Exhibit {pack.exhibit}",
    )
    full = A4[0] - 32 * mm
    s: list[Any] = [
        Paragraph(_esc(pack.title), h1),
        Paragraph(
            f"Exhibit {_esc(pack.exhibit)}. Produced {local_time(produced)}. "
            "Times are UK local time (GMT or BST).",
            body,
        ),
    ]
    s += [Paragraph("What happened", h2)] + [Paragraph(_esc(t), body) for t in pack.summary]
    s += [
        Paragraph("The order and the facts", h2),
        _table([[k, v] for k, v in pack.facts], [45 * mm, full - 45 * mm], head=False),
    ]
    s.append(
        KeepTogether([Paragraph("Map", h2), Image(str(map_png), width=150 * mm, height=150 * mm)])
    )
    s += _positions(pack, full)
    s += _sections(pack, full)
    s += [PageBreak(), *_statement(pack, full)]
    doc.build(s, canvasmaker=_canvas(pack.exhibit, pack.title))
    return path


def _statement(pack: Pack, width: float) -> list[Any]:
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, Spacer

    ss = getSampleStyleSheet()
    body = ss["BodyText"]
    line = "_" * 70
    out: list[Any] = [
        Paragraph("WITNESS STATEMENT", ss["Heading1"]),
        Paragraph(
            "Criminal Justice Act 1967, s.9; Magistrates' Courts Act 1980, s.5B; "
            "Criminal Procedure Rules, r.16.2",
            body,
        ),
        Spacer(1, 6 * mm),
        Paragraph(f"Statement of: {line}", body),
        Paragraph("Age if under 18: ______________ (if over 18 insert 'over 18')", body),
        Paragraph(f"Occupation: {line}", body),
        Spacer(1, 4 * mm),
        Paragraph(
            "This statement (consisting of ____ page(s) each signed by me) is true to the "
            "best of my knowledge and belief and I make it knowing that, if it is "
            "tendered in evidence, I shall be liable to prosecution if I have wilfully "
            "stated in it anything which I know to be false, or do not believe to be "
            "true.",
            body,
        ),
        Spacer(1, 4 * mm),
        Paragraph("Signature: ______________________________ Date: ________________", body),
        Spacer(1, 6 * mm),
        Paragraph(
            f"I produce as exhibit {_esc(pack.exhibit)} the evidence pack "
            f"'{_esc(pack.title)}' produced by geomonitor, its files listed in its "
            "manifest with their SHA-256 digests.",
            body,
        ),
    ]
    out += [Paragraph(line + "_" * 12, body) for _ in range(14)]
    out += [
        Spacer(1, 6 * mm),
        Paragraph(
            "Signature: ______________________________ "
            "Signature witnessed by: ______________________________",
            body,
        ),
    ]
    return out


def _positions(pack: Pack, full: float) -> list[Any]:
    """The positions table, after a page break."""
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import PageBreak, Paragraph

    ss = getSampleStyleSheet()
    h2, body = ss["Heading2"], ss["BodyText"]
    s: list[Any] = []
    shown = pack.positions[:MAX_ROWS]
    rows = [["#", "time", "position (lat, lon)", "accuracy", "source", "battery", "tag", "note"]]
    for k, p in enumerate(shown, 1):
        note = ", ".join(
            x
            for x in (
                p.label,
                "evidence" if p.evidence else "",
                "other subject" if p.role == "other" else "",
            )
            if x
        )
        rows.append(
            [
                str(k),
                local_seconds(p.ts),
                f"{p.lat:.5f}, {p.lon:.5f}",
                f"±{p.accuracy_m:.0f} m",
                p.source,
                "" if p.battery_pct is None else f"{p.battery_pct:.0f}%",
                p.tag_id,
                note,
            ]
        )
    s += [
        PageBreak(),
        Paragraph("Positions", h2),
        Paragraph(
            f"{len(pack.positions)} positions from {local_time(pack.window[0])} to "
            f"{local_time(pack.window[1])}"
            + (
                f" (the first {MAX_ROWS} here; all in positions.csv)"
                if len(pack.positions) > MAX_ROWS
                else ""
            )
            + ".",
            body,
        ),
        _table(
            rows, [8 * mm, 47 * mm, 32 * mm, 15 * mm, 14 * mm, 14 * mm, 19 * mm, full - 149 * mm]
        ),
    ]
    return s


def _sections(pack: Pack, full: float) -> list[Any]:
    """Gaps, device health, camera reads, verdicts or review history, and provenance."""
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph

    ss = getSampleStyleSheet()
    h2, body = ss["Heading2"], ss["BodyText"]
    s: list[Any] = []
    gaps = [[local_time(a), local_time(b), duration(b - a)] for a, b in pack.gaps]
    s += [
        Paragraph("Gaps (no fix for over five minutes)", h2),
        _table([["from", "to", "length"], *gaps], [60 * mm, 60 * mm, 30 * mm])
        if gaps
        else Paragraph("None.", body),
    ]
    s += [
        Paragraph("Device health over the window", h2),
        _table(
            [["event", "tag", "from", "to"], *[list(d) for d in pack.device]],
            [40 * mm, 25 * mm, 55 * mm, 55 * mm],
        )
        if pack.device
        else Paragraph("No device event.", body),
    ]
    if pack.reads:
        s += [
            Paragraph("Camera reads", h2),
            _table(
                [
                    ["camera", "time", "position"],
                    *[
                        [r["camera_id"], local_seconds(r["ts"]), f"{r['lat']:.5f}, {r['lon']:.5f}"]
                        for r in pack.reads
                    ],
                ],
                [40 * mm, 55 * mm, 50 * mm],
            ),
        ]
    if pack.kind == "crime":
        s += [
            Paragraph("Subjects ruled out or not (others: no positions shown)", h2),
            _table(
                [["subject", "verdict", "why"], *[list(v) for v in pack.verdicts]],
                [22 * mm, 30 * mm, full - 52 * mm],
            )
            if pack.verdicts
            else Paragraph("No other subject was fitted then.", body),
        ]
    else:
        s += [
            Paragraph("Review history", h2),
            _table(
                [["when", "who", "action", "state, reason, note"], *[list(r) for r in pack.review]],
                [45 * mm, 25 * mm, 25 * mm, full - 95 * mm],
            )
            if pack.review
            else Paragraph("Not yet reviewed.", body),
        ]
    s += [
        Paragraph("How the data was obtained", h2),
        _table([[k, v] for k, v in pack.provenance], [35 * mm, full - 35 * mm], head=False),
    ]
    return s
