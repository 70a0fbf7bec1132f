"""Cloudflare clearance: what happens when grok.com's edge challenges the gateway.

A challenge (Cloudflare's "Just a moment..." page) says the egress's `cf_clearance` cookie is
missing, stale, or was solved for another IP or browser. It says nothing about the account, and
retrying on other accounts through the same egress meets the same page. What helps depends on
`proxy.clearance.mode`:

* `none`: nothing refreshes the clearance; the operator is told once per
  `proxy.clearance.refresh_interval` how to set one up;
* `manual`: the operator pastes the cookie string of a browser (`proxy.clearance.cf_cookies`)
  and that browser's User-Agent; a challenge tells them, once per interval and egress, which
  cookie is stale (or that none is configured). The client gets the challenge as today;
* `flaresolverr`: a FlareSolverr service solves the challenge through the challenged egress
  (`addons/upstream/flaresolverr.py`); its cookies and User-Agent become that egress's
  clearance (`addons/upstream/clearance.py`, applied by the transport to every grok.com call
  through that egress) and the challenged request is tried once more.

Solving is single-flight per egress: any number of requests challenged with the same clearance
wait for one solve. A request challenged with a clearance older than the current one is simply
tried again with the current one. Two solves of one egress are at least `MIN_SOLVE_GAP_SEC`
apart, so a clearance grok.com keeps refusing (a browser fingerprint it dislikes) costs one
solve per gap, not one per request; such a challenge is then an ordinary failure that the
circuit breaker counts. A clearance older than `refresh_interval` is solved again in the
background when a request next uses it.

State is in memory, per process (each Hypercorn worker solves for itself).
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from addons.upstream import flaresolverr
from addons.upstream.classify import sanitize
from addons.upstream.clearance import ClearanceBundle, ClearanceStore, Via, cookie_names
from state.options import Loader

__all__ = ["FLARESOLVERR", "MANUAL", "MIN_SOLVE_GAP_SEC", "NONE", "ClearanceService",
           "egress_label"]

log = logging.getLogger(__name__)

NONE, MANUAL, FLARESOLVERR = "none", "manual", "flaresolverr"
#: Shortest time between the starts of two solves of one egress, in seconds.
MIN_SOLVE_GAP_SEC = 30.0

Solver = Callable[[str, str, "str | None", float], Awaitable[flaresolverr.Solution]]


def egress_label(proxy: str | None) -> str:
    """How an egress is named in logs and the admin API: never a proxy's password."""
    return sanitize(proxy) if proxy else "direct"


class ClearanceService:
    @staticmethod
    def load(loader: Loader) -> None:
        add = loader.add_option
        add("proxy.clearance.mode", str, NONE,
            "What answers a Cloudflare challenge of grok.com: `none` (nothing; the challenge "
            "fails the request), `manual` (you paste proxy.clearance.cf_cookies and the "
            "matching user_agent; a challenge logs which cookie is stale, once per "
            "refresh_interval) or `flaresolverr` (a FlareSolverr service at flaresolverr_url "
            "solves it through the challenged egress; its cookies and User-Agent are then used "
            "for that egress, and the request is tried once more).",
            choices=(NONE, MANUAL, FLARESOLVERR))
        add("proxy.clearance.flaresolverr_url", str, "",
            "FlareSolverr endpoint for mode `flaresolverr`, e.g. `http://flaresolverr:8191`.")
        add("proxy.clearance.timeout_sec", int, 60,
            "Seconds FlareSolverr may take to solve a challenge (the challenged request waits "
            "for it).")
        add("proxy.clearance.refresh_interval", int, 3600,
            "Seconds after which a solved clearance is solved again (in the background, when a "
            "request next uses it); also how often a challenge is reported in modes `none` "
            "and `manual`.")

    def __init__(self, settings: Any, solver: Solver | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.store = ClearanceStore()
        self.store.due = self._due
        self._solver: Solver = solver or flaresolverr.solve
        self._clock = clock
        self._solving: dict[str | None, asyncio.Task[bool]] = {}
        self._started: dict[str | None, float] = {}  # the start of the last solve, per egress
        self._told: dict[tuple[str, str | None], float] = {}  # operator notices, when last
        self._challenged: dict[str | None, float] = {}  # last challenge per egress (time.time)
        self.solves = 0
        self.failures = 0
        self.last_error: str | None = None

    # ------------------------------------------------------------------ settings
    @property
    def mode(self) -> str:
        return self.settings.options.proxy.clearance.mode

    def _interval(self) -> float:
        return float(max(1, self.settings.options.proxy.clearance.refresh_interval))

    def sync(self) -> None:
        """Solved clearances go out only in mode `flaresolverr`: leaving it drops them (cheap
        enough to call on every try)."""
        if len(self.store) and self.mode != FLARESOLVERR:
            self.store.clear()
            log.info("proxy.clearance.mode is %s: the solved Cloudflare clearances are dropped",
                     self.mode)

    # ------------------------------------------------------------------ challenges
    async def on_challenge(self, via: Via) -> bool:
        """A request through `via.proxy` that carried clearance `via.generation` met a
        challenge. True when a newer clearance for that egress is in place once this returns
        (the request may be tried again); False when nothing better can be sent."""
        self._challenged[via.proxy] = time.time()
        mode = self.mode
        if mode != FLARESOLVERR:
            self._tell_operator(via.proxy, mode)
            return False
        if self.store.generation(via.proxy) > via.generation:
            return True  # solved since that request left
        task = self._start(via.proxy)
        if task is None:
            return False
        await asyncio.shield(task)  # a client that leaves does not stop the solve
        return self.store.generation(via.proxy) > via.generation

    def _start(self, proxy: str | None) -> asyncio.Task[bool] | None:
        """The running solve of `proxy`, or a new one; None when none may start now."""
        task = self._solving.get(proxy)
        if task is not None:
            return task
        if not self.settings.options.proxy.clearance.flaresolverr_url.strip():
            self._notice(("no_url", None),
                         "proxy.clearance.mode is flaresolverr but proxy.clearance."
                         "flaresolverr_url is empty: Cloudflare challenges cannot be solved")
            return None
        now = self._clock()
        last = self._started.get(proxy)
        if last is not None and now - last < MIN_SOLVE_GAP_SEC:
            return None
        self._started[proxy] = now
        task = asyncio.get_running_loop().create_task(self._solve(proxy))
        self._solving[proxy] = task
        task.add_done_callback(lambda _t: self._solving.pop(proxy, None))
        return task

    async def _solve(self, proxy: str | None) -> bool:
        opts = self.settings.options
        label = egress_label(proxy)
        timeout = float(max(1, opts.proxy.clearance.timeout_sec))
        log.info("solving grok.com's Cloudflare challenge for egress %s with FlareSolverr", label)
        try:
            solution = await self._solver(opts.proxy.clearance.flaresolverr_url,
                                          opts.upstream.base_url, proxy, timeout)
        except flaresolverr.SolveError as exc:
            self.failures += 1
            self.last_error = str(exc)
            log.warning("Cloudflare clearance for egress %s not solved: %s", label, exc)
            return False
        except Exception:  # noqa: BLE001 - a broken solve must not break the requests waiting
            self.failures += 1
            self.last_error = "unexpected error (see the log)"
            log.exception("Cloudflare clearance for egress %s: the solve failed", label)
            return False
        bundle = self.store.put(proxy, solution.cookies, solution.user_agent)
        self.solves += 1
        self.last_error = None
        log.info("Cloudflare clearance #%d solved for egress %s: cookies %s, User-Agent %s",
                 bundle.generation, label, ", ".join(solution.names), solution.user_agent)
        if not solution.has_clearance:
            log.warning("FlareSolverr's solution for egress %s has no cf_clearance cookie: "
                        "grok.com may challenge it again", label)
        return True

    def _due(self, proxy: str | None, bundle: ClearanceBundle) -> None:
        """Called as a request is dressed with `bundle`: solve again, in the background, a
        clearance older than `refresh_interval`."""
        if proxy in self._solving or time.time() - bundle.solved_at < self._interval():
            return
        if self.mode == FLARESOLVERR and self._start(proxy) is not None:
            log.info("Cloudflare clearance #%d of egress %s is older than %g s: solving it again",
                     bundle.generation, egress_label(proxy), self._interval())

    # ------------------------------------------------------------------ operator notices
    def _tell_operator(self, proxy: str | None, mode: str) -> None:
        label = egress_label(proxy)
        if mode == MANUAL:
            clearance = self.settings.options.proxy.clearance
            names = cookie_names(clearance.cf_cookies)
            if "cf_clearance" in names:
                what = ("the cf_clearance cookie of proxy.clearance.cf_cookies is stale, or was "
                        "solved for another IP or browser")
            else:
                what = "proxy.clearance.cf_cookies holds no cf_clearance cookie"
            self._notice((MANUAL, proxy),
                         f"Cloudflare challenged grok.com through egress {label}: {what}. Paste "
                         f"the cookies of a browser that passed grok.com through this egress as "
                         f"proxy.clearance.cf_cookies, and its User-Agent as "
                         f"proxy.clearance.user_agent (now {clearance.user_agent!r}).")
        else:
            self._notice((NONE, proxy),
                         f"Cloudflare challenged grok.com through egress {label}, and "
                         f"proxy.clearance.mode = none: set it to manual (and paste "
                         f"proxy.clearance.cf_cookies) or to flaresolverr (with "
                         f"proxy.clearance.flaresolverr_url).")

    def _notice(self, key: tuple[str, str | None], message: str) -> None:
        """Log `message` as a warning at most once per `refresh_interval` for `key`."""
        now = self._clock()
        last = self._told.get(key)
        if last is not None and now - last < self._interval():
            return
        self._told[key] = now
        log.warning("%s", message)

    # ------------------------------------------------------------------ view, lifecycle
    def snapshot(self) -> dict[str, Any]:
        """What the admin API shows: the mode, the solved clearance of each egress (cookie
        names, never values), the solves so far and the last challenge per egress."""
        now = time.time()
        egresses = []
        for proxy in sorted(set(self.store.egresses()) | set(self._challenged),
                            key=lambda p: p or ""):
            bundle = self.store.get(proxy)
            item: dict[str, Any] = {"egress": egress_label(proxy),
                                    "last_challenge_at": _ms(self._challenged.get(proxy))}
            if bundle is not None:
                item.update(generation=bundle.generation, solved_at=_ms(bundle.solved_at),
                            age_sec=round(now - bundle.solved_at, 1),
                            cookies=cookie_names(bundle.cookies), user_agent=bundle.user_agent)
            item["solving"] = proxy in self._solving
            egresses.append(item)
        return {"mode": self.mode, "solves": self.solves, "failures": self.failures,
                "last_error": self.last_error, "egresses": egresses}

    async def aclose(self) -> None:
        tasks = list(self._solving.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _ms(seconds: float | None) -> int | None:
    return int(seconds * 1000) if seconds is not None else None
