import gzip

from geomonitor.io.sources import iter_records


def test_jsonl_with_a_broken_line(tmp_path):
    p = tmp_path / "f.jsonl"
    p.write_text('{"a": 1}\n\n{"a": \n{"a": 3}\n')
    recs = list(iter_records(p))
    assert [r.locator for r in recs] == ["line 1", "line 3", "line 4"]
    assert recs[0].value == {"a": 1}
    assert recs[1].value is None and "malformed JSON" in recs[1].error
    assert recs[1].raw == '{"a": '


def test_gzip_is_detected_by_content(tmp_path):
    p = tmp_path / "fixes.jsonl.gz"
    with gzip.open(p, "wt") as fh:
        fh.write('{"a": 1}\n{"a": 2}\n')
    assert [r.value["a"] for r in iter_records(p)] == [1, 2]


def test_csv_rows_become_records_and_empty_cells_are_absent(tmp_path):
    p = tmp_path / "fixes.csv"
    p.write_text(
        "tag_id,ts,lat,lon,accuracy_m\nBUD-1,2026-11-21T21:14:05Z,53.8,-1.5,\n"
        "BUD-1,2026-11-21T21:15:05Z,53.8\n"
    )
    recs = list(iter_records(p))
    assert recs[0].value == {
        "tag_id": "BUD-1",
        "ts": "2026-11-21T21:14:05Z",
        "lat": "53.8",
        "lon": "-1.5",
    }
    assert recs[1].value is None and "malformed CSV" in recs[1].error


def test_malformed_csv_row_is_kept_with_its_quoting(tmp_path):
    p = tmp_path / "fixes.csv"
    p.write_text('tag_id,ts,lat\n"BUD,1",2026-11-21T21:14:05Z\n')
    (rec,) = list(iter_records(p))
    assert rec.value is None and rec.raw == '"BUD,1",2026-11-21T21:14:05Z'
