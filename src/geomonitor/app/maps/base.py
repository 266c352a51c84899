"""What every map export shares: a folium map (online: the ordinary tiled map; offline:
Leaflet inlined from the installed ``folium-offline`` package, no tiles, the district and
ward boundaries shipped with geomonitor as the base layer), a side panel that prints, a
machine-readable summary of what the map shows, and writing one self-contained file.

Every drawn layer carries a CSS class (``accuracy``, ``fix``, ``curfew-area``, ``zone``,
``path``, ``gap`` ...) so a test, or a person with the browser's tools, can find it.
"""

from __future__ import annotations

import html
import importlib.metadata
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from ...model.crs import to_bng, to_wgs84
from ...model.geography import DISTRICTS, district_boundary, wards
from ...model.zone import to_wgs84_geometry

COLOURS = {
    "home": "#1a9850",
    "away": "#d73027",
    "not sure": "#f46d43",
    "no signal": "#636363",
    "not yet due": "#4575b4",
}

LEAFLET_LICENCE = """Leaflet (inlined): Copyright (c) 2010-2023, Volodymyr Agafonkin;
Copyright (c) 2010-2011, CloudMade. All rights reserved. Redistribution and use in source
and binary forms, with or without modification, are permitted provided that the following
conditions are met: 1. Redistributions of source code must retain the above copyright
notice, this list of conditions and the following disclaimer. 2. Redistributions in binary
form must reproduce the above copyright notice, this list of conditions and the following
disclaimer in the documentation and/or other materials provided with the distribution.
THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS" AND ANY EXPRESS
OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE IMPLIED WARRANTIES OF
MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE ARE DISCLAIMED. IN NO EVENT SHALL THE
COPYRIGHT HOLDER OR CONTRIBUTORS BE LIABLE FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL,
EXEMPLARY, OR CONSEQUENTIAL DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF
SUBSTITUTE GOODS OR SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS INTERRUPTION)
HOWEVER CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY, OR
TORT (INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE OF THIS SOFTWARE,
EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE."""


def _style() -> str:
    css = resources.files("geomonitor.app") / "templates" / "map.css"
    return f"<style>\n{css.read_text(encoding='utf-8')}</style>"


def folium_module(offline: bool) -> ModuleType:
    if offline:
        import offlinefolium

        return offlinefolium
    import folium

    return folium


def latlon(x: float, y: float) -> tuple[float, float]:
    lon, lat = to_wgs84(np.array([x]), np.array([y]))
    return float(lat[0]), float(lon[0])


def bng(lat: float, lon: float) -> tuple[float, float]:
    x, y = to_bng(np.array([lon]), np.array([lat]))
    return float(x[0]), float(y[0])


def geojson_of(geom: BaseGeometry) -> dict[str, Any]:
    """A BNG geometry as WGS84 GeoJSON."""
    return dict(mapping(to_wgs84_geometry(geom)))


@dataclass
class MapPage:
    """A map being made: the folium module and map, the panel's HTML, the summary."""

    fm: ModuleType
    m: Any
    offline: bool
    title: str
    panel: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def save(self, path: Path) -> Path:
        from branca.element import Element

        root = self.m.get_root()
        root.header.add_child(Element(_style()))
        root.header.add_child(Element(f"<title>{html.escape(self.title)}</title>"))
        root.html.add_child(Element('<div id="gm-panel">' + "".join(self.panel) + "</div>"))
        summary = json.dumps(self.data, separators=(",", ":")).replace("</", "<\\/")
        root.html.add_child(
            Element(f'<script type="application/json" id="geomonitor-map">{summary}</script>')
        )
        if self.offline:
            root.html.add_child(Element(f"<!-- {_licences()} -->"))
        path.parent.mkdir(parents=True, exist_ok=True)
        self.m.save(str(path))
        return path


def _licences() -> str:
    try:
        dist = importlib.metadata.distribution("folium-offline")
        folium_offline = dist.read_text("licenses/LICENSE.txt") or dist.read_text("LICENSE.txt")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover
        folium_offline = ""
    text = f"{LEAFLET_LICENCE}\n\nfolium-offline (inlined): {folium_offline or ''}"
    return text.replace("--", "- -")


def new_page(title: str, centre: tuple[float, float], offline: bool, zoom: int = 13) -> MapPage:
    """A map centred on ``centre`` (lat, lon), with its base layer."""
    fm = folium_module(offline)
    m = fm.Map(location=list(centre), zoom_start=zoom, tiles=None if offline else "OpenStreetMap",
               control_scale=True, prefer_canvas=False, zoom_animation=False,
               fade_animation=False, marker_zoom_animation=False)  # fmt: skip
    page = MapPage(fm, m, offline, title)
    if offline:
        _boundaries(page)
    return page


def _boundaries(page: MapPage) -> None:
    """District and ward boundaries (shipped with geomonitor) as the offline base layer."""
    fm, m = page.fm, page.m
    feats = [
        {"type": "Feature", "geometry": geojson_of(w.geometry.simplify(10.0)),
         "properties": {"name": w.name}}
        for w in wards()
    ]  # fmt: skip
    fm.GeoJson(
        {"type": "FeatureCollection", "features": feats},
        name="wards",
        style_function=lambda _: {
            "color": "#9e9e9e",
            "weight": 1,
            "fill": True,
            "fillColor": "#f7f7f7",
            "fillOpacity": 0.6,
            "className": "ward",
        },
        tooltip=fm.GeoJsonTooltip(fields=["name"], labels=False),
    ).add_to(m)
    districts = [
        {"type": "Feature", "geometry": geojson_of(district_boundary(c)), "properties": {"name": n}}
        for c, n in DISTRICTS.items()
    ]
    fm.GeoJson(
        {"type": "FeatureCollection", "features": districts},
        name="districts",
        style_function=lambda _: {
            "color": "#424242",
            "weight": 2.5,
            "fill": False,
            "className": "district",
        },
    ).add_to(m)


def circle(page: MapPage, lat: float, lon: float, radius: float, colour: str, css: str,
           tooltip: str, fill: float = 0.15, dash: str | None = None) -> None:  # fmt: skip
    """A circle of ``radius`` metres (an accuracy circle, a curfew area)."""
    page.fm.Circle(
        [lat, lon], radius=max(radius, 1.0), color=colour, weight=2, fill=True,
        fill_color=colour, fill_opacity=fill, dash_array=dash, class_name=css,
        tooltip=tooltip,
    ).add_to(page.m)  # fmt: skip


def dot(page: MapPage, lat: float, lon: float, colour: str, css: str, tooltip: str,
        radius_px: float = 6, label: str | None = None) -> None:  # fmt: skip
    """A marker drawn as a vector dot (nothing to fetch), optionally with a permanent label."""
    fm = page.fm
    fm.CircleMarker(
        [lat, lon], radius=radius_px, color="#000", weight=1, fill=True, fill_color=colour,
        fill_opacity=1.0, class_name=css, tooltip=tooltip,
    ).add_to(page.m)  # fmt: skip
    if label:
        fm.Marker(
            [lat, lon],
            icon=fm.DivIcon(html=f'<div class="gm-label">{html.escape(label)}</div>',
                            icon_size=(24, 16), icon_anchor=(-6, 18), class_name="gm-label-icon"),
        ).add_to(page.m)  # fmt: skip


def zone_layer(page: MapPage, geom: BaseGeometry, zid: str, tooltip: str,
               colour: str = "#7b3294") -> None:  # fmt: skip
    """A zone (BNG geometry) drawn in WGS84."""
    page.fm.GeoJson(
        {"type": "Feature", "geometry": geojson_of(geom), "properties": {"id": zid}},
        style_function=lambda _: {
            "color": colour,
            "weight": 2,
            "fillColor": colour,
            "fillOpacity": 0.12,
            "className": "zone",
        },
        tooltip=tooltip,
    ).add_to(page.m)


def esc(text: object) -> str:
    return html.escape(str(text))
