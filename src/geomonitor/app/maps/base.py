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
from urllib.parse import urlsplit

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
    #: what :func:`fit` fitted, fitted again for print and on resize
    bounds: tuple[list[list[float]], int] | None = None
    #: scripts run after the map is drawn (JavaScript, without ``<script>`` tags)
    scripts: list[str] = field(default_factory=list)

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
        if not self.offline:
            root.html.add_child(Element(NEEDS_INTERNET))
        # run once the page's scripts have run (the map exists by then); if Leaflet never
        # loaded, none of it runs and the needs-the-internet notice stays
        later = [self._script(), *self.scripts]
        root.script.add_child(Element(
            "document.addEventListener('DOMContentLoaded', function () {"
            + "".join(later) + "});"
        ))  # fmt: skip
        if self.offline:
            root.html.add_child(Element(f"<!-- {_licences()} -->"))
        path.parent.mkdir(parents=True, exist_ok=True)
        self.m.save(str(path))
        return path

    def _script(self) -> str:
        """Hide the needs-the-internet notice once Leaflet is there; fit the view again
        before printing and when the map changes size; say when tiles fail to load."""
        name = self.m.get_name()
        bounds = json.dumps(self.bounds[0]) if self.bounds else "null"
        pad = self.bounds[1] if self.bounds else 30
        return (
            "(function () {"
            "if (typeof L === 'undefined') return;"
            "var n = document.getElementById('gm-needs-internet'); if (n) n.remove();"
            f"var map = window.{name}; if (!map) return; var b = {bounds};"
            f"function refit() {{ map.invalidateSize(false); if (b) map.fitBounds(b, "
            f"{{padding: [{pad}, {pad}], maxZoom: {FIT_MAX_ZOOM}, animate: false}}); }}"
            "window.addEventListener('beforeprint', refit);"
            "if (window.matchMedia) { var q = window.matchMedia('print');"
            " (q.addEventListener ? q.addEventListener('change', refit) : q.addListener(refit)); }"
            "if (window.ResizeObserver) { new ResizeObserver(refit).observe(map.getContainer()); }"
            "map.eachLayer(function (l) { if (l instanceof L.TileLayer) l.on('tileerror',"
            " function () { document.body.classList.add('gm-tiles-failed'); }); });"
            "})();"
        )


def _licences() -> str:
    try:
        dist = importlib.metadata.distribution("folium-offline")
        folium_offline = dist.read_text("licenses/LICENSE.txt") or dist.read_text("LICENSE.txt")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover
        folium_offline = ""
    text = f"{LEAFLET_LICENCE}\n\nfolium-offline (inlined): {folium_offline or ''}"
    return text.replace("--", "- -")


@dataclass(frozen=True)
class Tiles:
    """A tile server (``[maps] tiles``): its URL template and the credit it needs."""

    url: str
    attribution: str

    @property
    def origin(self) -> str:
        """``scheme://host[:port]``, for a content security policy."""
        u = urlsplit(self.url)
        return f"{u.scheme}://{u.netloc}"


#: Shown by an online export until Leaflet has loaded: without the internet the page would
#: otherwise be blank.
NEEDS_INTERNET = (
    '<div id="gm-needs-internet" class="gm-notice">This map loads its map library and '
    "street tiles from the internet, which this computer cannot reach. Make it again with "
    "<code>--offline</code> (boundaries drawn in the file, no streets), or configure the "
    "force's tile server (<code>[maps] tiles</code>).</div>"
)


def new_page(title: str, centre: tuple[float, float], offline: bool, zoom: int = 13,
             tiles: Tiles | None = None) -> MapPage:  # fmt: skip
    """A map centred on ``centre`` (lat, lon), with its base layer: the tile server's
    streets when ``tiles`` is given (with the shipped boundaries drawn over them, the
    fallback when they cannot be reached), else OpenStreetMap online, else the boundaries."""
    fm = folium_module(offline)
    base = "OpenStreetMap" if tiles is None and not offline else None
    m = fm.Map(location=list(centre), zoom_start=zoom, tiles=base, control_scale=True,
               prefer_canvas=False, zoom_animation=False, fade_animation=False,
               marker_zoom_animation=False, max_zoom=19)  # fmt: skip
    page = MapPage(fm, m, offline, title)
    if tiles is not None:
        fm.TileLayer(tiles=tiles.url, attr=html.escape(tiles.attribution), name="streets",
                     max_zoom=19, class_name="gm-tiles").add_to(m)  # fmt: skip
    if offline or tiles is not None:
        _boundaries(page, outline=tiles is not None)
    return page


#: the closest a map zooms to fit what it shows (about 50 m across the scale bar): a
#: handful of fixes at one spot would otherwise fill the screen at a 2 m scale
FIT_MAX_ZOOM = 17


def fit(page: MapPage, pts: list[tuple[float, float]] | list[list[float]],
        padding: int = 30) -> None:  # fmt: skip
    """Fit the view to ``pts`` (lat, lon), no closer than :data:`FIT_MAX_ZOOM`; again when
    the map is printed or changes size (a phone turned, a print layout), so nothing shown
    on screen falls off the page."""
    lats, lons = [float(p[0]) for p in pts], [float(p[1]) for p in pts]
    if not lats or not all(np.isfinite(lats + lons)):
        return
    bounds = [[min(lats), min(lons)], [max(lats), max(lons)]]
    page.m.fit_bounds(bounds, padding=(padding, padding), max_zoom=FIT_MAX_ZOOM)
    page.bounds = (bounds, padding)


def legend(page: MapPage, items: list[tuple[str, str]]) -> None:
    """A key to the symbols in the panel: (CSS style of the swatch, what it means)."""
    rows = "".join(
        f'<li><span class="gm-key" style="{esc(style)}"></span>{esc(text)}</li>'
        for style, text in items
    )
    page.panel.append(f'<h2 class="gm-legend-title">Key</h2><ul class="gm-key-list">{rows}</ul>')


#: swatches for :func:`legend`
KEY_ZONE = "background:rgba(123,50,148,.15);border:2px solid #7b3294"
KEY_CURFEW = "background:rgba(123,50,148,.06);border:2px dashed #7b3294;border-radius:50%"
KEY_ACCURACY = "border:2px solid {c};background:rgba(0,0,0,.05);border-radius:50%"
KEY_DOT = "background:{c};border:1px solid #000;border-radius:50%;width:9px;height:9px"
KEY_PATH = "border-top:3px solid {c};height:0;margin-bottom:4px"
KEY_GAP = "border-top:2px dashed #9e9e9e;height:0;margin-bottom:4px"
KEY_LABEL = "border:1px solid #333;background:#fff;border-radius:3px"


def _boundaries(page: MapPage, outline: bool = False) -> None:
    """District and ward boundaries (shipped with geomonitor): the offline base layer, or
    outlines over a tile server's streets (``outline``)."""
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
            "fillOpacity": 0.0 if outline else 0.6,
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
