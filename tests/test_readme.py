"""Every command the README shows runs, as written, on the store and files `geomonitor demo`
leaves, and shows something: a listing that is not empty, a map with someone in it, a crime
check with a hit. A new user copies these lines first; an example that finds nothing tells
them the tool does not work.
"""

from __future__ import annotations

import getpass
import io
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from geomonitor.app.cli import main
from geomonitor.app.demo import run_demo

README = Path(__file__).resolve().parents[1] / "README.md"
PASSWORD = "a long enough desk password"

#: commands shown but not run here, and where they are run against the real thing
NOT_RUN = {
    "produce": "needs a Kafka broker: tests/io/test_kafka.py runs it on one",
    "consume": "needs a Kafka broker: tests/io/test_kafka.py runs it on one",
    "notify": "needs a mail server: tests/app/test_notify.py runs it on one",
}

#: words that say an example found nothing
NOTHING = (
    "no candidates", "no candidate ", "no fixes", "no events", "no rejected", "nothing to",
    "no tags", "no accounts", "0 to visit", "the tag was silent", "no rows",
)  # fmt: skip


def readme_commands(text: str) -> list[str]:
    """The `geomonitor ...` lines of the README's shell blocks, continuations joined."""
    out = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip()
            if re.match(r"^(export \w+=|(\w+=\S+ )?geomonitor )", line):
                out.append(line)
    return out


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("readme")
    assert run_demo(d / "demo-output") == 0
    return d


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve_desk(argv: list[str], env: dict[str, str], cwd: Path) -> str:
    """Start `geomonitor desk` as the README says, on a free port; the login page it serves."""
    port = _free_port()
    cmd = [sys.executable, "-m", "geomonitor.app.cli", *argv, "--port", str(port)]
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)  # fmt: skip
    try:
        for _ in range(150):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2) as r:
                    return str(r.read().decode())
            except OSError:
                if proc.poll() is not None:
                    return f"exited {proc.returncode}: {proc.stdout.read().decode()}"  # type: ignore[union-attr]
                time.sleep(0.2)
        return "the desk did not answer"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _shows_something(argv: list[str], out: str, cwd: Path) -> str | None:
    """What is wrong with a command's output, or None."""
    low = out.lower()
    if not out.strip():
        return "printed nothing"
    hit = next((w for w in NOTHING if w in low), None)
    if hit:
        return f"says {hit!r}"
    if argv[:2] == ["map", "curfew"]:
        html = (cwd / re.findall(r"\S+\.html", out)[-1]).read_text()
        placed = re.findall(
            r'<td><span class="gm-status" style="[^"]*">(home|away|not sure)<', html
        )
        if not placed:
            return "a curfew map where the tag placed nobody (all no signal)"
    if argv[:2] == ["map", "trail"]:
        html = (cwd / re.findall(r"\S+\.html", out)[-1]).read_text()
        if "fixes" not in html or "no fixes" in html:
            return "a trail with no fixes"
    if argv[:2] == ["crimes", "check"]:
        summary = json.loads((cwd / "crime-13-1234" / "summary.json").read_text())
        if not summary["results"][0]["hits"]:
            return "no subject was there"
    return None


def test_every_readme_command_runs_on_the_demo_and_shows_something(demo_dir, monkeypatch, capsys):
    monkeypatch.chdir(demo_dir)
    me = getpass.getuser()
    monkeypatch.setenv("USER", me)
    monkeypatch.delenv("GEOMONITOR_USER", raising=False)
    lines = readme_commands(README.read_text(encoding="utf-8"))
    ran, skipped, problems = [], set(), []
    for line in lines:
        words = shlex.split(os.path.expandvars(line), comments=True)
        if words[0] == "export":
            name, value = words[1].split("=", 1)
            monkeypatch.setenv(name, value)
            continue
        while "=" in words[0]:
            name, value = words.pop(0).split("=", 1)
            monkeypatch.setenv(name, value)
        argv = words[1:]
        if argv[0] in NOT_RUN:
            skipped.add(argv[0])
            continue
        if argv[0] == "desk":
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
            page = _serve_desk(argv, env, demo_dir)
            if "password" not in page.lower():
                problems.append(f"{line}: {page[:200]}")
            ran.append(line)
            continue
        if argv[:2] == ["users", "add"]:
            argv.append("--password-stdin")
            monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
        code = main(argv)
        cap = capsys.readouterr()
        ran.append(line)
        if code != 0:
            problems.append(f"{line}: exit {code}: {cap.err.strip()[:300]}")
            continue
        wrong = _shows_something(argv, cap.out, demo_dir)
        if wrong:
            problems.append(f"{line}: {wrong}:\n{cap.out[:600]}")
    assert skipped == set(NOT_RUN), "a command NOT_RUN names is no longer in the README"
    assert len(ran) >= 45, ran
    assert not problems, "\n\n".join(problems)


def test_on_the_demo_store_camera_reads_carry_their_times_and_a_tamper_map_is_not_at_2_m(
    demo_dir, tmp_path
):
    from geomonitor.app.maps.alert import alert_map
    from geomonitor.store.domain import Store

    from .browser import chrome, map_zoom

    with Store(demo_dir / "demo-output" / "geomonitor.db") as st:
        cands = st.candidates()
        vehicle = next(c for c in cands if c.kind == "undeclared_vehicle")
        tamper = next(c for c in cands if c.kind == "strap_tamper")
        html = alert_map(st, vehicle.id, tmp_path / "v.html", offline=True).read_text()
        labels = re.findall(r"ANPR (\d\d:\d\d)\\u003c", html)
        assert len(labels) == sum(r.startswith("ANPR:") for r in vehicle.evidence), labels
        reads = html.split('class="gm-reads"')[1].split("</table>")[0]
        assert len(re.findall(r"<td>\w{3} \d\d \w{3} 2026 \d\d:\d\d:\d\d GMT</td>", reads)) == len(
            labels
        )
        tamper_map = alert_map(st, tamper.id, tmp_path / "t.html", offline=True)
    b = chrome(offline=True)
    try:
        b.set_window_size(1200, 800)
        b.get(tamper_map.as_uri())
        time.sleep(1.0)
        zoom = map_zoom(b)
        assert zoom <= 17, zoom  # a few fixes at one spot: a street's scale, not 2 m
    finally:
        b.quit()


def test_on_the_demo_store_what_people_read_is_in_local_time_and_names(demo_dir, monkeypatch,
                                                                      capsys):  # fmt: skip
    monkeypatch.chdir(demo_dir)
    db = ["--db", "demo-output/geomonitor.db"]
    assert main(["devices", "--kind", "no_contact", *db]) == 0
    out = capsys.readouterr().out
    assert "curfew_nights=" not in out and "Z'" not in out
    assert re.search(r"curfew nights \w{3} \d\d \w{3} 2026 22:00 GMT", out), out
    assert main(["registry", "history", "--limit", "0", *db]) == 0
    out = capsys.readouterr().out
    assert not re.search(r"BUD-\d+@\d+", out) and "fitted Mon 19 Oct 2026 01:00 BST" in out
    assert re.search(r"version 1  loaded \w{3} \d\d \w{3} \d{4} \d\d:\d\d (GMT|BST)  from", out)
    assert main(["tags", "history", "BUD-0001", *db]) == 0
    out = capsys.readouterr().out
    assert "Bradford" in out and "E08000032" not in out
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["users", "add", "lee", "--role", "desk", "--district", "Leeds",
                 "--password-stdin", *db]) == 0  # fmt: skip
    assert main(["users", "list", *db]) == 0
    out = capsys.readouterr().out
    assert re.search(r"lee +desk +Leeds ", out) and "E08000035" not in out
    cid = "C-9be4e09432b1bb5e"
    assert main(["alerts", "history", cid, *db]) == 0
    out = capsys.readouterr().out  # the episode in event time (November), recorded later
    assert re.match(r"Mon 16 Nov 2026 18:13 GMT  opened +\(recorded \w{3} \d\d \w{3} 2026", out)
