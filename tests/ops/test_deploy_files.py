"""The deploy files: the Dockerfile and compose file say what a container needs, and the
Procfile's and render.yaml's commands, run exactly as written, start a server that answers
its health check and says where its state lives."""
from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _procfile_web() -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith("web:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError("no web process in the Procfile")


def test_the_image_runs_the_procfile_command_as_a_user_with_a_volume() -> None:
    steps = _dockerfile()
    kinds = [k for k, _ in steps]
    assert kinds[0] == "FROM" and "slim" in steps[0][1]
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(a for k, a in steps if k == "ENV")))
    words = shlex.split(_procfile_web())
    assignments = dict(w.split("=", 1) for w in words if re.fullmatch(r"\w+=.*", w))
    command = [w for w in words if not re.fullmatch(r"\w+=.*", w)]
    cmd = json.loads(next(a for k, a in steps if k == "CMD"))
    assert cmd == command  # the Procfile's command …
    assert all(env.get(k) == v for k, v in assignments.items())  # … with its environment
    user = next(a for k, a in steps if k == "USER")
    assert user not in ("root", "0")
    assert env["DATA_DIR"] in json.loads(next(a for k, a in steps if k == "VOLUME"))
    assert "/healthz" in next(a for k, a in steps if k == "HEALTHCHECK")
    for source in (a.split()[0] for k, a in steps if k == "COPY"):
        assert (ROOT / source).exists(), source
    # the install needs only what is copied: the package folders pyproject names
    include = re.search(r'include = \[(.*?)\]', (ROOT / "pyproject.toml").read_text()).group(1)
    copied = {a.split()[0] for k, a in steps if k == "COPY"}
    assert {p.strip('" *') for p in include.split(",")} <= copied


def test_compose_runs_the_image_with_a_volume_and_optional_databases() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    gateway = compose["services"]["grok2api"]
    assert gateway["build"] == "." and "profiles" not in gateway
    assert any(v.endswith(":/data") for v in gateway["volumes"])
    assert int(gateway["stop_grace_period"].rstrip("s")) > 25  # Hypercorn's graceful stop
    assert compose["services"]["postgres"]["profiles"] == ["postgres"]
    assert compose["services"]["redis"]["profiles"] == ["redis"]
    # nothing sets a setting to an empty string behind the operator's back
    assert not [k for k in gateway["environment"] if k.startswith("GROK_")]


def test_buildpacks_find_a_python_app() -> None:
    lines = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    assert [line for line in lines if line and not line.startswith("#")] == ["."]
    version = (ROOT / ".python-version").read_text().strip()
    floor = re.search(r'requires-python = ">=(\d+\.\d+)"',
                      (ROOT / "pyproject.toml").read_text()).group(1)
    assert tuple(map(int, version.split("."))) >= tuple(map(int, floor.split(".")))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run_exactly(command: str, tmp_path: Path) -> str:
    """Run `command` through bash as the platform would, with $PORT, until /healthz
    answers; stop it with SIGTERM and return what it printed."""
    port = _free_port()
    bin_dir = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GROK_", "SERVER_")) and k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(PORT=str(port), DATA_DIR=str(tmp_path / "data"),
               PATH=bin_dir + os.pathsep + env.get("PATH", ""))
    proc = subprocess.Popen(["bash", "-c", command], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.stdout.read().decode()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, "the server did not come up"
                time.sleep(0.2)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output.decode()
    return output.decode()


@pytest.mark.parametrize("source", ["Procfile", "render.yaml"])
def test_the_platform_command_serves_and_says_where_state_lives(source: str,
                                                                tmp_path: Path) -> None:
    if source == "Procfile":
        command = _procfile_web()
    else:
        service = yaml.safe_load((ROOT / "render.yaml").read_text())["services"][0]
        command = service["startCommand"]
        assert service["healthCheckPath"] in ("/health", "/healthz", "/readyz")
    output = _run_exactly(command, tmp_path)
    assert f"state: accounts and keys in SQLite {tmp_path / 'data' / 'accounts.db'}" in output
