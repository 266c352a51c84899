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


def test_the_printed_audit_fits_a4_numbers_its_pages_and_says_when_it_was_made(
    fleet_store, tmp_path
):
    import base64
    import re
    import subprocess

    from geomonitor.app.audit.report import write_monthly

    _, st, _ = fleet_store
    html = write_monthly(st, "2026-10", tmp_path)[2]
    b = chrome(offline=True)
    try:
        b.set_window_size(1240, 1754)
        b.get(html.as_uri())
        b.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
        got = b.execute_script(
            """const body = document.body.getBoundingClientRect();
               const wide = [...document.querySelectorAll('table')].filter(
                 t => t.getBoundingClientRect().right > body.right + 1).length;
               const fig = document.querySelector('#chart-utilisation svg');
               const key = fig.querySelector('g[id^="legend"]').getBoundingClientRect();
               const labels = [...fig.querySelectorAll('text')].filter(
                 t => /^\\d+%$/.test(t.textContent.trim()));
               const hit = labels.filter(t => { const r = t.getBoundingClientRect();
                 return !(r.right < key.left || r.left > key.right || r.bottom < key.top
                          || r.top > key.bottom); }).length;
               return {wide: wide, labels: labels.length, covered: hit,
                       noUnits: [...fig.querySelectorAll('text')].filter(
                         t => t.textContent.trim() === 'no units').length};"""
        )
        # no table past the printed width; the key clear of every bar's label; the months
        # before the fleet existed say "no units" where their bars would be
        assert got["wide"] == 0 and got["labels"] == 5 and got["covered"] == 0, got
        assert got["noUnits"] == 5, got
        pdf = b.execute_cdp_cmd("Page.printToPDF", {"printBackground": True,
                                                    "preferCSSPageSize": True})  # fmt: skip
    finally:
        b.quit()
    path = tmp_path / "audit.pdf"
    path.write_bytes(base64.b64decode(pdf["data"]))
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                          text=True, check=True).stdout  # fmt: skip
    pages = text.split("\f")
    n = int(re.search(r"page 1 of (\d+)", pages[0]).group(1))
    assert n >= 6 and all(f"page {k} of {n}" in pages[k - 1] for k in range(1, n + 1))
    assert re.search(r"Produced \w{3} \d\d \w{3} \d{4} \d\d:\d\d (GMT|BST) by geomonitor", text)
    # the summary's last column printed on the first page, the force's demand with it
    assert "demand" in pages[0] and re.search(r"West\s.*\b9\s*$", pages[0], re.M)
    assert "_" not in re.sub(r"\S+@\S+|BUD-\d+", "", "".join(pages[1:]))  # words, not codes
    for k in (1, 2):
        out = str(keep(f"audit-2026-10-printed-page{k}"))
        subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", str(k), "-l", str(k),
                        "-singlefile", str(path), out], check=True)  # fmt: skip
