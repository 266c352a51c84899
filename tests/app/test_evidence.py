"""Evidence packs (issue 26): the PDF's text read back with poppler (the candidate id, each
position in local time, the exhibit on every page, the witness statement with no name), a
crime pack with the hits and eliminations `crimes match` gives, `verify` finding one changed
byte or a missing file, the KML and GeoJSON valid, the manifest's digest and the purpose in
the consultation log, other people's positions never shown, and the desk's button."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import subprocess
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import shape

from geomonitor.app.cli import main
from geomonitor.app.crimes.report import run_batch
from geomonitor.app.desk.web import create_app
from geomonitor.app.pack import FILES, MANIFEST
from geomonitor.engine import Engine
from geomonitor.model.crime import parse_crime_rows
from geomonitor.model.text import local_seconds
from geomonitor.model.times import iso, parse_ts
from geomonitor.store.domain import Store

from ..browser import keep
from ..conftest import batch
from .desk_fixtures import PASSWORD, desk_store
from .test_crimes import store as crime_store  # noqa: F401  (the fixture)
from .test_maps import _exclusion_candidate
from .test_maps import store as map_store  # noqa: F401  (the fixture)

PURPOSE = "warning letter file 2026/41"


def _text(pdf: Path) -> list[str]:
    out = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    return out.split("\f")[:-1]


@pytest.fixture
def pack(map_store, tmp_path, capsys):  # noqa: F811
    c = _exclusion_candidate(map_store)
    db = str(tmp_path / "m.db")
    out = tmp_path / "pack"
    assert (
        main(["evidence", "pack", c.id, "--out", str(out), "--purpose", PURPOSE, "--db", db]) == 0
    )
    printed = capsys.readouterr().out
    return c, out, printed, map_store


def test_the_pdf_says_the_candidate_its_positions_in_local_time_and_the_exhibit_on_each_page(pack):
    c, out, printed, _ = pack
    assert f"exhibit GM/{c.id}" in printed
    pages = _text(out / "pack.pdf")
    n = len(pages)
    assert n >= 4
    for k, page in enumerate(pages, 1):
        assert f"Exhibit GM/{c.id}, page {k} of {n}" in page, k
    text = "\n".join(pages)
    assert c.id in text and "What happened" in text and "Z-CIRCLE" in text
    for ref in c.evidence:  # every evidence fix, in UK local time to the second
        when = local_seconds(parse_ts(ref.split("@")[1]))
        assert when in text.replace("\n        ", " "), when
    assert "Z" not in re.sub(
        r"Z-CIRCLE|ZONE|Zone", "", "".join(re.findall(r"\d\d:\d\d:\d\d\s+\w+", text))
    )
    statement = pages[-1]
    assert "WITNESS STATEMENT" in statement and re.search(r"Statement of: _{20,}", statement)
    assert f"I produce as exhibit GM/{c.id}" in statement
    for k in (1, 2, n):
        subprocess.run(
            [
                "pdftoppm",
                "-png",
                "-r",
                "60",
                "-f",
                str(k),
                "-l",
                str(k),
                "-singlefile",
                str(out / "pack.pdf"),
                str(keep(f"evidence-pack-page{k}")),
            ],
            check=True,
        )


def test_verify_says_intact_then_names_a_changed_byte_a_missing_file_and_an_extra(pack, capsys):
    c, out, _, st = pack
    again = ["evidence", "pack", c.id, "--out", str(out), "--purpose", PURPOSE,
             "--db", str(st.path)]  # fmt: skip
    assert main(again) == 2  # a pack is never written over
    assert "already holds a pack: choose another folder" in capsys.readouterr().err
    assert main(["evidence", "verify", str(out)]) == 0
    assert capsys.readouterr().out.startswith("intact: 5 files")
    raw = (out / "positions.csv").read_bytes()
    (out / "positions.csv").write_bytes(raw[:100] + bytes([raw[100] ^ 1]) + raw[101:])
    assert main(["evidence", "verify", str(out)]) == 1
    got = capsys.readouterr().out
    assert "changed: positions.csv" in got and got.splitlines()[-1].startswith("CHANGED")
    (out / "positions.csv").write_bytes(raw)
    (out / "map.png").rename(out.parent / "map.png")
    (out / "notes.txt").write_text("added later")
    assert main(["evidence", "verify", str(out)]) == 1
    got = capsys.readouterr().out
    assert "missing: map.png" in got and "not in the manifest: notes.txt" in got


def test_the_kml_and_geojson_are_valid_and_hold_the_csvs_positions(pack):
    _, out, _, _ = pack
    with (out / "positions.csv").open() as f:
        rows = list(csv.DictReader(f))
    ns = {"k": "http://www.opengis.net/kml/2.2"}
    root = ET.parse(out / "positions.kml").getroot()
    assert root.tag == "{http://www.opengis.net/kml/2.2}kml"
    points = root.findall(".//k:Placemark/k:Point/k:coordinates", ns)
    whens = [parse_ts(w.text) for w in root.findall(".//k:Placemark/k:TimeStamp/k:when", ns)]
    assert len(points) == len(rows) == len(whens) and len(rows) > 10
    for p, r, w in zip(points, rows, whens, strict=True):
        lon, lat, _ = (float(v) for v in p.text.split(","))
        assert (f"{lat:.6f}", f"{lon:.6f}") == (r["lat"], r["lon"]) and iso(w) == r["ts"]
    assert root.find(".//k:LineString", ns) is not None
    doc = json.loads((out / "positions.geojson").read_text())
    assert doc["type"] == "FeatureCollection" and len(doc["features"]) == len(rows)
    for ft, r in zip(doc["features"], rows, strict=True):
        g = shape(ft["geometry"])
        assert g.geom_type == "Point" and g.is_valid
        assert (round(g.y, 6), round(g.x, 6)) == (float(r["lat"]), float(r["lon"]))
        assert ft["properties"]["ts"] == r["ts"]


def test_the_manifests_digest_and_the_purpose_are_in_the_consultation_log(pack):
    c, out, _, st = pack
    digest = hashlib.sha256((out / MANIFEST).read_bytes()).hexdigest()
    manifest = json.loads((out / MANIFEST).read_text())
    assert [f["name"] for f in manifest["files"]] == list(FILES)
    for f in manifest["files"]:
        assert hashlib.sha256((out / f["name"]).read_bytes()).hexdigest() == f["sha256"]
    (row,) = [r for r in st.audit_log(100) if r["action"] == "evidence_pack"]
    assert row["purpose"] == PURPOSE and row["target"] == c.id
    assert f"manifest sha256 {digest}" in row["detail"] and "S-0001" in row["subjects"]


def test_a_non_association_pack_shows_the_other_subject_only_over_the_meeting(tmp_path):
    from ..rules.test_association import reg, walk

    st = Store(tmp_path / "n.db")
    st.load_registry(reg())
    fixes = walk("BUD-0001", (0, 40)) + walk("BUD-0002", (10, 30), dx=20, offset=0.6)
    fixes += walk("BUD-0002", (30, 40), dx=3000, offset=0.6)  # after the meeting: elsewhere
    fixes += walk("BUD-0002", (-30, 5), dx=5000, offset=0.6)  # before it: elsewhere
    st.insert_fixes(fixes)
    e = Engine(reg())
    r = e.process(batch(fixes))
    st.apply_candidates(r.upserts, r.retracted)
    (c,) = [c for c in e.candidates() if c.kind == "non_association"]
    st.close()
    out = tmp_path / "pack"
    assert (
        main(
            [
                "evidence",
                "pack",
                c.id,
                "--out",
                str(out),
                "--purpose",
                PURPOSE,
                "--db",
                str(tmp_path / "n.db"),
            ]
        )
        == 0
    )
    with (out / "positions.csv").open() as f:
        rows = list(csv.DictReader(f))
    meeting = {ref.split("@")[1] for ref in c.evidence if ref.startswith("BUD-0002@")}
    others = [r for r in rows if r["role"] == "other"]
    assert others and {r["ts"] for r in others} <= meeting
    assert all(r["tag_id"] == "BUD-0002" for r in others)
    assert any(r["role"] == "subject" for r in rows)
    assert "none of their other positions" in "\n".join(_text(out / "pack.pdf"))


def test_a_crime_pack_lists_hits_and_eliminations_as_crimes_match_does(
    crime_store,  # noqa: F811
    tmp_path,
):
    from ..conftest import CX, CY

    batch_csv = tmp_path / "crimes.csv"
    batch_csv.write_text(
        "crime_ref,type,from,to,easting,northing\n"
        f"CR-1,BIAD,2026-11-21T20:00:00Z,2026-11-21T21:00:00Z,{CX},{CY}\n"
    )
    crimes, _ = parse_crime_rows(batch_csv.read_text())
    run_batch(crime_store, crimes, [], tmp_path / "matched", maps=False)
    with (tmp_path / "matched" / "hits.csv").open() as f:
        hits = [r for r in csv.DictReader(f) if r["subject_id"] == "S-0001"]
    with (tmp_path / "matched" / "eliminations.csv").open() as f:
        elim = {r["subject_id"]: (r["verdict"], r["reason"]) for r in csv.DictReader(f)}
    assert hits and elim
    out = tmp_path / "pack"
    db = str(crime_store.path)
    assert (
        main(
            [
                "evidence",
                "pack",
                "--crime",
                "CR-1",
                "--subject",
                "S-0001",
                "--crimes",
                str(batch_csv),
                "--out",
                str(out),
                "--purpose",
                PURPOSE,
                "--db",
                db,
            ]
        )
        == 0
    )
    with (out / "positions.csv").open() as f:
        labelled = [(r["ts"], r["label"]) for r in csv.DictReader(f) if r["label"]]
    assert sorted(labelled) == sorted((h["ts"], h["position"]) for h in hits)
    text = "\n".join(_text(out / "pack.pdf"))
    assert "S-0001 was there" in text
    for subject, (verdict, _) in elim.items():
        assert re.search(rf"{subject}\s+{verdict.replace('_', ' ')}", text), subject
    with (out / "positions.csv").open() as f:
        tags = {r["tag_id"] for r in csv.DictReader(f)}
    assert tags == {"BUD-0001"}  # the subject's own positions; nobody else's


def test_the_desk_hands_a_pack_to_the_desk_role_and_refuses_a_viewer(tmp_path):
    st, ids = desk_store(tmp_path / "d.db")
    st.close()
    cid = ids["Leeds"][0]

    def client(user: str) -> tuple[TestClient, str]:
        c = TestClient(create_app(tmp_path / "d.db"), base_url="https://testserver")
        token = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
        c.post("/login", data={"username": user, "password": PASSWORD, "csrf": token})
        page = c.get(f"/candidates/{cid}").text
        return c, re.search(r'name="csrf" value="([^"]+)"', page).group(1)

    c, csrf = client("dana")
    assert 'id="pack-form"' in c.get(f"/candidates/{cid}").text
    r = c.post(f"/candidates/{cid}/pack", data={"csrf": csrf, "purpose": PURPOSE})
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    z = zipfile.ZipFile(io.BytesIO(r.content))
    assert sorted(z.namelist()) == sorted([*FILES, MANIFEST])
    z.extractall(tmp_path / "got")
    assert main(["evidence", "verify", str(tmp_path / "got")]) == 0
    assert c.post(f"/candidates/{cid}/pack", data={"csrf": csrf}).status_code == 422
    assert c.post(f"/candidates/{cid}/pack", data={"purpose": PURPOSE}).status_code == 403
    assert (
        c.post(
            f"/candidates/{ids['Bradford'][0]}/pack", data={"csrf": csrf, "purpose": PURPOSE}
        ).status_code
        == 404
    )
    v, vcsrf = client("vic")
    assert 'id="pack-form"' not in v.get(f"/candidates/{cid}").text
    assert (
        v.post(f"/candidates/{cid}/pack", data={"csrf": vcsrf, "purpose": PURPOSE}).status_code
        == 403
    )
    with Store(tmp_path / "d.db") as s:
        rows = [r for r in s.audit_log(100) if r["action"] == "evidence_pack"]
    assert [(r["actor"], r["outcome"]) for r in rows][::-1][:1] == [("dana", "ok")]


def test_the_positions_are_the_episode_and_30_minutes_either_side_evidence_marked(pack):
    c, out, _, _ = pack
    with (out / "positions.csv").open() as f:
        rows = list(csv.DictReader(f))
    marked = {f"{r['tag_id']}@{r['ts']}" for r in rows if r["evidence"] == "yes"}
    assert marked == {ref.replace(".000Z", "Z") for ref in c.evidence}
    ts = [parse_ts(r["ts"]) for r in rows]
    lo, hi = c.opened_at - 30 * 60_000, c.closed_at + 30 * 60_000
    assert all(lo <= t <= hi for t in ts)
    assert [t for t in ts if t > c.closed_at]  # the fixes away after it left the zone
