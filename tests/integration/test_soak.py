"""The fault soak: about 45 s of faults over real sockets, 100 concurrent clients of all three
dialects (streamed and not) on 10 accounts, in three phases of one run of traffic:

1. **mixed** (24 s): one-shot faults strike random tries (5xx, every kind of 403 refusal, a
   cut, a truncated frame, an answer ended early, a stall, in-band errors, an empty answer);
   some requests carry a fault in their prompt, so that every try of theirs fails; some
   clients leave mid-stream or while they wait. Faults about an account go to accounts
   assigned them: three die (401 invalid credentials, a blocked user, bad credentials) and
   three take a 429 each (HTTP, in-band, the usage-limit answer). The other four are healthy.
2. **outage** (12 s): every try fails, with the faults grok.com or the egress can give to
   everyone (5xx, cuts, stalls, truncations, in-band errors, Cloudflare and anti-bot
   refusals, 429s on every account).
3. **clean** (8 s): the faults stop. The pool must serve again, every healthy account
   included, within the breaker's longest interval plus the idle timeout of a try that was
   already out, plus a margin for a loaded machine.

Every request must end, in time, with the exact text the simulator generated for it (nothing
duplicated or missing after a failover) or with a clean error in its dialect
(`soak_dialects`); no body may carry an account's token; only the accounts assigned credential
faults end expired, the three 429s cool only their own account's mode; leases, the wait queue
and upstream streams all return to zero. Invariants are asserted, not timings (timeouts are
generous), save the recovery bound.

Settings: the breaker runs with short intervals (open 0.5 s, at most 2 s, a 5 s window) in
place of the shipped 5 s / 60 s / 30 s so that recovery fits the run; its thresholds (6
failures, 3 accounts, half) are the shipped ones. A stalled stream fails after 1.5 s
(`chat.timeout`), and 5xx and timeouts fail over too (two retries), so that exact answers
after a failover are common. Over the REST chat (`GROK2API_SOAK_TRANSPORT=mgw` runs it over
the WebSocket), and `GROK2API_SOAK_SCALE` stretches the phases for a longer run.

The figures (requests per phase, dialect and outcome, errors by code, durations, faults
struck, breaker trips, recovery) are printed at the end (`pytest -s`).
"""
from __future__ import annotations

import asyncio
import itertools
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field

import aiohttp
import pytest

from ops.simulator.content import encode_say
from ops.simulator.state import CHAT_PATH, MGW_PATH, Fault, RecordedRequest, SimulatorState
from tests.integration.conftest import Stack
from tests.integration.soak_dialects import DIALECTS, Dialect, Malformed, Verdict

SEED = 2026
SCALE = float(os.environ.get("GROK2API_SOAK_SCALE", "1"))
MIXED_SEC, OUTAGE_SEC, CLEAN_SEC = 24 * SCALE, 12 * SCALE, 8 * SCALE
CLIENTS = 100
#: A request still unanswered after this hung: the slowest legitimate one waits 10 s in the
#: queue, then makes three tries that each stall for the idle timeout.
REQUEST_TIMEOUT = 40.0
IDLE_TIMEOUT = 1.5
OPEN_SEC, MAX_OPEN_SEC, WINDOW_SEC = 0.5, 2.0, 5.0
#: The recovery bound: a probe sent just before the faults stopped can still fail (after the
#: idle timeout) and reopen the breaker for its longest interval; then a margin.
RECOVERY_BOUND = MAX_OPEN_SEC + IDLE_TIMEOUT + 3.0
STALL_MS = 30_000


def _token(name: str, n: int) -> str:
    return f"soak-{name}-{n}-{random.Random(f'{name}{n}').getrandbits(96):024x}"


HEALTHY = [_token("healthy", i) for i in range(4)]
#: A 429 each: evidence about that account's quota, so that mode cools (a second 429 could
#: only strike once the cooldown is over, after the run).
THROTTLED = {_token("throttled", i): fault
             for i, fault in enumerate(("429", "inband_first", "usage_limit"))}
#: Credentials that die: the fault that tells the gateway, then the simulator's status.
DOOMED = {_token("doomed", 0): ("401", "expired"),
          _token("doomed", 1): ("403_blocked_flat", "blocked"),
          _token("doomed", 2): ("401_bad_credentials", "email_rejected")}
TOKENS = [*HEALTHY, *THROTTLED, *DOOMED]

#: One-shot faults struck at random tries in the mixed phase (none of them about an account).
MIXED_FAULTS = ("500", "502", "503", "403_cloudflare", "403_antibot", "403_empty", "403_policy",
                "cut_mid", "truncated", "ended_mid", "stall", "inband_mid",
                "inband_antibot_first", "stream_errors", "empty")
#: Faults carried in a prompt: every try of that request fails.
PROMPT_FAULTS = ("500", "503", "403_cloudflare", "403_antibot", "403_policy", "cut_mid",
                 "truncated", "ended_mid", "stall", "inband_mid", "stream_errors")
#: The outage: what grok.com or the egress gives every try, 429s included.
OUTAGE_FAULTS = ("500", "502", "503", "cut_mid", "truncated", "ended_mid", "stall",
                 "inband_mid", "stream_errors", "403_cloudflare", "403_antibot",
                 "inband_antibot_first", "429", "inband_first", "usage_limit")
WORDS = ("alpha", "beta", "gamma", "delta", "naïve", "café", "日本語", "🚀", "omega", "zeta")


@pytest.fixture
def chat_transport() -> str:
    return os.environ.get("GROK2API_SOAK_TRANSPORT", "rest")


@dataclass(slots=True)
class Record:
    rid: int
    dialect: str
    stream: bool
    phase: str  # when it was sent
    started: float
    ended: float = 0.0
    outcome: str = ""  # answer, error, left (the client went away), hung, malformed
    status: int = 0
    code: str | None = None
    prompt_fault: str | None = None


@dataclass
class Soak:
    stack: Stack
    session: aiohttp.ClientSession
    phase: str = "mixed"
    records: list[Record] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    injected: Counter = field(default_factory=Counter)
    assigned: list[Fault] = field(default_factory=list)  # the 429s given to THROTTLED
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    ids: itertools.count = field(default_factory=itertools.count)

    @property
    def sim(self) -> SimulatorState:
        return self.stack.sim.state

    # ------------------------------------------------------------------ clients
    async def client(self, n: int) -> None:
        rng = random.Random(SEED * 1000 + n)
        while not self.stop.is_set():
            await self.one(rng)
            await asyncio.sleep(rng.uniform(0, 0.02))

    async def one(self, rng: random.Random) -> None:
        rid = next(self.ids)
        dialect = rng.choice(DIALECTS)
        stream = rng.random() < 0.6
        rec = Record(rid, dialect.name, stream, self.phase, time.monotonic())
        expected = f"soak {rid} " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12)))
        directives = f"say={encode_say(expected)} chunk=4 delay_ms={rng.choice((0, 5, 10))}"
        if self.phase == "mixed" and rng.random() < 0.08:
            rec.prompt_fault = rng.choice(PROMPT_FAULTS)
            directives += f" fault={rec.prompt_fault} stall_ms={STALL_MS}"
        prompt = f"Request {rid}. [[sim {directives}]]"
        leave = stream and rng.random() < 0.08
        early = rng.uniform(0.01, 0.3) if leave and rng.random() < 0.5 else None
        what = f"request {rid} ({dialect.name}, stream={stream}, {rec.phase}, {rec.prompt_fault})"
        self.records.append(rec)
        verdict: Verdict | None = None
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                if early is None:
                    verdict = await self.exchange(dialect, prompt, stream, expected, leave)
                else:
                    try:  # the client gives up soon, wherever its request is
                        async with asyncio.timeout(early):
                            verdict = await self.exchange(dialect, prompt, stream, expected,
                                                          False)
                    except TimeoutError:
                        pass
        except TimeoutError:
            rec.outcome = "hung"
            self.problems.append(f"{what} got no complete answer in {REQUEST_TIMEOUT} s")
        except Malformed as exc:
            rec.outcome = "malformed"
            self.problems.append(f"{what}: {exc}")
        except aiohttp.ClientError as exc:
            rec.outcome = "malformed"
            self.problems.append(f"{what}: the connection failed: {exc!r}")
        else:
            if verdict is None:
                rec.outcome, rec.code = "left", "early" if early is not None else "mid-stream"
            else:
                rec.outcome, rec.status, rec.code = verdict.outcome, verdict.status, verdict.code
                if rec.prompt_fault and verdict.outcome == "answer":
                    self.problems.append(f"{what} got an answer, though every try of it fails")
        rec.ended = time.monotonic()

    async def exchange(self, dialect: Dialect, prompt: str, stream: bool, expected: str,
                       leave: bool) -> Verdict | None:
        """One request; None when the client left (`leave`) at the first text of a stream."""
        async with self.session.post(dialect.path, json=dialect.body(prompt, stream)) as resp:
            raw = b""
            if leave and resp.status == 200:
                async for chunk in resp.content.iter_any():
                    raw += chunk
                    if b"soak" in raw:  # the answer's first text arrived: go away
                        resp.close()
                        return None
            raw += await resp.read()
            for token in TOKENS:
                if token.encode() in raw:
                    raise Malformed(f"an account's token in the answer: {raw[:200]!r}")
            return dialect.judge(resp.status, raw, stream, expected,
                                 resp.headers.get("Retry-After"))

    # ------------------------------------------------------------------ faults
    def inject(self, name: str, token: str | None = None) -> Fault:
        self.injected[(self.phase, name)] += 1
        return self.sim.inject(name, token=token, stall_ms=STALL_MS)

    async def mixed_faults(self, rng: random.Random) -> None:
        """A one-shot fault every 50 ms. The credentials die early; the 429s come late enough
        that their cooldowns still run when the phase ends."""
        started = time.monotonic()
        schedule = sorted([(1.0 + 2 * i, token) for i, token in enumerate(DOOMED)]
                          + [(MIXED_SEC - 10 + 2 * i, token) for i, token in enumerate(THROTTLED)])
        while self.phase == "mixed":
            while schedule and schedule[0][0] <= time.monotonic() - started:
                _, token = schedule.pop(0)
                if token in DOOMED:
                    fault, status = DOOMED[token]
                    self.inject(fault, token)
                    self.sim.set_status(token, status)  # dead for good, quota probes too
                else:
                    self.assigned.append(self.inject(THROTTLED[token], token))
            self.inject(rng.choice(MIXED_FAULTS))
            await asyncio.sleep(0.05)

    async def outage_faults(self, rng: random.Random) -> None:
        """Every try fails: the queue of one-shot faults never runs dry."""
        while self.phase == "outage":
            pending = sum(f.times for f in self.sim.faults if f.token is None)
            for _ in range(400 - pending):
                self.inject(rng.choice(OUTAGE_FAULTS))
            await asyncio.sleep(0.01)

    def struck(self) -> Counter:
        """The injected faults some try met, by phase and name (the outage leaves some)."""
        struck = Counter(self.injected)
        for fault in self.sim.faults:
            if fault.token is None:
                struck[("outage", fault.name)] -= fault.times
        return +struck


def label(token: str) -> str:
    """`healthy-0` for one of the soak's tokens (never printed whole)."""
    return "-".join(token.split("-")[1:3])


async def health(soak: Soak) -> dict:
    async with soak.session.get("/health") as resp:
        return await resp.json()


def is_chat(req: RecordedRequest) -> bool:
    """A chat attempt, over the REST chat or the mgw WebSocket (not a refusal's body)."""
    return req.path == CHAT_PATH or (
        req.path == MGW_PATH and req.headers.get("upgrade", "").lower() == "websocket")


async def watch_served(sim: SimulatorState, stop: asyncio.Event, since: float,
                       firsts: dict[str, float]) -> None:
    """When each account was first sent a chat after `since` (the faults stopped)."""
    seen = 0
    while not stop.is_set():
        if len(sim.requests) < seen:  # the simulator dropped its older half
            seen = 0
        for req in sim.requests[seen:]:
            if req.token not in firsts and is_chat(req):
                firsts[req.token] = time.monotonic() - since
        seen = len(sim.requests)
        await asyncio.sleep(0.01)


def report(soak: Soak, ran: float, struck: Counter, trips: dict[str, int], at_clear: dict,
           recovered: float | None, firsts: dict[str, float]) -> Counter:
    """Print the figures; return the count of outcomes per (phase, dialect, outcome)."""
    records = soak.records
    table = Counter((r.phase, f"{r.dialect}{'/stream' if r.stream else ''}", r.outcome)
                    for r in records)
    codes = Counter((r.phase, r.status, r.code) for r in records if r.outcome == "error")
    left = Counter((r.phase, r.code) for r in records if r.outcome == "left")
    print(f"\nsoak: {len(records)} requests in {ran:.1f} s from {CLIENTS} clients on "
          f"{len(TOKENS)} accounts")
    for (phase, kind, outcome), n in sorted(table.items()):
        print(f"  {phase:7} {kind:18} {outcome:10} {n:6}")
    print("  errors by phase, status (200: in the stream) and code:")
    for key, n in sorted(codes.items(), key=str):
        print(f"    {key}: {n}")
    print(f"  clients that left: {dict(left)}")
    for phase in ("mixed", "outage", "clean"):
        took = sorted(r.ended - r.started for r in records if r.phase == phase)
        if took:
            print(f"  {phase} durations: median {took[len(took) // 2]:.2f} s, "
                  f"p99 {took[int(len(took) * 0.99)]:.2f} s, max {took[-1]:.2f} s")
    print(f"  faults struck: {dict(sorted(struck.items()))}")
    print(f"  breaker trips: {trips}; when the faults stopped: {at_clear['state']} "
          f"({at_clear['reason']}, interval {at_clear['open_interval_sec']} s)")
    served = {label(t): round(s, 2) for t, s in sorted(firsts.items())}
    print(f"  recovery: first answer {recovered and round(recovered, 2)} s after the faults "
          f"stopped; first chat per account {served}; bound {RECOVERY_BOUND} s")
    return table


async def test_fault_soak(stack):
    await stack.start_gateway(
        GROK_CHAT_TIMEOUT=str(IDLE_TIMEOUT),
        GROK_RETRY_ON_CODES="429,401,500,502,503,504",
        GROK_RETRY_MAX_RETRIES="2",
        GROK_BREAKER_OPEN_SEC=str(OPEN_SEC),
        GROK_BREAKER_MAX_OPEN_SEC=str(MAX_OPEN_SEC),
        GROK_BREAKER_WINDOW_SEC=str(WINDOW_SEC),
    )
    sim, pool = stack.sim.state, stack.gateway.pool
    for token in TOKENS:
        stack.add_account(token, "super")
        # quota is not what this run is about: plenty of it, known to the gateway at once
        sim.set_quota(token, "fast", 1_000_000, total=1_000_000)
        pool.apply_quota(token, "fast", 1_000_000, 1_000_000, 7200)
    rng = random.Random(SEED)
    async with aiohttp.ClientSession(base_url=stack.url, connector=aiohttp.TCPConnector(limit=0),
                                     timeout=aiohttp.ClientTimeout(total=None)) as session:
        soak = Soak(stack, session)
        clients = [asyncio.create_task(soak.client(n)) for n in range(CLIENTS)]
        began = time.monotonic()
        trips: dict[str, int] = {}

        faults = asyncio.create_task(soak.mixed_faults(rng))
        await asyncio.sleep(MIXED_SEC)
        soak.phase = "outage"
        await faults
        trips["mixed"] = (await health(soak))["breaker"]["trips"]
        unassigned = [f.name for f in soak.assigned if any(f is g for g in sim.faults)]
        cooling = {t: pool.mode_cooling(t, "fast") for t in THROTTLED}
        faults = asyncio.create_task(soak.outage_faults(rng))
        await asyncio.sleep(OUTAGE_SEC)
        soak.phase = "clean"
        await faults
        struck = soak.struck()
        sim.faults.clear()  # grok.com is back
        sim.clear_requests()
        cleared = time.monotonic()
        at_clear = (await health(soak))["breaker"]
        trips["outage"] = at_clear["trips"] - trips["mixed"]
        firsts: dict[str, float] = {}
        watcher = asyncio.create_task(watch_served(sim, soak.stop, cleared, firsts))
        await asyncio.sleep(CLEAN_SEC)

        soak.stop.set()
        await asyncio.gather(*clients, watcher)
        ran = time.monotonic() - began
        for _ in range(100):  # the last cancelled transfers and leases go at once
            final = await health(soak)
            if not (final["inflight"] or final["queued"] or sim.active_streams):
                break
            await asyncio.sleep(0.05)
        trips["clean"] = final["breaker"]["trips"] - at_clear["trips"]

    records = soak.records
    answers = [r.ended - cleared for r in records if r.outcome == "answer" and r.started >= cleared]
    recovered = min(answers) if answers else None
    table = report(soak, ran, struck, trips, at_clear, recovered, firsts)

    # every answer exact or a clean error, in time, without a secret
    assert not soak.problems, (f"{len(soak.problems)} bad answers:\n"
                               + "\n".join(soak.problems[:30]))
    assert len(records) > 1000, "the soak hardly ran"
    for phase in ("mixed", "clean"):  # each dialect answered, streamed and not, in both
        for dialect in DIALECTS:
            for kind in (dialect.name, f"{dialect.name}/stream"):
                assert table[(phase, kind, "answer")], (phase, kind)
    assert {n for p, n in struck if p == "mixed"} >= set(MIXED_FAULTS)
    assert table[("mixed", "chat/stream", "left")], "no client left"
    # the outage was total, and the breaker took it over
    assert not [r for r in records if r.phase == "outage" and r.outcome == "answer"
                and r.ended < cleared]
    assert trips["outage"] > 0

    # only the accounts assigned credential faults died; a 429 cooled its own account's mode
    for token in DOOMED:
        assert pool.get(token).status == "expired", label(token)
    for token in [*HEALTHY, *THROTTLED]:
        acc = pool.get(token)
        assert acc.status == "active" and not acc.runtime_expired, (label(token), acc.status)
    assert not unassigned, f"429s assigned to accounts never struck: {unassigned}"
    assert all(cooling.values()), cooling
    # the outage's 429s were the egress's: no healthy account is left cooling
    assert not [label(t) for t in HEALTHY if pool.mode_cooling(t, "fast")]

    # after the faults stopped the pool served again, every healthy account included
    assert recovered is not None and recovered <= RECOVERY_BOUND, recovered
    assert set(HEALTHY) <= set(firsts), sorted(label(t) for t in set(HEALTHY) - set(firsts))
    assert max(firsts[t] for t in HEALTHY) <= RECOVERY_BOUND, firsts
    assert final["breaker"]["state"] == "closed"

    # nothing leaked: leases, waiters, upstream transfers
    assert final["inflight"] == 0 and pool.count_inflight() == 0
    assert final["queued"] == 0
    assert sim.active_streams == 0
