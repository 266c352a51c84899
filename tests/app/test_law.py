"""The law for location data (issue 22): every look logged and scoped, a log that shows
tampering, the desk hardened. One test (or more) per thing seen when the desk was tried
as an outsider and as an insider of another district."""

from __future__ import annotations

import hashlib
import io
import re
import socket
import sqlite3
import threading
import time
from pathlib import Path

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient

from geomonitor.app.cli import build_parser, leaves, main
from geomonitor.app.consult import COMMANDS, ROUTES, WRITE
from geomonitor.app.desk.accounts import (
    ADDRESS_NAMES,
    FREE_FAILURES,
    NAME_FAILURES,
    LoginRefused,
    TooManyAttempts,
    authenticate,
    login,
)
from geomonitor.app.desk.limits import MAX_BODY
from geomonitor.app.desk.web import create_app, server_config
from geomonitor.model.text import free_text
from geomonitor.store.auditlog import GENESIS, checkpoint_path
from geomonitor.store.domain import Store

from .desk_fixtures import PASSWORD, desk_store, served

LEEDS, BRADFORD = "E08000035", "E08000032"


@pytest.fixture
def desk(tmp_path):
    st, ids = desk_store(tmp_path / "d.db")
    yield st, ids, tmp_path / "d.db"
    st.close()


def _client(db: Path, user: str | None = None) -> TestClient:
    c = TestClient(create_app(db), base_url="https://testserver")
    if user:
        page = c.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        r = c.post("/login", data={"username": user, "password": PASSWORD, "csrf": token},
                   follow_redirects=False)  # fmt: skip
        assert r.status_code == 303, r.text
    return c


def _csrf(c: TestClient) -> str:
    return c.get("/api/session").json()["csrf"]


def _rows(db: Path, **where) -> list[dict]:
    with Store(db, create=False) as st:
        rows = st.audit_log(10_000)
    return [r for r in rows if all(r[k] == v for k, v in where.items())]


# ---------------------------------------------------------------------- consultation log
def test_a_viewer_pulling_the_queue_and_a_map_leaves_a_row_each_with_whose_data(desk):
    _st, ids, db = desk
    c = _client(db, "vic")
    assert len(c.get("/api/candidates").json()) == len(ids["Leeds"])
    cid = ids["Leeds"][0]
    assert c.get(f"/candidates/{cid}/map").status_code == 200
    (q,) = _rows(db, actor="vic", action="api_queue")
    assert q["outcome"] == "ok" and q["subjects"] == "S-0001" and q["district"] == LEEDS
    assert q["purpose"] == "desk review" and q["origin"] == "testclient"
    (m,) = _rows(db, actor="vic", action="view_map")
    assert m["target"] == cid and m["subjects"] == "S-0001"
    # ids only, never contents: no position, plate or explanation in any row
    assert not any("lat" in str(r["detail"]) for r in _rows(db))


def test_refusals_are_logged_another_districts_id_and_a_role_refusal(desk):
    _st, ids, db = desk
    c = _client(db, "dana")
    theirs = ids["Bradford"][0]
    assert c.get(f"/api/candidates/{theirs}").status_code == 404
    (r,) = _rows(db, actor="dana", action="api_view")
    assert r["outcome"] == "refused" and r["target"] == theirs and "refused" in r["detail"]
    v = _client(db, "vic")
    mine = ids["Leeds"][0]
    resp = v.post(f"/api/candidates/{mine}/ack", json={}, headers={"X-CSRF-Token": _csrf(v)})
    assert resp.status_code == 403
    (w,) = _rows(db, actor="vic", action=WRITE.action)
    assert w["outcome"] == "refused" and w["target"] == mine
    assert v.get("/audit").status_code == 403
    assert _rows(db, actor="vic", action="read_audit_log")[0]["outcome"] == "refused"


def test_every_route_is_classified_and_every_personal_page_logs(desk):
    """Walks the desk's routes: each is in consult.ROUTES, and each GET that shows
    personal data leaves a row when a force-wide supervisor opens it."""
    st, ids, db = desk
    from geomonitor.app.desk.accounts import add_user

    add_user(st, "chief", PASSWORD, "supervisor", "all", "cli:test", int(time.time() * 1000))
    app = create_app(db)
    seen = set()
    for r in app.routes:
        for m in getattr(r, "methods", None) or ():
            if m != "HEAD":
                assert (m, r.path_format) in ROUTES, (m, r.path_format)
                seen.add((m, r.path_format))
    assert seen == set(ROUTES)
    c = _client(db, "chief")
    cid = ids["Leeds"][0]
    fill = {"{cid}": cid, "{sid}": "S-0001"}
    for (method, path), kind in sorted(ROUTES.items()):
        if method != "GET" or kind is None:
            continue
        url = path
        for k, v in fill.items():
            url = url.replace(k, v)
        if path == "/maps/curfew":
            url += "?district=Leeds"
        before = len(_rows(db, actor="chief", action=kind.action))
        assert c.get(url).status_code == 200, url
        assert len(_rows(db, actor="chief", action=kind.action)) == before + 1, url
        assert "force-wide" in _rows(db, actor="chief", action=kind.action)[0]["detail"]


def test_a_route_missing_from_the_table_stops_the_desk(desk, monkeypatch):
    _, _, db = desk
    monkeypatch.delitem(ROUTES, ("GET", "/health"))
    with pytest.raises(RuntimeError, match=r"GET /health: not in consult\.ROUTES"):
        create_app(db)


def _cli_cases(tmp: Path, cid: str) -> dict[str, list[str]]:
    crimes = tmp / "crimes.csv"
    head = "crime_ref,type,from,to,lat,lon,easting,northing\n"
    crimes.write_text(head + "CR-1,BIAD,2026-11-21T20:00:00Z,2026-11-21T21:00:00Z,53.8,-1.55,,\n")
    p = ["--purpose", "test of the log"]
    return {
        "registry history": ["registry", "history"],
        "alerts list": ["alerts", "list"],
        "alerts show": ["alerts", "show", cid],
        "alerts history": ["alerts", "history", cid],
        "devices": ["devices"],
        "rejected": ["rejected", "--show-raw", *p],
        "tags list": ["tags", "list"],
        "tags show": ["tags", "show", "BUD-0001"],
        "tags history": ["tags", "history", "BUD-0001"],
        "audit monthly": ["audit", "monthly", "--month", "2026-11", "--out", str(tmp / "a")],
        "map curfew": ["map", "curfew", "--district", "Leeds", "--out", str(tmp / "c.html")],
        "map alert": ["map", "alert", cid, "--out", str(tmp / "al.html"), *p],
        "evidence pack": ["evidence", "pack", cid, "--out", str(tmp / "pack"), *p],
        "map trail": [
            "map",
            "trail",
            "S-0001",
            "--from",
            "2026-11-01",
            "--to",
            "2026-11-30",
            "--out",
            str(tmp / "t.html"),
            *p,
        ],
        "map zones": ["map", "zones", "--out", str(tmp / "z.html")],
        "crimes match": ["crimes", "match", str(crimes), "--out", str(tmp / "cr"), "--no-maps", *p],
        "crimes check": [
            "crimes",
            "check",
            "--ref",
            "X1",
            "--lat",
            "53.8",
            "--lon",
            "-1.55",
            "--from",
            "2026-11-21T20:00:00Z",
            "--to",
            "2026-11-21T21:00:00Z",
            "--out",
            str(tmp / "cc"),
            "--no-maps",
            *p,
        ],
        "health": ["health"],
        "auditlog show": ["auditlog", "show"],
        "subject export": ["subject", "export", "S-0001", "--out", str(tmp / "x"), *p],
        "absences list": ["absences", "list", "S-0001"],
    }


def test_every_command_is_classified_and_every_consultation_logs(desk, tmp_path, capsys):
    _st, ids, db = desk
    words = {w for w, _ in leaves(build_parser())}
    assert words == set(COMMANDS)  # a new command must say what it consults
    cases = _cli_cases(tmp_path, ids["Leeds"][0])
    looks = {w for w, k in COMMANDS.items() if k is not None and k is not WRITE}
    assert looks == set(cases)
    for w, argv in cases.items():
        kind = COMMANDS[w]
        before = len(_rows(db, action=kind.action))
        code = main([*argv, "--db", str(db)])
        capsys.readouterr()
        assert code == 0, w
        got = _rows(db, action=kind.action)
        assert len(got) == before + 1, w
        assert got[0]["actor"].startswith("cli:") and "force-wide" in got[0]["detail"], w
        if kind.purpose:
            assert got[0]["purpose"] == "test of the log", w
    subjects = {r["action"]: r["subjects"] for r in _rows(db)}
    for action in ("view", "trail_map", "alert_map", "subject_export"):
        assert subjects[action] == "S-0001", action


def test_a_trail_a_crime_match_and_an_export_need_a_purpose(desk, tmp_path, capsys):
    _, ids, db = desk
    for argv in (["map", "trail", "S-0001", "--from", "2026-11-01", "--to", "2026-11-02"],
                 ["subject", "export", "S-0001", "--out", str(tmp_path)],
                 ["map", "alert", ids["Leeds"][0]]):  # fmt: skip
        with pytest.raises(SystemExit):
            main([*argv, "--db", str(db)])
        assert "--purpose" in capsys.readouterr().err
    assert main(["rejected", "--show-raw", "--db", str(db)]) == 2
    assert "--purpose" in capsys.readouterr().err
    assert main(["map", "trail", "S-0001", "--from", "2026-11-01", "--to", "2026-11-02",
                 "--purpose", "\u202eevil", "--db", str(db)]) == 2  # fmt: skip
    assert "U+202E" in capsys.readouterr().err


def test_a_refused_command_is_logged(desk, tmp_path, capsys):
    _, _, db = desk
    assert main(["alerts", "show", "C-0000000000000000", "--db", str(db)]) == 1
    (r,) = _rows(db, action="view")
    assert r["outcome"] == "refused" and r["target"] == "C-0000000000000000"


# ---------------------------------------------------------------------- scope
def test_the_tag_audit_is_for_supervisors_of_their_own_district(desk):
    _st, _ids, db = desk
    from geomonitor.app.audit.units import change

    # a tamper finding's ingredients for a Bradford unit would be Bradford's alone
    assert _client(db, "vic").get("/reports/audit").status_code == 403
    page = _client(db, "sam").get("/reports/audit").text
    assert "Leeds: summary" in page and "Bradford" not in page and "BUD-0002" not in page
    assert 'class="force"' not in page
    del change


def test_a_district_supervisor_reads_only_their_districts_audit_log(desk):
    st, ids, db = desk
    b = _client(db, "brad")
    b.get(f"/candidates/{ids['Bradford'][0]}")
    _client(db, "dana").get(f"/candidates/{ids['Leeds'][0]}")
    page = _client(db, "sam").get("/audit").text
    assert ids["Leeds"][0] in page and "dana" in page
    assert ids["Bradford"][0] not in page and ">brad<" not in page
    # a force-wide supervisor sees both
    from geomonitor.app.desk.accounts import add_user

    add_user(st, "chief", PASSWORD, "supervisor", "all", "cli:test", int(time.time() * 1000))
    page = _client(db, "chief").get("/audit").text
    assert ids["Bradford"][0] in page and ids["Leeds"][0] in page


def test_the_health_page_counts_only_the_districts_candidates(desk):
    st, ids, _db = desk
    from geomonitor.app.health import health

    now = int(time.time() * 1000)
    whole = health(st, 0, now + 1, now)
    leeds = health(st, 0, now + 1, now, LEEDS)
    assert whole.timeliness.candidates == len(ids["Leeds"]) + len(ids["Bradford"])
    assert leeds.timeliness.candidates == len(ids["Leeds"])


# ---------------------------------------------------------------------- the desk hardened
@pytest.fixture
def live(desk):
    """The desk served by uvicorn as `geomonitor desk` serves it (no trusted proxy)."""
    st, ids, db = desk
    with served(db) as (base, port):
        yield base, port, st, ids, db


def _login_form(c: httpx.Client, user: str, password: str, xff: str | None = None):
    page = c.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    headers = {"X-Forwarded-For": xff} if xff else {}
    return c.post("/login", data={"username": user, "password": password, "csrf": token},
                  headers=headers, cookies={"gm_login": token})  # fmt: skip


def test_x_forwarded_for_is_not_believed_and_does_not_dodge_the_limit(live):
    base, _, _st, _, db = live
    with httpx.Client(base_url=base) as c:
        codes = [_login_form(c, "dana", "wrong password!", f"10.0.0.{i}").status_code
                 for i in range(FREE_FAILURES + 2)]  # fmt: skip
    assert codes[:FREE_FAILURES] == [401] * FREE_FAILURES and codes[-1] == 429
    origins = {r["origin"] for r in _rows(db) if r["action"].startswith("login")}
    assert origins == {"127.0.0.1"}


def test_a_trusted_proxy_s_forwarded_address_is_recorded(desk, tmp_path):
    _st, _ids, db = desk
    cfg = server_config(db, "127.0.0.1", 0, ("127.0.0.1",))
    assert cfg.proxy_headers and cfg.forwarded_allow_ips == "127.0.0.1"
    assert not server_config(db, "127.0.0.1", 0).proxy_headers


def test_parallel_guesses_are_counted_before_the_password_is_checked(desk):
    _st, _, db = desk
    t0 = int(time.time() * 1000)

    def burst(n: int, at: int) -> list[str]:
        out: list[str] = []

        def one() -> None:
            with Store(db, create=False) as s:
                try:
                    authenticate(s, "dana", "not her password", "203.0.113.9", at)
                    out.append("ok")
                except TooManyAttempts:
                    out.append("throttled")
                except LoginRefused:
                    out.append("checked")

        ts = [threading.Thread(target=one) for _ in range(n)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        return out

    first = burst(12, t0)
    assert first.count("checked") == FREE_FAILURES and first.count("throttled") == 7
    # After the wait (2 s after the last checked attempt): one more, not 26 of 30
    second = burst(30, t0 + 2_000)
    assert second.count("checked") == 1 and second.count("throttled") == 29
    # Just before the wait is over: none
    assert burst(3, t0 + 2_000 + 3_999).count("checked") == 0


def test_one_names_failures_do_not_lock_out_anothers_correct_login(desk):
    st, _, _db = desk
    now = int(time.time() * 1000)
    for _ in range(FREE_FAILURES + 3):
        with pytest.raises((LoginRefused, TooManyAttempts)):
            login(st, "dana", "not her password", "198.51.100.7", now)
    assert login(st, "vic", PASSWORD, "198.51.100.7", now).user.username == "vic"
    with pytest.raises(TooManyAttempts):
        login(st, "dana", PASSWORD, "198.51.100.7", now)  # dana herself waits


def test_the_limits_per_name_from_anywhere_and_per_address_are_pinned(desk):
    """A name guessed from many addresses: checked up to NAME_FAILURES, then held; many
    names guessed from one address: checked up to ADDRESS_NAMES distinct names."""
    st, _, _ = desk
    now = int(time.time() * 1000)
    for i in range(NAME_FAILURES):  # one failure from each of 10 addresses: all checked
        with pytest.raises(LoginRefused):
            authenticate(st, "dana", "not her password", f"10.1.0.{i}", now)
    with pytest.raises(TooManyAttempts):  # the 11th, from yet another address
        authenticate(st, "dana", PASSWORD, "10.1.0.200", now)
    for i in range(ADDRESS_NAMES - 1):  # 9 names from one address: all checked
        with pytest.raises(LoginRefused):
            authenticate(st, f"nobody{i}", "a wrong password", "10.2.0.1", now)
    assert authenticate(st, "vic", PASSWORD, "10.2.0.1", now).username == "vic"  # 10th name
    with pytest.raises(LoginRefused):
        authenticate(st, "nobody9", "a wrong password", "10.2.0.1", now)
    with pytest.raises(TooManyAttempts):  # 10 distinct names failed from here: held
        authenticate(st, "sam", PASSWORD, "10.2.0.1", now)
    assert authenticate(st, "sam", PASSWORD, "10.2.0.2", now).username == "sam"


def test_a_mistyped_name_is_never_stored(desk):
    st, _, db = desk
    typed = "Tr0ub4dor&3-password"
    with pytest.raises(LoginRefused):
        login(st, typed, "x" * 12, "192.0.2.1", int(time.time() * 1000))
    st.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw = db.read_bytes() + (Path(str(db) + "-wal").read_bytes()
                             if Path(str(db) + "-wal").exists() else b"")  # fmt: skip
    assert typed.encode() not in raw and typed.lower().encode() not in raw
    (r,) = _rows(db, action="login_failed")
    assert r["actor"] == "(unknown name)" and r["outcome"] == "refused"


def test_an_unauthenticated_huge_body_is_refused_before_it_is_read(live):
    _base, port, *_ = live
    for path in ("/api/candidates/C-1/note", "/candidates/C-1/note"):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      f"Content-Length: {200 << 20}\r\n\r\n".encode())  # fmt: skip
            head = s.recv(4096).decode()  # answered with not one byte of the body sent
        assert head.startswith("HTTP/1.1 413"), head
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      "Content-Length: 10\r\n\r\n".encode())  # fmt: skip
            head = s.recv(4096).decode()  # no session cookie: refused unread
        assert head.startswith("HTTP/1.1 401"), head


def test_a_20_mib_note_is_refused_before_it_is_read(desk):
    _st, ids, db = desk
    c = _client(db, "dana")
    cid = ids["Leeds"][0]
    h = {"X-CSRF-Token": _csrf(c)}
    r = c.post(f"/api/candidates/{cid}/note", json={"text": "x" * (20 << 20)}, headers=h)
    assert r.status_code == 413
    r = c.post(f"/api/candidates/{cid}/note", json={"text": "x" * (MAX_BODY - 100)}, headers=h)
    assert r.status_code == 422
    assert r.json()["error"] == "text: String should have at most 4000 characters"

    # chunked (no length given): counted as it comes, refused past the limit
    def chunks():
        yield b'{"text": "'
        for _ in range(100):
            yield b"y" * 4096
        yield b'"}'

    r = c.post(f"/api/candidates/{cid}/note", content=chunks(),
               headers={**h, "Content-Type": "application/json"})  # fmt: skip
    assert r.status_code == 413


def test_a_disabled_account_s_sessions_end_and_never_come_back(desk):
    _st, _, db = desk
    dana = _client(db, "dana")
    assert dana.get("/api/session").status_code == 200
    sam = _client(db, "sam")
    tok = {"csrf": _csrf(sam)}
    assert sam.post("/accounts/dana/disable", data=tok, follow_redirects=False).status_code == 303
    assert dana.get("/api/session").status_code == 401
    assert sam.post("/accounts/dana/enable", data=tok, follow_redirects=False).status_code == 303
    assert dana.get("/api/session").status_code == 401  # her old session stays ended
    assert _client(db, "dana").get("/api/session").status_code == 200  # a new login works


def test_the_command_line_acts_as_an_account_only_with_its_password_or_a_bound_login(
    desk, monkeypatch, capsys
):
    st, ids, db = desk
    cid = ids["Leeds"][0]
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["alerts", "note", cid, "hello", "--as", "sam", "--db", str(db)]) == 2
    assert "needs its password" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("wrong password\n"))
    assert main(["alerts", "note", cid, "hello", "--as", "sam", "--password-stdin",
                 "--db", str(db)]) == 2  # fmt: skip
    assert "wrong user name or password" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["alerts", "note", cid, "hello", "--as", "sam", "--password-stdin",
                 "--db", str(db)]) == 0  # fmt: skip
    assert main(["users", "bind", "dana", "--db", str(db)]) == 0
    assert main(["alerts", "note", cid, "from dana", "--db", str(db)]) == 0  # bound: no --as
    assert [r["actor"] for r in st.review_history(cid)] == ["sam", "dana"]
    assert main(["alerts", "note", cid, "as sam", "--as", "sam", "--db", str(db)]) == 2


@pytest.mark.parametrize("bad", ["fine \u202e10", "nul\x00here", "bell\x07", "\u2066x\u2069"])
def test_bidi_controls_and_nul_in_free_text_are_refused(desk, bad):
    st, ids, db = desk
    c = _client(db, "dana")
    cid = ids["Leeds"][0]
    r = c.post(f"/api/candidates/{cid}/note", json={"text": bad},
               headers={"X-CSRF-Token": _csrf(c)})  # fmt: skip
    assert r.status_code == 422 and "control character U+" in r.json()["error"]
    assert r.json()["error"].startswith("text: ") and bad not in r.json()["error"]
    assert st.review_history(cid) == []
    r = c.post(f"/candidates/{cid}/note", data={"text": bad, "csrf": _csrf(c)})  # the form
    assert r.status_code == 422 and "control character U+" in r.json()["error"]
    assert st.review_history(cid) == []
    with pytest.raises(ValueError, match=r"control character U\+"):  # and in the workflow
        free_text(bad, "text", 100)
    r = c.post(f"/api/candidates/{cid}/note", json={"text": "two lines\nand a\ttab"},
               headers={"X-CSRF-Token": _csrf(c)})  # fmt: skip
    assert r.status_code == 200


def test_a_non_ascii_csrf_token_is_403_not_500(desk):
    _, ids, db = desk
    c = _client(db, "dana")
    r = c.post(f"/api/candidates/{ids['Leeds'][0]}/ack", json={},
               headers={"X-CSRF-Token": ("é" * 43).encode()})  # fmt: skip
    assert r.status_code == 403
    r = c.post(f"/candidates/{ids['Leeds'][0]}/ack", data={"csrf": "\u202e\U0001f600"})
    assert r.status_code == 403


# ---------------------------------------------------------------------- the log shows tampering
def test_the_log_verifies_and_shows_an_edit_a_rehash_a_deletion_and_a_cut(desk, capsys):
    st, ids, db = desk
    for cid in ids["Leeds"]:
        _client(db, "dana").get(f"/candidates/{cid}")
    assert main(["auditlog", "verify", "--db", str(db)]) == 0
    assert "intact" in capsys.readouterr().out
    n = st.db.execute("SELECT MAX(seq) FROM audit_log").fetchone()[0]
    st.close()  # the last connection: the write-ahead log is folded into the file
    raw = db.read_bytes()

    def restore() -> None:
        for extra in ("-wal", "-shm"):
            Path(str(db) + extra).unlink(missing_ok=True)
        db.write_bytes(raw)

    def tampered(sql: list[str]) -> str:
        restore()
        x = sqlite3.connect(db)
        x.execute("DROP TRIGGER audit_log_append_only")
        x.execute("DROP TRIGGER audit_log_no_delete")
        for q in sql:
            x.execute(q)
        x.commit()
        x.close()
        assert main(["auditlog", "verify", "--db", str(db)]) == 1
        return capsys.readouterr().out

    # the last rows deleted: the chain alone still links, the checkpoint does not
    out = tampered([f"DELETE FROM audit_log WHERE seq > {n - 2}"])
    assert f"BROKEN at row {n - 1} (" in out and "rows were removed" in out
    # a row deleted in the middle
    assert "rows 3 to 3 are missing" in tampered(["DELETE FROM audit_log WHERE seq = 3"])
    # an edit, and then every hash recomputed without the key (SHA-256, as before)
    out = tampered(["UPDATE audit_log SET actor='someone else' WHERE seq = 4"])
    assert "row 4 was changed" in out
    restore()
    x = sqlite3.connect(db)
    x.execute("DROP TRIGGER audit_log_append_only")
    x.execute("UPDATE audit_log SET actor='someone else' WHERE seq = 4")
    prev = GENESIS
    cols = ("seq, at, actor, action, target, origin, detail, purpose, outcome, district, "
            "subjects")  # fmt: skip
    for row in x.execute(f"SELECT {cols} FROM audit_log ORDER BY seq").fetchall():
        text = "\x1f".join("" if v is None else str(v) for v in (prev, *row))
        h = hashlib.sha256(text.encode()).hexdigest()
        x.execute("UPDATE audit_log SET prev_hash=?, hash=? WHERE seq=?", (prev, h, row[0]))
        prev = h
    x.commit()
    x.close()
    assert main(["auditlog", "verify", "--db", str(db)]) == 1
    out = capsys.readouterr().out  # the first row no longer verifies under the key
    assert "BROKEN at row 1 (" in out and "row 1 was changed" in out
    # a forged checkpoint line is not signed by the key
    restore()
    with checkpoint_path(db).open("a") as f:
        f.write('{"seq": 999, "hash": "00", "mac": "00"}\n')
    assert main(["auditlog", "verify", "--db", str(db)]) == 1
    assert "not signed by the log's key" in capsys.readouterr().out


def test_the_log_is_searched_by_whole_ids(desk):
    st, _, _ = desk
    st.audit(1, "a", "view", None, "cli", district="E08000035", subjects=["S-0001", "S-00010"])
    st.audit(2, "a", "view", None, "cli", district="E0800003X", subjects=["SX0001"])
    assert [r["at"] for r in st.audit_log(subject="S-0001")] == [1]
    assert [r["at"] for r in st.audit_log(subject="S_0001")] == []  # no wildcard
    assert [r["at"] for r in st.audit_log(subject="S-00010")] == [1]
    assert [r["at"] for r in st.audit_log(district="E0800003_")] == []
    assert [r["at"] for r in st.audit_log(district="E0800003X")] == [2]


def test_a_row_rewritten_with_the_key_breaks_the_link_to_the_next(desk, capsys):
    """Someone holding the key rewrites row 2 and signs it again: its own hash verifies, so
    only the next row's link to it shows the change."""
    from geomonitor.store.auditlog import SIGNED, row_mac

    st, ids, db = desk
    for cid in ids["Leeds"]:
        _client(db, "dana").get(f"/candidates/{cid}")
    key = st.audit_key()
    cols = ", ".join(("seq", *SIGNED))
    row = st.db.execute(f"SELECT {cols}, prev_hash FROM audit_log WHERE seq = 2").fetchone()
    forged = (row[0], *row[1 : len(SIGNED) + 1])
    forged = (forged[0], forged[1], "someone else", *forged[3:])  # the actor changed
    h = row_mac(key, row[-1], forged)
    st.db.execute("DROP TRIGGER audit_log_append_only")
    st.db.execute("UPDATE audit_log SET actor='someone else', hash=? WHERE seq = 2", (h,))
    st.db.commit()
    v = st.audit_verify()
    assert not v.ok and v.broken_at == 3
    assert "row 3 does not follow row 2" in v.problems[0]
