"""An offline curfew map in a real browser with the network off: every subject's marker
and accuracy circle drawn, and no request made; screenshot kept."""

from __future__ import annotations

import json
import time

from geomonitor.app.maps.curfew import curfew_map

from ..browser import chrome, keep
from .test_maps import AT, PEOPLE, store  # noqa: F401  (the fixture)


def test_the_offline_curfew_map_renders_every_subject_without_a_network(store, tmp_path):  # noqa: F811
    out = curfew_map(store, "Leeds", AT, tmp_path / "curfew.html", offline=True)
    b = chrome(offline=True)
    try:
        b.set_window_size(1400, 900)
        b.get(out.as_uri())
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if b.execute_script("return document.querySelectorAll('path.visit').length") >= 5:
                break
            time.sleep(0.2)
        shown = b.execute_script(
            """const r = {};
               for (const cls of ['visit', 'accuracy', 'curfew-area', 'ward', 'district',
                                  'route']) {
                 r[cls] = [...document.querySelectorAll('path.' + cls)].map(p => {
                   const b = p.getBoundingClientRect();
                   return [[...p.classList].join(' '), b.width, b.height]; });
               }
               return r;"""
        )
        for cls in ("visit", "accuracy", "curfew-area"):
            subjects = {c.split("subject-")[1].split()[0] for c, _, _ in shown[cls]}
            assert subjects == set(PEOPLE), (cls, subjects)
        assert all(w > 0 and h > 0 for _, w, h in shown["visit"] + shown["accuracy"])
        assert len(shown["ward"]) > 100 and len(shown["district"]) >= 5 and shown["route"]
        rows = b.execute_script("return document.querySelectorAll('tr.gm-visit').length")
        assert rows == len(PEOPLE)
        # Nothing was fetched from a network: every request the page made is file: or data:.
        urls = [
            json.loads(e["message"])["message"]["params"]["request"]["url"]
            for e in b.get_log("performance")
            if '"Network.requestWillBeSent"' in e["message"]
        ]
        assert urls and all(u.startswith(("file:", "data:", "blob:")) for u in urls), urls
        b.save_screenshot(str(keep("curfew-map-offline.png")))
    finally:
        b.quit()
