"""`grok2api bench`: the gateway against the simulator alone (and, with `--floor`, against
a minimal converter of our own, bench_floor.py; with `--stack-floor`, against the same
converter on the gateway's stack, bench_floor_stack.py), same load, one run.

The simulator, the gateway and the load generator are three separate processes (see
bench_load.py for the generator); this process only orchestrates and samples the
gateway's (and the floors') CPU and RSS with psutil. Every child is killed on the way out, also on Ctrl-C.
"""
from __future__ import annotations

import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import click
import orjson
import psutil

from ops.bench_media import MEDIA_SCENARIOS, render_media, run_media
from ops.bench_report import ratios, render, summarize

PROJECT_ROOT = Path(__file__).resolve().parents[1]
#: managed client keys the `nonstream-keys` scenario spreads its clients over
BENCH_KEYS = 50
#: keyed phases of `nonstream-keys`, each between two open-mode phases
KEY_ROUNDS = 3
HOST = "127.0.0.1"


class BenchError(RuntimeError):
    """The bench itself broke (a child died, did not start, or overran its time)."""


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    stream: bool
    concurrency: int
    tokens: int
    delay_ms: int = 0
    rounds: int = 1  # stream scenarios: streams per client
    duration: float = 0.0  # > 0: clients loop for this long instead of `rounds`
    ramp: float = 0.0  # client i sends its first request at ramp * i / concurrency seconds
    timeout: float = 120.0  # per request
    keys: bool = False  # gateway clients use the stack's managed keys (one each, in turn)
    burst: bool = False  # every stream opened at the same instant (--ramp and --rounds do not apply)


SCENARIOS: dict[str, Scenario] = {
    "nonstream": Scenario("nonstream", False, 32, 50, duration=10.0),
    # the nonstream load spread over BENCH_KEYS managed client keys, KEY_ROUNDS times, each
    # against the same load in open mode right before and after it (duration: per phase)
    "nonstream-keys": Scenario("nonstream-keys", False, 32, 50, duration=5.0, keys=True),
    "stream200": Scenario("stream200", True, 200, 200, delay_ms=10, rounds=2),
    "stream500": Scenario("stream500", True, 500, 200, delay_ms=10, rounds=2),
    "stream1000": Scenario("stream1000", True, 1000, 200, delay_ms=10, rounds=2),
    # what a user sees when many clients start at once: the admission of the whole burst
    # queues on one event loop, which a ramp hides
    "stream200-burst": Scenario("stream200-burst", True, 200, 200, delay_ms=10, burst=True),
    "stream1000-burst": Scenario("stream1000-burst", True, 1000, 200, delay_ms=10, burst=True),
}
#: the sides of a scenario, in the order they run (a floor only when asked for)
SIDES = ("gateway", "floor", "stack", "simulator")
#: the minimal converters: side → module (each run as `python -m MODULE PORT UPSTREAM TOKENS_FILE`)
FLOORS = {"floor": "ops.bench_floor", "stack": "ops.bench_floor_stack"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def raise_fd_limit(want: int = 65536) -> None:
    """Room for 1,000+ sockets on each side; children inherit the limit."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def _get(url: str, timeout: float = 2.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback only
        return resp.read()


class Stack:
    """Simulator, gateway and the floors asked for, as child processes in a temp dir;
    `close()` kills them all."""

    def __init__(self, workdir: Path, accounts: int, max_inflight: int, floors: tuple[str, ...] = ()) -> None:
        self.workdir, self.accounts, self.max_inflight = workdir, accounts, max_inflight
        #: the minimal converters (FLOORS) also run, each on its own port
        self.floor_ports = {side: free_port() for side in floors}
        self.floor_procs: dict[str, subprocess.Popen[bytes]] = {}
        self.floor_ps: dict[str, psutil.Process] = {}
        self.tokens = [f"bench-heavy-{i:03d}" for i in range(accounts)]
        self.procs: list[subprocess.Popen[bytes]] = []
        self.env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))}
        self.sim_port, self.gw_port = free_port(), free_port()
        self.admin_key = "bench-admin-" + os.urandom(12).hex()
        self.api_keys: list[str] = []

    def _spawn(self, args: list[str], log: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
        out = open(self.workdir / log, "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen([sys.executable, "-m", *args], cwd=self.workdir, env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        out.close()
        self.procs.append(proc)
        return proc

    def _wait(self, proc: subprocess.Popen[bytes], url: str, what: str, log: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise BenchError(f"{what} exited with {proc.returncode}:\n{self.log_tail(log)}")
            try:
                _get(url)
                return
            except OSError:
                time.sleep(0.1)
        raise BenchError(f"{what} not ready after {timeout:.0f} s:\n{self.log_tail(log)}")

    def log_tail(self, log: str, lines: int = 20) -> str:
        path = self.workdir / log
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def start(self) -> None:
        tokens_file = self.workdir / "tokens.txt"
        tokens_file.write_text("\n".join(self.tokens) + "\n")
        self.sim = self._spawn(["ops.cli", "simulate", "--host", HOST, "--port", str(self.sim_port),
                                "--no-quota", "--tier", "heavy", "--tokens-file", str(tokens_file),
                                "--quiet"], "simulator.log", self.env)
        data_dir = self.workdir / "data"
        gw_env = {**self.env, "DATA_DIR": str(data_dir), "SERVER_HOST": HOST, "SERVER_PORT": str(self.gw_port),
                  "SERVER_WORKERS": "1", "LOG_LEVEL": "WARNING",
                  "GROK_UPSTREAM_BASE_URL": f"http://{HOST}:{self.sim_port}",
                  "GROK_UPSTREAM_ASSETS_URL": f"http://{HOST}:{self.sim_port}",
                  "GROK_ACCOUNT__SELECTION__MAX_INFLIGHT": str(self.max_inflight),
                  "GROK_APP_APP_KEY": self.admin_key}
        done = subprocess.run([sys.executable, "-m", "ops.cli", "accounts", "import", str(tokens_file),
                               "--pool", "heavy"], cwd=self.workdir, env=gw_env, capture_output=True, timeout=120)
        if done.returncode:
            raise BenchError(f"accounts import failed: {done.stderr.decode(errors='replace')}")
        self.gateway = self._spawn(["ops.cli", "serve"], "gateway.log", gw_env)
        self._wait(self.sim, f"http://{HOST}:{self.sim_port}/__sim/stats", "simulator", "simulator.log")
        self._wait(self.gateway, f"http://{HOST}:{self.gw_port}/health", "gateway", "gateway.log")
        self.gw_ps, self.sim_ps = psutil.Process(self.gateway.pid), psutil.Process(self.sim.pid)
        for side, port in self.floor_ports.items():
            proc = self._spawn([FLOORS[side], str(port), f"http://{HOST}:{self.sim_port}", str(tokens_file)],
                               f"{side}.log", self.env)
            self._wait(proc, f"http://{HOST}:{port}/health", side, f"{side}.log")
            self.floor_procs[side], self.floor_ps[side] = proc, psutil.Process(proc.pid)

    def port(self, side: str) -> int:
        return {"gateway": self.gw_port, "simulator": self.sim_port, **self.floor_ports}[side]

    def converter(self, side: str) -> psutil.Process | None:
        """The process whose CPU and RSS a side's figures report (none for the simulator)."""
        return {"gateway": self.gw_ps, **self.floor_ps}.get(side)

    def _admin(self, path: str, body: dict[str, Any]) -> None:
        req = urllib.request.Request(f"http://{HOST}:{self.gw_port}/admin/api/{path}",
                                     data=orjson.dumps(body), method="POST", headers={
                                         "Authorization": f"Bearer {self.admin_key}",
                                         "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10):  # noqa: S310 - loopback only
            pass

    def create_keys(self, count: int) -> None:
        """`count` managed client keys through the admin API (each unlimited)."""
        for i in range(count):
            key = f"sk-bench-{i:03d}-{os.urandom(8).hex()}"
            self._admin("keys", {"key": key, "name": f"bench-{i:03d}"})
            self.api_keys.append(key)

    def delete_keys(self) -> None:
        """Back to open mode."""
        for key in self.api_keys:
            self._admin("keys/delete", {"key": key})
        self.api_keys = []

    def check_alive(self) -> None:
        procs = [(self.sim, "simulator"), (self.gateway, "gateway"),
                 *((proc, side) for side, proc in self.floor_procs.items())]
        for proc, name in procs:
            if proc.poll() is not None:
                raise BenchError(f"{name} exited with {proc.returncode}:\n{self.log_tail(name + '.log')}")

    def settle(self, timeout: float = 15.0) -> None:
        """Wait until the gateway has no request in flight (the previous load drained)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if orjson.loads(_get(f"http://{HOST}:{self.gw_port}/health")).get("inflight", 0) == 0:
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.2)

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def run_load(stack: Stack, sc: Scenario, side: str, settle: float = 0.0) -> dict[str, Any]:
    """One side of one scenario in a load-generator child; samples the converter's (gateway's
    or a floor's) CPU and RSS meanwhile, and its RSS `settle` seconds after the load ended."""
    spec = {"host": HOST, "port": stack.port(side), "side": side, "stream": sc.stream,
            "concurrency": sc.concurrency, "tokens": sc.tokens, "delay_ms": sc.delay_ms, "rounds": sc.rounds,
            "duration": sc.duration, "timeout": sc.timeout, "ramp": sc.ramp, "sso_tokens": stack.tokens,
            "api_keys": stack.api_keys if side == "gateway" else [],  # none: open mode
            "out": str(Path(stack.workdir) / f"load-{sc.name}-{side}.json")}
    limit = (sc.duration if sc.duration else sc.rounds * sc.timeout) + sc.ramp + sc.timeout + 60
    ps = stack.converter(side)
    cpu0, sim0 = (_cpu(ps) if ps else 0.0), _cpu(stack.sim_ps)
    rss0 = rss = ps.memory_info().rss if ps else 0
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "ops.bench_load", orjson.dumps(spec).decode()],
                            cwd=stack.workdir, env=stack.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    stack.procs.append(proc)
    try:
        while True:
            try:
                _, err = proc.communicate(timeout=0.1)
                break
            except subprocess.TimeoutExpired:
                if ps:
                    rss = max(rss, ps.memory_info().rss)
                stack.check_alive()
                if time.perf_counter() - t0 > limit:
                    raise BenchError(f"{sc.name}/{side}: load generator overran {limit:.0f} s") from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise BenchError(f"{sc.name}/{side}: load generator failed:\n{err.decode(errors='replace')[-2000:]}")
    raw = orjson.loads(Path(spec["out"]).read_bytes())
    result = summarize(raw)
    result["sim_cpu_pct"] = round(100 * (_cpu(stack.sim_ps) - sim0) / wall, 1)
    if ps:
        used = _cpu(ps) - cpu0
        result.update(cpu_s=round(used, 2), cpu_pct=round(100 * used / wall, 1),
                      **rss_figures(rss0, rss, ps.memory_info().rss, sc.concurrency if sc.stream else 0))
        if settle > 0:
            time.sleep(settle)
            result.update(settle_s=settle, rss_settled_mb=_mb(ps.memory_info().rss))
    return result


def _mb(rss: int) -> float:
    return round(rss / 2**20, 1)


def rss_figures(before: int, peak: int, end: int, open_streams: int) -> dict[str, Any]:
    """RSS before, at the peak and at the end of a load; for a stream scenario also the growth
    per open stream (every client holds one stream open at the peak)."""
    out: dict[str, Any] = {"rss_before_mb": _mb(before), "peak_rss_mb": _mb(peak), "rss_end_mb": _mb(end)}
    if open_streams:
        out["rss_per_stream_kib"] = round(max(0, peak - before) / open_streams / 1024, 1)
    return out


def _cpu(ps: psutil.Process) -> float:
    """User + system CPU seconds of a process."""
    times = ps.cpu_times()
    return times.user + times.system


def run_bench(scenarios: list[Scenario], *, accounts: int = 64, per_account: int = 32,
              progress: bool = False, media: tuple[str, ...] = (), floors: tuple[str, ...] = (),
              settle: float = 0.0) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Start the stack, run each scenario through the gateway, then through the minimal
    converters asked for (`floors`: keys of FLOORS), then at the simulator alone; then the
    `media` scenarios (bench_media.py), which report their own pairs. After a burst, the
    converters' RSS is read again `settle` s later."""
    raise_fd_limit()
    setup = {"accounts": accounts, "max_inflight": per_account, "cpus": os.cpu_count(),
             "python": platform.python_version(), "floors": list(floors)}
    sides = [side for side in SIDES if side not in FLOORS or side in floors]
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="grok2api-bench-") as tmp:
        stack = Stack(Path(tmp), accounts, per_account, floors=floors)
        try:
            stack.start()
            warm = Scenario("warmup", False, 4, 5, rounds=2, timeout=30)
            for side in sides:
                run_load(stack, warm, side)
            for sc in scenarios:
                entry: dict[str, Any] = {"scenario": sc.name, "params": asdict(sc)}
                if sc.keys:  # the table's gateway row: the median keyed phase
                    entry.update(_keys_vs_open(stack, sc, progress))
                    entry["gateway"] = sorted(entry["keyed_phases"],
                                              key=lambda r: r["req_per_s"])[KEY_ROUNDS // 2]
                for side in sides:
                    if sc.keys and side == "gateway":
                        continue  # measured in the keyed phases above
                    stack.settle()
                    if progress:
                        click.echo(f"… {sc.name} / {side}", err=True)
                    entry[side] = run_load(stack, sc, side, settle if sc.burst else 0.0)
                entry["ratios"] = ratios(entry)
                results.append(entry)
            if media:
                stack.settle()
                if progress:
                    click.echo(f"… {', '.join(media)}", err=True)
                results += run_media(list(media), f"http://{HOST}:{stack.gw_port}",
                                     f"http://{HOST}:{stack.sim_port}", stack.tokens, stack.gw_ps)
        finally:
            stack.close()
    return results, setup


def _keys_vs_open(stack: Stack, sc: Scenario, progress: bool) -> dict[str, Any]:
    """Open mode, then keyed, KEY_ROUNDS times, then open mode once more: each keyed phase is
    judged against the open phases right before and after it, so the gateway's drift over
    a run (its tables grow) and the other load on the machine fall on both sides alike."""
    opens = [run_load(stack, sc, "gateway")]
    keyed = []
    for i in range(KEY_ROUNDS):
        if progress:
            click.echo(f"… {sc.name} / keyed phase {i + 1} of {KEY_ROUNDS}", err=True)
        stack.create_keys(BENCH_KEYS)
        stack.settle()
        keyed.append(run_load(stack, sc, "gateway"))
        stack.delete_keys()
        stack.settle()
        opens.append(run_load(stack, sc, "gateway"))
    return {"keys": BENCH_KEYS, "open_phases": opens, "keyed_phases": keyed}


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so the `finally` that kills the children runs."""
    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@click.command("bench")
@click.argument("scenarios", nargs=-1, type=click.Choice([*SCENARIOS, *MEDIA_SCENARIOS]))
@click.option("--duration", default=10.0, show_default=True, help="Seconds of the nonstream scenario.")
@click.option("--rounds", default=2, show_default=True, help="Streams per client in the stream scenarios.")
@click.option("--accounts", default=64, show_default=True, help="Heavy accounts on both sides.")
@click.option("--per-account", default=32, show_default=True, help="Gateway account.selection.max_inflight.")
@click.option("--ramp", default=1.0, show_default=True,
              help="Stream scenarios: spread the clients' first streams over this many seconds "
                   "(0 = all at once, a thundering herd whose queueing then dominates TTFB/TTFT).")
@click.option("--floor", is_flag=True,
              help="Also run the minimal converter (ops/bench_floor.py) against the same simulator "
                   "and give the gateway's figures as ratios to it.")
@click.option("--stack-floor", is_flag=True,
              help="Also run the same minimal converter on the gateway's stack, Hypercorn and curl_cffi "
                   "(ops/bench_floor_stack.py): what the stack costs before any feature.")
@click.option("--settle", default=60.0, show_default=True,
              help="Burst scenarios: read the RSS again this many seconds after the streams ended (0 = not).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option("--streams", type=int, hidden=True, help="Override the concurrency of the stream scenarios.")
@click.option("--stream-tokens", type=int, hidden=True, help="Override the answer size of the stream scenarios.")
@click.option("--concurrency", type=int, hidden=True, help="Override the nonstream concurrency.")
def bench(scenarios: tuple[str, ...], duration: float, rounds: int, accounts: int, per_account: int,
          ramp: float, floor: bool, stack_floor: bool, settle: float, as_json: bool, streams: int | None,
          stream_tokens: int | None, concurrency: int | None) -> None:
    """Benchmark the gateway against the simulator alone (default: all scenarios)."""
    chosen = []
    names = scenarios or (*SCENARIOS, *MEDIA_SCENARIOS)
    media = tuple(n for n in names if n in MEDIA_SCENARIOS)
    for name in (n for n in names if n in SCENARIOS):
        sc = SCENARIOS[name]
        if sc.stream:
            if not sc.burst:
                sc = replace(sc, rounds=rounds, ramp=ramp)
            sc = replace(sc, concurrency=streams or sc.concurrency, tokens=stream_tokens or sc.tokens)
        else:
            sc = replace(sc, duration=duration, concurrency=concurrency or sc.concurrency)
        chosen.append(sc)
    floors = tuple(side for side, on in (("floor", floor), ("stack", stack_floor)) if on)
    try:
        with _sigterm_as_interrupt():
            results, setup = run_bench(chosen, accounts=accounts, per_account=per_account,
                                       progress=not as_json, media=media, floors=floors, settle=settle)
    except BenchError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        from ops.bench_report import targets

        click.echo(orjson.dumps({"setup": setup, "results": results, "targets": targets(results)},
                                option=orjson.OPT_INDENT_2).decode())
    else:
        chat = [r for r in results if "gateway" in r]
        if chat:
            click.echo(render(chat, setup))
        media_lines = render_media([r for r in results if "gateway" not in r])
        if media_lines:
            click.echo(media_lines)
