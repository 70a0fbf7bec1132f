"""A gateway and a simulator as a user runs them: two `grok2api` processes on loopback ports,
each with its own data directory, for the browser tests to drive."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ADMIN_SECRET", "Live", "start_live"]

ADMIN_SECRET = "browser-test-secret-0123"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from ops.cli import main; main()", *args]


def _wait_up(url: str, proc: subprocess.Popen, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up:\n{log.read_text()[-3000:]}")


@dataclass
class Live:
    url: str
    sim_url: str
    data_dir: Path
    tokens: list[str]
    secret: str | None
    procs: list[subprocess.Popen] = field(default_factory=list)

    def call(self, method: str, path: str, body: Any = None, *,
             secret: str | None = None) -> tuple[int, Any]:
        """The admin (or any) API with the admin secret as Bearer: what a script sees, to
        check what the pages show."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {secret or self.secret}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as answer:
                raw = answer.read()
                status = answer.status
        except urllib.error.HTTPError as err:
            raw, status = err.read(), err.code
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode("utf-8", "replace")

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        status, payload = self.call(method, "/admin/api" + path, body)
        assert status == 200, (status, payload)
        return payload

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def start_live(data_dir: Path, *, secret: str | None = ADMIN_SECRET, tokens: int = 6,
               tier: str = "super", env: dict[str, str] | None = None) -> Live:
    """Start the simulator with `tokens` accounts and a gateway that holds them. `secret`
    goes into the config file (None keeps the shipped default: the first-run setup)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    names = [f"browser-sso-token-{i:03d}-" + "x" * 40 for i in range(tokens)]
    token_file = data_dir / "sim-tokens.txt"
    token_file.write_text("\n".join(names) + "\n")
    sim_port, port = free_port(), free_port()
    sim_url, url = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{port}"
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("GROK_")}
    sim_log = data_dir / "simulator.log"
    sim = subprocess.Popen(_cli("simulate", "--port", str(sim_port), "--tier", tier, "--quiet",
                                "--tokens-file", str(token_file)),
                           stdout=sim_log.open("wb"), stderr=subprocess.STDOUT, env=base_env)
    gw_dir = data_dir / "gateway"
    gw_dir.mkdir(exist_ok=True)
    if secret is not None:
        (gw_dir / "config.toml").write_text(f'[app]\napp_key = "{secret}"\n')
    gw_env = {**base_env, "DATA_DIR": str(gw_dir), "PORT": str(port), "SERVER_HOST": "127.0.0.1",
              "GROK_UPSTREAM_BASE_URL": sim_url, "GROK_UPSTREAM_ASSETS_URL": sim_url,
              "GROK_UPSTREAM_ACCOUNTS_URL": sim_url, **(env or {})}
    gw_env.pop("DATABASE_URL", None)
    gw_env.pop("REDIS_URL", None)
    if tokens:
        subprocess.run(_cli("accounts", "import", str(token_file), "--pool", tier), env=gw_env,
                       check=True, capture_output=True)
    gw_log = data_dir / "gateway.log"
    gateway = subprocess.Popen(_cli("serve"), stdout=gw_log.open("wb"), stderr=subprocess.STDOUT,
                               env=gw_env)
    live = Live(url, sim_url, gw_dir, names, secret, [gateway, sim])
    try:
        _wait_up(sim_url + "/__sim/tokens", sim, sim_log)
        _wait_up(url + "/healthz", gateway, gw_log)
    except Exception:
        live.stop()
        raise
    return live
