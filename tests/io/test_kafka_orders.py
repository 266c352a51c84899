"""A running fixes consumer and an absence recorded while it runs: the consumer notices that
what it judges by changed, rebuilds, and the fixes that come after do not bring back the
candidate the absence retracted (a real Kafka-protocol broker, a real SQLite file)."""

from __future__ import annotations

import threading
import time

from geomonitor.app.absences import record
from geomonitor.io.kafka import ensure_topics, produce
from geomonitor.io.kafka.fixes import FixesConsumer
from geomonitor.model.registry_load import parse_registry
from geomonitor.store.domain import Store

from ..app.test_orders import _fix_lines, _hospital_doc
from ..rules.test_orders import HOSPITAL, at, visit
from .streams import _config, _fold_candidates, _read_topic


def test_an_absence_recorded_while_the_consumer_runs_is_judged_by_it(kafka_broker, tmp_path):
    db = tmp_path / "k.db"
    cfg = _config(kafka_broker, db)
    cfg.idle_exit_s = 8.0
    with Store(db) as st:
        st.load_registry(parse_registry(_hospital_doc()))
    ensure_topics(cfg, partitions=1)
    fixes = visit()
    (tmp_path / "a.jsonl").write_text(_fix_lines([f for f in fixes if f.ts < at("20:20")]))
    (tmp_path / "b.jsonl").write_text(_fix_lines([f for f in fixes if f.ts >= at("20:20")]))
    produce(cfg, fixes=tmp_path / "a.jsonl")
    t = threading.Thread(target=lambda: FixesConsumer(cfg).run(), daemon=True)
    t.start()
    deadline = time.monotonic() + 60
    raised: list = []
    while time.monotonic() < deadline and len(raised) < 2:
        with Store(db) as st:
            raised = [c for c in st.candidates() if c.kind in ("curfew_absent", "exclusion_zone")]
        time.sleep(0.2)
    assert sorted(c.kind for c in raised) == ["curfew_absent", "exclusion_zone"]
    assert [c.status for c in raised] == ["open", "open"]  # mid-visit: still away, still inside

    with Store(db) as st:  # the phone call comes in: recorded (and judged) by the desk
        _, w = record(st, "S-0001", at("19:30"), at("21:00"), "PO Smith",
                      "hospital appointment", "sam", "desk", 0, HOSPITAL, 200.0)  # fmt: skip
    assert w.retracted == 2
    produce(cfg, fixes=tmp_path / "b.jsonl")  # the rest of the night
    t.join(timeout=120)
    assert not t.is_alive()
    with Store(db) as st:
        assert [c.kind for c in st.candidates() if c.kind != "no_contact"] == []
        assert sorted(c.kind for c, _ in st.authorised_of("S-0001")) == [
            "curfew_absent",
            "exclusion_zone",
        ]
    desk, ids = _fold_candidates(_read_topic(cfg, cfg.candidates_topic))
    assert [c["kind"] for c in desk if c["kind"] != "no_contact"] == []
    assert len(ids) == len(set(ids))
