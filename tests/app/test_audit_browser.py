"""The monthly report in a real browser (headless Chromium, network off): its charts are
drawn, its tables are there, and a screenshot of the first page is kept."""

from __future__ import annotations

from ..browser import chrome, keep


def test_the_report_opens_offline_with_its_charts_drawn(fleet_store, tmp_path):
    from geomonitor.app.audit.report import write_monthly

    _, st, _ = fleet_store
    html = write_monthly(st, "2026-10", tmp_path)[2]
    b = chrome(offline=True)
    try:
        b.get(html.as_uri())
        assert "Tag audit: October 2026" in b.title + b.page_source
        charts = b.execute_script(
            """return [...document.querySelectorAll('figure.chart')].map(f => {
                 const svg = f.querySelector('svg'); const r = svg.getBoundingClientRect();
                 return [f.id, r.width, r.height, svg.querySelectorAll('path').length]; })"""
        )
        assert [c[0] for c in charts] == ["chart-utilisation", "chart-states", "chart-findings"]
        for name, w, h, shapes in charts:
            assert w > 300 and h > 100 and shapes > 10, (name, w, h, shapes)
        rows = b.execute_script("return document.querySelectorAll('#summary tbody tr').length")
        assert rows == 6
        assert b.execute_script("return document.querySelectorAll('section.district').length") == 5
        b.save_screenshot(str(keep("audit-2026-10-first-page.png")))
        (keep("audit-2026-10.html")).write_text(html.read_text())
    finally:
        b.quit()
