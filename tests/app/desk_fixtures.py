"""A desk store for the desk tests: Leeds and Bradford subjects with candidates, and one
account of each role (passwords known to the tests only)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn

from geomonitor.app.desk.accounts import add_user
from geomonitor.app.desk.web import server_config
from geomonitor.engine import Engine
from geomonitor.model.registry_load import parse_registry
from geomonitor.store.domain import Store

from ..conftest import BASE_DOC, batch, fix_at, make_doc

PASSWORD = "correct horse battery"
ACCOUNTS = {
    "dana": ("desk", "Leeds"),
    "vic": ("viewer", "Leeds"),
    "sam": ("supervisor", "Leeds"),
    "brad": ("desk", "Bradford"),
}


def desk_store(path: Path) -> tuple[Store, dict[str, list[str]]]:
    """The store, and candidate ids per district name."""
    doc = make_doc(
        districts=[*BASE_DOC["districts"], {"code": "E08000032", "name": "Bradford"}],
        subjects=[
            {"id": "S-0001", "district": "Leeds", "birth_date": "1990-04-01"},
            {"id": "S-0002", "district": "Bradford", "birth_date": "1985-07-12"},
        ],
        orders=[
            dict(BASE_DOC["orders"][0]),
            dict(BASE_DOC["orders"][0], id="O-0002", subject="S-0002",
                 conditions=[{"id": "C-2", "type": "exclusion_zone", "zone": "Z-CIRCLE"}]),
        ],
    )  # fmt: skip
    st = Store(path)
    reg = parse_registry(doc)
    st.load_registry(reg)
    fixes = []
    for tag, start in (("BUD-0001", 0), ("BUD-0002", 100), ("BUD-0001", 300)):
        fixes += [fix_at(0, 0, start + m, tag=tag) for m in range(5)]
        fixes += [fix_at(2000, 0, start + 10 + m, tag=tag) for m in range(3)]
    st.insert_fixes(fixes)
    e = Engine(reg)
    res = e.process(batch(fixes))
    st.apply_candidates(res.upserts, res.retracted)
    now = int(time.time() * 1000)
    for name, (role, district) in ACCOUNTS.items():
        add_user(st, name, PASSWORD, role, district, "cli:test", now)
    ids: dict[str, list[str]] = {"Leeds": [], "Bradford": []}
    for c in st.candidates():
        ids["Leeds" if c.subject_id == "S-0001" else "Bradford"].append(c.id)
    return st, ids


@contextmanager
def served(db: Path) -> Iterator[tuple[str, int]]:
    """The desk over ``db`` served by uvicorn on 127.0.0.1 as ``geomonitor desk`` serves
    it (no trusted proxy), in a thread: its base URL and port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(server_config(db, "127.0.0.1", port))
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", port
    finally:
        srv.should_exit = True
        t.join(10)
