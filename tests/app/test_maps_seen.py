"""Maps an officer can use (issue 23): on a phone, on paper, with the force's own tile
server, with a key, a night to choose on the desk, and a hint when an online export has no
internet. Each checked in a real browser; screenshots kept in test-artifacts/."""

from __future__ import annotations

import io
import re
import subprocess
import threading
import time
from html import unescape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw

from geomonitor.app.cli import main
from geomonitor.app.desk.accounts import add_user
from geomonitor.app.desk.web import create_app
from geomonitor.app.maps.base import Tiles
from geomonitor.app.maps.curfew import curfew_map
from geomonitor.app.maps.zones import zones_map
from geomonitor.io.kafka.config import load_maps_config
from geomonitor.model.errors import ConfigError

from ..browser import chrome, keep, map_zoom
from .test_maps import AT, PEOPLE, store  # noqa: F401  (the fixture)

PHONE = (390, 844)
PASSWORD = "a long enough password"


def _loaded(b, selector: str, n: int = 1, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if b.execute_script(f"return document.querySelectorAll('{selector}').length") >= n:
            return
        time.sleep(0.2)
    raise AssertionError(f"{selector} not drawn")


def test_the_curfew_map_on_a_phone_puts_the_list_under_the_map_and_nothing_sideways(
    store,  # noqa: F811
    tmp_path,
):
    out = curfew_map(store, "Leeds", AT, tmp_path / "curfew.html", offline=True)
    b = chrome(offline=True)
    try:
        b.set_window_size(*PHONE)
        b.get(out.as_uri())
        _loaded(b, "path.visit", len(PEOPLE))
        got = b.execute_script(
            """const m = document.querySelector('.folium-map').getBoundingClientRect();
               const p = document.getElementById('gm-panel').getBoundingClientRect();
               const cells = [...document.querySelectorAll('#gm-panel td')].map(
                 td => td.getBoundingClientRect().height);
               return {sw: document.documentElement.scrollWidth, iw: window.innerWidth,
                       mapW: m.width, mapBottom: m.bottom, panelTop: p.top, panelW: p.width,
                       tallest: Math.max(...cells)};"""
        )
        assert got["sw"] <= got["iw"] <= PHONE[0], got
        assert got["mapW"] >= got["iw"] - 1 and got["panelW"] >= got["iw"] - 1, got
        assert got["panelTop"] >= got["mapBottom"] - 1, got  # the list below the map
        assert got["tallest"] < 40, got  # no cell wrapped one word per line
        b.save_screenshot(str(keep("curfew-map-phone.png")))
    finally:
        b.quit()


def test_the_curfew_map_printed_keeps_every_stop_on_the_page_without_buttons(store, tmp_path):  # noqa: F811
    out = curfew_map(store, "Leeds", AT, tmp_path / "curfew.html", offline=True)
    b = chrome(offline=True)
    try:
        b.set_window_size(1400, 900)
        b.get(out.as_uri())
        _loaded(b, "path.visit", len(PEOPLE))
        b.execute_script("window.scrollTo(0, 0)")
        # the screen's view is zoomed in on one stop, as an officer leaves it
        b.execute_script(
            "const k = Object.keys(window).find(k => k.startsWith('map_'));"
            "window[k].setView(window[k].getCenter(), 18, {animate: false});"
        )
        b.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
        time.sleep(1.0)
        got = b.execute_script(
            """const m = document.querySelector('.folium-map').getBoundingClientRect();
               const out = [...document.querySelectorAll('path.visit, path.start')].filter(p => {
                 const r = p.getBoundingClientRect();
                 return r.left < m.left || r.right > m.right || r.top < m.top
                        || r.bottom > m.bottom;
               }).length;
               const drawn = [...document.querySelectorAll('path.visit')].filter(
                 p => p.getBoundingClientRect().width > 0).length;
               const zoom = document.querySelector('.leaflet-control-zoom');
               const k = Object.keys(window).find(k => k.startsWith('map_'));
               return {outside: out, drawn: drawn, level: window[k].getZoom(),
                       zoomShown: getComputedStyle(zoom).display !== 'none'};"""
        )
        # fitted again to the printed size: every stop drawn, inside, at a round's zoom
        assert got["outside"] == 0 and got["drawn"] == len(PEOPLE), got
        assert got["level"] <= 14 and not got["zoomShown"], got
        pdf = b.execute_cdp_cmd(
            "Page.printToPDF", {"landscape": True, "paperWidth": 11.69, "paperHeight": 8.27,
                                "printBackground": True})  # fmt: skip
    finally:
        b.quit()
    import base64

    path = tmp_path / "curfew.pdf"
    path.write_bytes(base64.b64decode(pdf["data"]))
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                          text=True, check=True).stdout  # fmt: skip
    assert "Curfew check: Leeds" in text and all(sid in text for sid in PEOPLE)
    pages = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True,
                           check=True).stdout  # fmt: skip
    assert re.search(r"^Pages:\s+1$", pages, re.M), pages  # one sheet for the round
    subprocess.run(["pdftoppm", "-png", "-r", "70", "-singlefile", str(path),
                    str(keep("curfew-map-print"))], check=True)  # fmt: skip


class _Tiles(BaseHTTPRequestHandler):
    """A force's tile server on 127.0.0.1: a pale tile with a grid, for any z/x/y."""

    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        _Tiles.hits.append(self.path)
        img = Image.new("RGB", (256, 256), (214, 234, 248))
        d = ImageDraw.Draw(img)
        d.rectangle([0, 0, 255, 255], outline=(120, 160, 200))
        d.text((8, 8), self.path, fill=(40, 60, 90))
        buf = io.BytesIO()
        img.save(buf, "PNG")
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(buf.getvalue())))
        self.end_headers()
        self.wfile.write(buf.getvalue())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def tile_server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Tiles)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    _Tiles.hits.clear()
    yield f"http://127.0.0.1:{srv.server_address[1]}/{{z}}/{{x}}/{{y}}.png"
    srv.shutdown()


def test_a_map_draws_the_forces_tile_server_under_the_boundaries(store, tmp_path, tile_server):  # noqa: F811
    tiles = Tiles(tile_server, "tiles: West Yorkshire Police")
    out = curfew_map(store, "Leeds", AT, tmp_path / "curfew.html", offline=True, tiles=tiles)
    html = out.read_text()
    assert "openstreetmap" not in html.lower() and "tiles: West Yorkshire Police" in html
    b = chrome(local=True)
    try:
        b.set_window_size(1400, 900)
        b.get(out.as_uri())
        _loaded(b, "img.leaflet-tile-loaded", 4)
        _loaded(b, "path.ward", 100)  # the shipped boundaries still drawn, over the streets
        assert len(_Tiles.hits) >= 4 and all(re.fullmatch(r"/\d+/\d+/\d+\.png", h)
                                             for h in _Tiles.hits)  # fmt: skip
        b.save_screenshot(str(keep("map-tile-server.png")))
    finally:
        b.quit()


def test_tiles_come_from_the_command_line_or_the_maps_section(store, tmp_path, tile_server,  # noqa: F811
                                                             capsys, monkeypatch):  # fmt: skip
    db = str(tmp_path / "m.db")
    store.close()
    cfg = tmp_path / "g.toml"
    cfg.write_text(f'[maps]\ntiles = "{tile_server}"\nattribution = "force tiles"\n')
    out = tmp_path / "z.html"
    args = ["map", "zones", "--db", db, "--out", str(out), "--offline"]
    assert main([*args, "--config", str(cfg)]) == 0
    assert tile_server.split("{")[0] in out.read_text() and "force tiles" in out.read_text()
    assert main([*args, "--tiles", "ftp://x/{z}/{x}/{y}"]) == 2
    assert "--tiles 'ftp://x/{z}/{x}/{y}': not an http or https URL" in capsys.readouterr().err
    assert main([*args, "--tiles", "https://t.example/tile.png"]) == 2
    assert "with {z}, {x} and {y}" in capsys.readouterr().err
    monkeypatch.setenv("GEOMONITOR_MAPS_TILES", "https://tiles.example/{z}/{x}/{y}.png")
    assert load_maps_config().tiles == "https://tiles.example/{z}/{x}/{y}.png"
    monkeypatch.setenv("GEOMONITOR_MAPS_TILES", "nonsense")
    with pytest.raises(ConfigError, match=r"maps\.tiles"):
        load_maps_config()


def test_the_desk_allows_its_tile_server_and_nothing_else(store, tmp_path, tile_server):  # noqa: F811
    db = tmp_path / "m.db"
    add_user(store, "sam", PASSWORD, "supervisor", "E08000035", "cli:test", AT)
    store.close()
    origin = tile_server.split("/{z}")[0]
    for tiles, allowed in ((None, False), (Tiles(tile_server, "force"), True)):
        c = TestClient(create_app(db, tiles), base_url="https://testserver")
        token = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
        c.post("/login", data={"username": "sam", "password": PASSWORD, "csrf": token})
        r = c.get("/maps/curfew?night=2026-11-21&clock=22:00")
        assert r.status_code == 200
        csp = r.headers["content-security-policy"]
        assert (origin in csp) is allowed and (tile_server.split("{")[0] in r.text) is allowed
        assert "default-src 'none'" in csp


def test_an_online_export_without_internet_says_so_instead_of_a_blank_page(store, tmp_path):  # noqa: F811
    online = curfew_map(store, "Leeds", AT, tmp_path / "on.html")
    offline = curfew_map(store, "Leeds", AT, tmp_path / "off.html", offline=True)
    assert 'id="gm-needs-internet"' not in offline.read_text()
    b = chrome(offline=True)
    try:
        b.set_window_size(1200, 800)
        b.get(online.as_uri())
        time.sleep(1.0)
        hint = b.execute_script(
            "const n = document.getElementById('gm-needs-internet');"
            "return n && n.getBoundingClientRect().height > 0 ? n.innerText : null;"
        )
        assert hint and "--offline" in hint and "internet" in hint
        b.get(offline.as_uri())
        _loaded(b, "path.visit", len(PEOPLE))
        assert not b.execute_script("return document.getElementById('gm-needs-internet')")
    finally:
        b.quit()


def test_every_map_has_a_key(store, tmp_path):  # noqa: F811
    html = curfew_map(store, "Leeds", AT, tmp_path / "c.html", offline=True).read_text()
    key = [
        unescape(k) for k in re.findall(r'<li><span class="gm-key"[^>]*></span>([^<]+)</li>', html)
    ]
    assert any(k.startswith("S: where the route starts") for k in key)
    assert {"curfew area (coloured by status)", "the subject's exclusion zones"} <= set(key)
    html = zones_map(store, tmp_path / "z.html", offline=True).read_text()
    assert "exclusion zone" in re.findall(r'gm-key"[^>]*></span>([^<]+)<', html)


def test_an_empty_curfew_check_fits_the_district_without_errors_and_says_choose(
    store,  # noqa: F811
    tmp_path,
):
    noon = AT - 10 * 3_600_000  # midday: nobody's curfew in force or soon
    out = curfew_map(store, "Leeds", noon, tmp_path / "noon.html", offline=True)
    assert 'id="none-to-visit"' in out.read_text()
    b = chrome(offline=True)
    try:
        b.set_window_size(1200, 800)
        b.get(out.as_uri())
        _loaded(b, "path.district", 1)
        zoom = map_zoom(b)
        errors = [e["message"] for e in b.get_log("browser") if e["level"] == "SEVERE"]
        assert 8 <= zoom <= 12, zoom  # the district, not one point at an endless zoom
        assert not [e for e in errors if "LatLng" in e or "NaN" in e], errors
    finally:
        b.quit()


def test_the_desks_curfew_map_has_a_night_picker(store, tmp_path):  # noqa: F811
    db = tmp_path / "m.db"
    add_user(store, "dana", PASSWORD, "desk", "E08000035", "cli:test", AT)
    store.close()
    c = TestClient(create_app(db), base_url="https://testserver")
    token = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
    c.post("/login", data={"username": "dana", "password": PASSWORD, "csrf": token})
    now = c.get("/maps/curfew").text
    assert 'id="night-picker"' in now and 'name="night" value="2026-12-' in now
    night = c.get("/maps/curfew?night=2026-11-21&clock=22:00").text
    assert "At Sat 21 Nov 2026 22:00 GMT" in night and 'id="none-to-visit"' not in night
    assert 'value="2026-11-21"' in night and "night=2026-11-20&amp;clock=22:00" in night
    assert re.search(r"\b5 to visit\b", night)  # the fixture's five, as the map test has them
    assert c.get("/maps/curfew?night=2026-02-31").status_code == 400
    assert c.get("/maps/curfew?night=tonight").status_code == 422
    summer = c.get("/maps/curfew?night=2026-07-10&clock=22:00").text
    assert "At Fri 10 Jul 2026 22:00 BST" in summer  # local time, whatever the season


def test_the_trail_slider_says_uk_time_in_a_browser_set_to_another_zone(store, tmp_path):  # noqa: F811
    from geomonitor.app.maps.trail import trail_map

    out = trail_map(store, "S-0001", AT - 3 * 3_600_000, AT + 3_600_000, tmp_path / "t.html",
                    offline=True)  # fmt: skip
    b = chrome(offline=True)
    try:
        b.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": "America/New_York"})
        b.set_window_size(1400, 900)
        b.get(out.as_uri())
        _loaded(b, ".timecontrol-date", 1)
        assert b.execute_script("return new Date(0).getTimezoneOffset()") == 300  # New York
        time.sleep(0.5)
        shown = b.execute_script("return document.querySelector('.timecontrol-date').innerText")
        # the first fix drawn: 20:55 GMT (the fixture's S-0001 fix an hour before 21:55)
        assert re.fullmatch(r"Sat,? 21 Nov 2026,? 20:55 GMT", shown.strip()), shown
    finally:
        b.quit()


def test_a_tamper_at_one_spot_is_mapped_at_a_streets_scale_not_2_m(store, tmp_path):  # noqa: F811
    from dataclasses import replace

    from geomonitor.app.maps.alert import alert_map
    from geomonitor.engine import Engine

    from ..conftest import batch
    from .test_maps import _fix

    reg = store.current_registry()
    t0 = AT + 2 * 3_600_000
    fixes = [replace(_fix("BUD-0001", 10, 0, t0 + m * 60_000, 5.0),
                     strap="tamper" if m < 3 else "ok") for m in range(5)]  # fmt: skip
    store.insert_fixes(fixes)
    e = Engine(reg)
    res = e.process(batch(fixes))
    store.apply_candidates(res.upserts, res.retracted)
    (c,) = [c for c in e.candidates() if c.kind == "strap_tamper"]
    out = alert_map(store, c.id, tmp_path / "t.html", offline=True)
    b = chrome(offline=True)
    try:
        b.set_window_size(1200, 800)
        b.get(out.as_uri())
        _loaded(b, "path.accuracy", 1)
        zoom = map_zoom(b)
        assert zoom == 17, zoom  # every fix at one spot: the closest a map fits, no closer
    finally:
        b.quit()
