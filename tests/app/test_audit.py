"""The tag inventory and the monthly audit on a simulated fleet of two months: planted
faulty units found and no healthy one, utilisation as computed by hand, flexing towards
demand, and the report's figures equal to its CSV."""

from __future__ import annotations

import csv
import re
from datetime import datetime

import pytest

from geomonitor.app.audit.figures import flex
from geomonitor.app.audit.report import month_bounds, monthly, render, write_monthly
from geomonitor.model.inventory import HELD, state_at
from geomonitor.model.times import UK
from geomonitor.sim.fleet import PLANTED

HOUR = 3_600_000
LEEDS, CALDERDALE, BRADFORD = "E08000035", "E08000033", "E08000032"


def _ms(y, m, d, h=0):
    return int(datetime(y, m, d, h, tzinfo=UK).timestamp() * 1000)


def test_every_planted_faulty_unit_is_found_and_no_healthy_one(fleet_store):
    fleet, st, _ = fleet_store
    audit = monthly(st, "2026-10")
    found = {(f.tag_id, f.finding) for f in audit.findings}
    planted = {(tag, kind) for kind, tag in fleet.faulty.items()}
    assert set(fleet.faulty) == set(PLANTED)
    assert planted <= found, planted - found
    assert {t for t, _ in found} == set(fleet.faulty.values()), found - planted
    by = {(f.tag_id, f.finding): f for f in audit.findings}
    silent = by[(fleet.faulty["silent_while_fitted"], "silent_while_fitted")]
    # the planted silence ended before the month did: back in contact, not lost
    assert silent.suggested_status == "none" and "72 h" in silent.evidence
    assert re.search(
        r"back in contact at \w{3} \d\d \w{3} 2026 \d\d:\d\d (GMT|BST)$", silent.evidence
    )
    assert by[(fleet.faulty["reports_while_unfitted"], "reports_while_unfitted")].district == (
        "Bradford"
    )
    # September, before the faults were planted (they start in October): nothing but the
    # unit reporting while nobody wore it does not report then either.
    assert monthly(st, "2026-09").findings == []


def test_utilisation_equals_a_hand_count(fleet_store):
    _, st, _ = fleet_store
    rows = {r.district: r for r in monthly(st, "2026-10").rows}
    lo, hi = month_bounds("2026-10")
    days = (hi - lo) / HOUR / 24  # October has 745 hours here: the clocks go back
    assert (hi - lo) / HOUR == 745
    leeds = rows["Leeds"]
    # Leeds holds its six units and one transferred from Calderdale in September, all
    # month; four are worn all month, one from 11 October (local midnight).
    late = (hi - _ms(2026, 10, 11)) / HOUR / 24
    assert leeds.unit_days_allocated == pytest.approx(7 * days)
    assert leeds.unit_days_fitted == pytest.approx(4 * days + late)
    assert leeds.utilisation_pct == round(100 * (4 * days + late) / (7 * days), 1)
    assert (leeds.units_allocated, leeds.units_fitted) == (7, 5)
    assert (leeds.units_active, leeds.units_inactive) == (5, 2)
    assert leeds.demand_waiting == 5
    # Bradford: its six and the spare allocated from stock; one reports unworn (active).
    brad = rows["Bradford"]
    assert (brad.units_allocated, brad.units_fitted, brad.units_active) == (7, 5, 6)
    # Wakefield's damaged unit is held, not worn; the lost spare was in stock (no district).
    wake = rows["Wakefield"]
    assert (wake.units_damaged, wake.units_allocated) == (1, 6)
    force = rows["West Yorkshire"]
    assert force.units_allocated == sum(r.units_allocated for r in rows.values()) / 2
    assert force.units_lost == 0 and force.demand_waiting == 9


def test_flex_moves_idle_units_towards_demand_and_never_below_the_fitted_count(fleet_store):
    _, st, _ = fleet_store
    reg = st.current_registry()
    districts = {c: d.name for c, d in reg.districts.items()}
    lines = st.unit_timelines()
    at = _ms(2026, 11, 1)
    demand = st.demand_at(at)
    moves = flex(lines, demand, districts, at)
    idle = {c: 0 for c in districts}
    held = {c: 0 for c in districts}
    fitted = {c: 0 for c in districts}
    for states in lines.values():
        s = state_at(states, at)
        if s and s.district in districts and s.state in HELD:
            held[s.district] += 1
            fitted[s.district] += s.state == "fitted"
            idle[s.district] += s.state == "allocated"
    spare = sum(max(0, idle[c] - demand.get(c, 0)) for c in districts)
    need = sum(max(0, demand.get(c, 0) - idle[c]) for c in districts)
    assert len(moves) == min(spare, need) == 3
    code = {v: k for k, v in districts.items()}
    for m in moves:
        frm, to = code[m.from_district], code[m.to_district]
        assert idle[frm] > demand.get(frm, 0), m  # spare capacity
        assert demand.get(to, 0) > idle[to], m  # waiting demand
        assert state_at(lines[m.tag_id], at).state == "allocated"  # an idle unit
        held[frm] -= 1
        held[to] += 1
        assert held[frm] >= fitted[frm]
        assert m.to_after >= m.to_before and m.from_after >= m.from_before and m.reason
    # The biggest unmet demand (Calderdale and Leeds, 3 each) is served first.
    assert {m.to_district for m in moves[:2]} == {"Calderdale", "Leeds"}


def test_the_report_files_agree(fleet_store, tmp_path):
    _, st, _ = fleet_store
    paths = write_monthly(st, "2026-10", tmp_path)
    assert [p.name for p in paths] == [
        "audit-2026-10.csv",
        "audit-2026-10-findings.csv",
        "audit-2026-10.html",
    ]
    with paths[0].open() as f:
        rows = list(csv.DictReader(f))
    assert [r["district"] for r in rows][-1] == "West Yorkshire" and len(rows) == 6
    # the CSV's figures as counted by hand (Leeds holds 7 units all month, 745 hours long)
    leeds = next(r for r in rows if r["district"] == "Leeds")
    assert leeds["unit_days_allocated"] == f"{7 * 745 / 24:.2f}" and leeds["units_allocated"] == "7"
    late = (month_bounds("2026-10")[1] - _ms(2026, 10, 11)) / HOUR / 24
    assert leeds["unit_days_fitted"] == f"{4 * 745 / 24 + late:.2f}"
    html = paths[2].read_text()
    for r in rows:  # every figure of the summary table is the CSV's
        m = re.search(rf'<tr[^>]*data-district="{r["district"]}">(.*?)</tr>', html, re.S)
        assert m, r["district"]
        cells = dict(re.findall(r'data-col="(\w+)">([^<]*)<', m.group(1)))
        assert cells == {k: v for k, v in r.items() if k not in ("month", "district")}
    with paths[1].open() as f:
        findings = list(csv.DictReader(f))
    assert len(findings) == len(PLANTED)
    for f in findings:
        assert f["tag_id"] in html and f["evidence"].split(" (")[0] in html
    # Opens without a network: nothing to fetch (namespace names are not fetched).
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//|url\(\s*["']?https?:""", html)
    assert "https://" not in html
    assert html.count("<svg") == 3
    # No personal data: ids only (the fleet has no names; birth dates never appear).
    assert "1990-01-01" not in html


def test_a_month_not_over_counts_to_now_and_nobody_is_silent_after_the_data(fleet_store):
    _, st, _ = fleet_store
    now = _ms(2026, 10, 20)
    audit = monthly(st, "2026-10", now=now)
    leeds = {r.district: r for r in audit.rows}["Leeds"]
    assert leeds.unit_days_allocated == pytest.approx(7 * (now - _ms(2026, 10, 1)) / HOUR / 24)
    assert audit.until == now
    # The fixes end on 1 November: November's audit finds no unit silent in it.
    nov = monthly(st, "2026-11", now=_ms(2026, 11, 30))
    assert nov.findings == [] and nov.seen <= month_bounds("2026-11")[0] + 1
    html = render(nov, st)
    assert "figures count to" in html and "no unit is judged silent after that" in html


def test_a_unit_still_silent_when_the_report_is_made_is_suggested_lost(fleet_store):
    fleet, st, _ = fleet_store
    tag = fleet.faulty["silent_while_fitted"]
    start = next(f for f in monthly(st, "2026-10").findings
                 if f.tag_id == tag and f.finding == "silent_while_fitted").first_seen  # fmt: skip
    during = monthly(st, "2026-10", now=start + 30 * HOUR).findings
    (f,) = [f for f in during if f.tag_id == tag and f.finding == "silent_while_fitted"]
    assert f.suggested_status == "lost" and f.evidence.endswith(
        "still silent when the report was made"
    )
    # made the moment the unit came back: its last fix is the one that ends the silence
    end = next(f for f in monthly(st, "2026-10").findings
               if f.tag_id == tag and f.finding == "silent_while_fitted").last_seen  # fmt: skip
    (f,) = [f for f in monthly(st, "2026-10", now=end + 1).findings
            if f.tag_id == tag and f.finding == "silent_while_fitted"]  # fmt: skip
    assert f.suggested_status == "none" and "back in contact" in f.evidence
    early = monthly(st, "2026-10", now=start + 23 * HOUR).findings  # not yet 24 h
    assert not [f for f in early if f.tag_id == tag and f.finding == "silent_while_fitted"]


@pytest.mark.parametrize(("minutes", "found"), [(29, False), (30, False), (31, True), (None, True)])
def test_a_tamper_intact_again_within_30_minutes_is_not_a_damaged_unit(fleet_store, minutes, found):
    fleet, st, _ = fleet_store
    tag = fleet.faulty["tamper_without_removal"]
    before = st.db.execute("SELECT started_at, ended_at FROM device_events WHERE tag_id=? "
                           "AND kind='strap_tamper'", (tag,)).fetchall()  # fmt: skip
    try:
        st.db.execute("UPDATE device_events SET ended_at = CASE WHEN ? IS NULL THEN NULL "
                      "ELSE started_at + ? * 60000 END WHERE tag_id=? AND kind='strap_tamper'",
                      (minutes, minutes, tag))  # fmt: skip
        got = [f for f in monthly(st, "2026-10").findings if f.tag_id == tag]
        assert bool(got) is found, got
        if found:
            said = (
                "not reported intact again" if minutes is None else "intact again only after 31 min"
            )
            assert said in got[0].evidence and got[0].suggested_status == "damaged"
            assert re.search(r"strap tamper at Wed 14 Oct 2026 \d\d:\d\d BST", got[0].evidence)
    finally:
        for started, ended in before:
            st.db.execute(
                "UPDATE device_events SET ended_at=? WHERE tag_id=? AND kind='strap_tamper' "
                "AND started_at=?",
                (ended, tag, started),
            )


def test_demand_waiting_is_as_it_stood_at_the_end_of_what_the_report_counts(fleet_store):
    _, st, _ = fleet_store
    before = st.db.execute("SELECT MAX(seq) FROM demand").fetchone()[0] or 0
    try:
        st.set_demand(LEEDS, _ms(2026, 10, 10), 4, "test", "mid-month referrals")
        st.set_demand(LEEDS, _ms(2026, 11, 5), 9, "test", "after the month")
        leeds = {r.district: r for r in monthly(st, "2026-10").rows}["Leeds"]
        assert leeds.demand_waiting == 4
        early = {r.district: r for r in monthly(st, "2026-10", now=_ms(2026, 10, 9)).rows}
        assert early["Leeds"].demand_waiting != 4  # not yet set on the 9th
    finally:
        st.db.execute("DELETE FROM demand WHERE seq>?", (before,))
