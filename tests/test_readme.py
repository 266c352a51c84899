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
