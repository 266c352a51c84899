"""The pack's map, drawn offline with matplotlib in British National Grid: the shipped ward
boundaries, the zone, curfew area or crime vicinity, each position with its accuracy
circle, the path (dashed across a gap), camera reads with their times, the scene, a scale
bar and a north arrow."""

from __future__ import annotations

import math
from itertools import pairwise
from pathlib import Path

import numpy as np

from ...model.crs import to_bng
from ...model.errors import InputError
from ...model.geography import wards
from ...model.times import UK, to_datetime
from .content import GAP_MS, Pack

SUBJECT, OTHER, CAMERA, AREA, SCENE = "#d73027", "#4575b4", "#1b7837", "#7b3294", "#000000"
ATTRIBUTION = (
    "Ward boundaries: UK-GeoJSON (Martin Chorley, CC BY 4.0), contains OS data "
    "© Crown copyright and database right"
)


def _nice(length: float) -> float:
    """A round scale-bar length near ``length`` metres (1, 2 or 5 times a power of ten)."""
    p = 10 ** math.floor(math.log10(max(length, 1.0)))
    return max((m * p for m in (1, 2, 5) if m * p <= length), default=p)


def _bounds(pack: Pack) -> tuple[float, float, float, float]:
    xs = [p.x for p in pack.positions] + [p.x for p in pack.positions]
    ys = [p.y for p in pack.positions] + [p.y for p in pack.positions]
    if pack.circle:
        x, y, r = pack.circle
        xs += [x - r, x + r]
        ys += [y - r, y + r]
    if pack.zone is not None:
        a, b, c, d = pack.zone.bounds
        xs += [a, c]
        ys += [b, d]
    if pack.reads:
        rx, ry = to_bng(
            np.array([r["lon"] for r in pack.reads]), np.array([r["lat"] for r in pack.reads])
        )
        xs += rx.tolist()
        ys += ry.tolist()
    if not xs:
        raise InputError(f"{pack.ref}: nothing to draw (none of its positions is in the store)")
    cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
    half = max(max(xs) - min(xs), max(ys) - min(ys), 300.0) / 2 * 1.15
    return cx - half, cx + half, cy - half, cy + half


def draw_map(pack: Pack, path: Path) -> Path:
    """Write the map as a PNG (150 dpi, about 17 cm square); returns its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle
    from shapely.geometry import box

    x0, x1, y0, y1 = _bounds(pack)
    fig, ax = plt.subplots(figsize=(6.7, 6.7), dpi=150)
    view = box(x0, y0, x1, y1)
    for w in wards():  # the shipped boundaries, clipped to the view
        g = w.geometry.intersection(view)
        for poly in getattr(g, "geoms", [g]):
            if poly.is_empty or not hasattr(poly, "exterior"):
                continue
            ax.plot(*poly.exterior.xy, color="#9e9e9e", lw=0.6, zorder=1)
    if pack.zone is not None:
        for poly in getattr(pack.zone, "geoms", [pack.zone]):
            ax.fill(*poly.exterior.xy, color=AREA, alpha=0.15, zorder=2)
            ax.plot(*poly.exterior.xy, color=AREA, lw=1.5, zorder=2, label=pack.area_label)
    if pack.circle:
        x, y, r = pack.circle
        ax.add_patch(
            Circle((x, y), r, fill=False, ec=AREA, lw=1.5, ls="--", zorder=2, label=pack.area_label)
        )
    _positions(ax, pack)
    _reads(ax, pack)
    if pack.scene:
        ax.scatter(
            [pack.scene[0]], [pack.scene[1]], marker="X", s=60, color=SCENE, zorder=7, label="scene"
        )
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    _frame(ax, x0, x1, y0, y1)
    from matplotlib.lines import Line2D

    handles, _ = ax.get_legend_handles_labels()
    handles += [
        Line2D([], [], marker="o", ls="", ms=8, color=SUBJECT, alpha=0.2, label="accuracy circle"),
        Line2D([], [], color="#9e9e9e", ls="--", label="gap over 5 min: way not known"),
    ]
    ax.legend(handles=handles, loc="upper left", fontsize=6, framealpha=0.9)
    fig.text(0.01, 0.005, ATTRIBUTION, fontsize=5, color="#555555")
    fig.tight_layout()
    fig.savefig(path, dpi=150, metadata={"Software": None})
    plt.close(fig)
    return path


def _positions(ax, pack: Pack) -> None:  # type: ignore[no-untyped-def]
    from matplotlib.patches import Circle

    for role, colour in (("subject", SUBJECT), ("other", OTHER)):
        ps = [p for p in pack.positions if p.role == role]
        for p in ps:
            ax.add_patch(
                Circle(
                    (p.x, p.y),
                    max(p.accuracy_m, 1.0),
                    color=colour,
                    alpha=max(0.015, min(0.08, 4 / max(len(ps), 1))),
                    lw=0,
                    zorder=3,
                )
            )
        for a, b in pairwise(ps):
            gap = b.ts - a.ts > GAP_MS
            ax.plot(
                [a.x, b.x],
                [a.y, b.y],
                color="#9e9e9e" if gap else colour,
                ls="--" if gap else "-",
                lw=0.8 if gap else 1.2,
                zorder=4,
            )
        if ps:
            name = pack.subject_id if role == "subject" else "other subject"
            ax.scatter(
                [p.x for p in ps],
                [p.y for p in ps],
                s=9,
                color=colour,
                zorder=5,
                edgecolors="black",
                linewidths=0.3,
                label=f"{name}: positions",
            )
        for p in ps:
            if p.label.endswith("1") and p.label[:-1].isalpha():  # where each visit starts
                ax.annotate(
                    p.label,
                    (p.x, p.y),
                    fontsize=6,
                    xytext=(3, 3),
                    textcoords="offset points",
                    zorder=6,
                )


def _reads(ax, pack: Pack) -> None:  # type: ignore[no-untyped-def]
    if pack.reads:
        rx, ry = to_bng(
            np.array([r["lon"] for r in pack.reads]), np.array([r["lat"] for r in pack.reads])
        )
        ax.scatter(
            rx,
            ry,
            marker="^",
            s=40,
            color=CAMERA,
            edgecolors="black",
            zorder=6,
            label="camera read",
        )
        for cx, cy, read in zip(rx, ry, pack.reads, strict=True):
            ax.annotate(
                to_datetime(read["ts"]).astimezone(UK).strftime("%H:%M"),
                (cx, cy),
                fontsize=6,
                xytext=(4, -8),
                textcoords="offset points",
            )


def _frame(ax, x0: float, x1: float, y0: float, y1: float) -> None:  # type: ignore[no-untyped-def]
    """A scale bar, bottom left, and a north arrow (grid north), top right."""
    from matplotlib.patches import FancyArrow, Rectangle

    span = x1 - x0
    bar = _nice(span / 4)
    bx, by = x0 + span * 0.05, y0 + span * 0.05
    ax.add_patch(Rectangle((bx, by), bar, span * 0.008, color="black", zorder=8))
    ax.text(
        bx + bar / 2,
        by + span * 0.015,
        f"{bar / 1000:g} km" if bar >= 1000 else f"{bar:g} m",
        ha="center",
        va="bottom",
        fontsize=7,
        zorder=8,
    )
    ax.add_patch(
        FancyArrow(
            x1 - span * 0.06,
            y1 - span * 0.14,
            0,
            span * 0.07,
            width=span * 0.008,
            head_width=span * 0.03,
            head_length=span * 0.025,
            color="black",
            zorder=8,
        )
    )
    ax.text(
        x1 - span * 0.06,
        y1 - span * 0.035,
        "N",
        ha="center",
        va="bottom",
        fontsize=9,
        weight="bold",
        zorder=8,
    )
