"""The desk's API as documented (issue 29): schemathesis, the property-based API tester,
runs against the OpenAPI document of a desk served on 127.0.0.1, logged in as a real
supervisor, with every check on, a fixed seed and a bounded number of examples. It fails
on any server error, any answer the document does not list, any request the document
allows that is refused as malformed, and any Allow header that does not list what a path
supports. Ids of real candidates, subjects and accounts are offered to it, so that it
reaches the workflow itself and not only "not found"."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx
import pytest

from geomonitor.store.domain import Store

from .desk_fixtures import PASSWORD, desk_store, served

EXAMPLES = 25
SEED = 20261203


@pytest.fixture
def desk(tmp_path):
    st, ids = desk_store(tmp_path / "d.db")
    st.close()
    with served(tmp_path / "d.db") as (base, _):
        yield base, ids, tmp_path / "d.db"


def _login(base: str, user: str) -> tuple[str, str]:
    """A real session: the cookie and its CSRF token."""
    with httpx.Client(base_url=base) as c:
        token = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
        c.cookies.set("gm_login", token)
        r = c.post("/login", data={"username": user, "password": PASSWORD, "csrf": token})
        assert r.status_code == 303
        cookie = re.search(r"gm_session=([^;]+)", r.headers["set-cookie"]).group(1)
        c.cookies.set("gm_session", cookie)
        csrf = c.get("/api/session").json()["csrf"]
    return cookie, csrf


def test_schemathesis_finds_nothing_against_the_documented_api(desk, tmp_path):
    base, ids, db = desk
    cookie, csrf = _login(base, "sam")
    config = tmp_path / "schemathesis.toml"
    values = {
        "cids": [*ids["Leeds"], *ids["Bradford"]],
        "sids": ["S-0001", "S-0002"],
        "users": ["dana", "vic", "sam", "brad"],
    }
    lines = [f'[auth.openapi.session]\napi_key = "{cookie}"',
             f'[auth.openapi.csrf]\napi_key = "{csrf}"']  # fmt: skip
    lines += [f"[dictionaries.{k}]\nvalues = {json.dumps(v)}" for k, v in values.items()]
    lines.append("[parameters]")
    for param, d in (("cid", "cids"), ("sid", "sids"), ("username", "users")):
        lines.append(f'"path.{param}" = {{ dictionary = "{d}", probability = 0.7 }}')
    config.write_text("\n".join(lines) + "\n")
    st = Path(sys.executable).parent / "st"
    run = subprocess.run(
        [str(st), "--config-file", str(config), "run", f"{base}/api/openapi.json",
         "--checks", "all", "--max-examples", str(EXAMPLES), "--seed", str(SEED),
         "--workers", "1",
         # logging out would end the tester's own session halfway
         "--exclude-path", "/logout"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-6000:]
    assert re.search(r"(\d+) generated, \1 passed", out), out[-3000:]
    assert "Tested: 21" in out  # every operation but the logout
    with Store(db, create=False) as st:  # it reached the workflow, not only "not found"
        done = {(r["action"], r["outcome"]) for r in st.audit_log(100_000) if r["actor"] == "sam"}
    assert {("view", "ok"), ("api_view", "ok"), ("view_subject", "ok")} <= done
    assert {a for a, o in done if o == "ok"} & {"acknowledge", "note", "decide", "reopen"}


def test_allow_lists_every_method_a_path_supports(tmp_path):
    from fastapi.testclient import TestClient

    from geomonitor.app.desk.web import create_app

    st, ids = desk_store(tmp_path / "d.db")
    st.close()
    c = TestClient(create_app(tmp_path / "d.db"), base_url="https://testserver")
    cid = ids["Leeds"][0]
    for path, allow in (("/accounts", "GET, POST"), ("/login", "GET, POST"),
                        (f"/candidates/{cid}/map", "GET"), (f"/candidates/{cid}/note", "POST"),
                        ("/api/session", "GET")):  # fmt: skip
        r = c.options(path)
        assert r.status_code == 405 and r.headers["Allow"] == allow, path
    # a word that is not an action is no route at all: a page, not a server error
    assert c.post(f"/candidates/{cid}/map", data={}).status_code == 401  # no session: unread
    page = c.get("/login").text
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    c.post("/login", data={"username": "dana", "password": PASSWORD, "csrf": token})
    r = c.post(f"/candidates/{cid}/map", data={})
    assert r.status_code == 405 and r.headers["Allow"] == "GET"
    r = c.get("/candidates/x/y/z")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    r = c.get("/api/nothing")
    assert r.status_code == 404 and r.json() == {"error": "Not Found"}


def test_malformed_bodies_get_a_documented_one_line_4xx(tmp_path):
    """Bytes that are no JSON, a form that is no form, a body too large: each a 4xx the
    document lists for the operation, with one line saying why; never a server error."""
    from fastapi.testclient import TestClient

    from geomonitor.app.desk.web import create_app

    st, ids = desk_store(tmp_path / "d.db")
    st.close()
    c = TestClient(create_app(tmp_path / "d.db"), base_url="https://testserver",
                   raise_server_exceptions=False)  # fmt: skip
    doc = c.get("/api/openapi.json").json()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if path != "/api/openapi.json":
                assert {"400", "401", "413", "422"} <= set(op["responses"]), (method, path)
    token = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
    c.post("/login", data={"username": "dana", "password": PASSWORD, "csrf": token})
    csrf = c.get("/api/session").json()["csrf"]
    cid = ids["Leeds"][0]
    h = {"X-CSRF-Token": csrf, "Content-Type": "application/json"}
    for body in (b"\xff\xfe\x00", b"{", b"[1, 2]", b'{"text": 12}', b"\x00" * 100):
        r = c.post(f"/api/candidates/{cid}/note", content=body, headers=h)
        assert r.status_code in (400, 422), body
        assert list(r.json()) == ["error"] and "\n" not in r.json()["error"], body
    r = c.post(f"/candidates/{cid}/note", content=b"text=%ff%fe&csrf=" + csrf.encode(),
               headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert r.status_code < 500


def test_a_force_wide_curfew_map_without_a_district_offers_the_districts(tmp_path):
    from fastapi.testclient import TestClient

    from geomonitor.app.desk.accounts import add_user
    from geomonitor.app.desk.web import create_app

    st, _ = desk_store(tmp_path / "d.db")
    add_user(st, "chief", PASSWORD, "supervisor", "all", "cli:test", int(time.time() * 1000))
    st.close()
    c = TestClient(create_app(tmp_path / "d.db"), base_url="https://testserver")
    token = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
    c.post("/login", data={"username": "chief", "password": PASSWORD, "csrf": token})
    r = c.get("/maps/curfew")
    assert r.status_code == 200
    links = re.findall(r'href="(/maps/curfew\?district=[^"]+)"', r.text)
    assert links == ["/maps/curfew?district=Bradford", "/maps/curfew?district=Leeds"]
    assert c.get(links[1]).status_code == 200
    assert c.get("/maps/curfew?district=Nowhere").status_code == 404
