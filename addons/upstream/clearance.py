"""Solved Cloudflare clearances, one per egress, and how a request carries one.

Cloudflare binds a `cf_clearance` cookie to the IP it was solved from and to the User-Agent
of the browser that solved it: sent through another proxy, or with another agent, it is
challenged again. So a solved clearance (`ClearanceBundle`: the cookie string and the agent)
belongs to one egress (a proxy URL, or None for a direct connection), and the transport, which
picks the egress of each call, dresses the call's headers with that egress's bundle just before
sending (`ClearanceStore.apply`): the User-Agent and its client hints become the solving
browser's, and the solved cookies replace the configured Cloudflare cookie string (the
account's `sso`, `sso-rw` and `x-userid` cookies stay). An egress nothing was solved for keeps
the configured cookies and agent.

The transport notes on the request what it went through (`Via`: the egress and the bundle's
generation), so whoever sees the request challenged can ask for a fresher bundle for exactly
that egress, once, however many requests were challenged with the same one.

The store only holds bundles; solving them (FlareSolverr, when to refresh) is the clearance
service's (`addons/services/clearance.py`). It lives in memory, per process.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from addons.upstream.headers import client_hints

__all__ = ["ClearanceBundle", "ClearanceStore", "Via", "KEPT_COOKIES", "cookie_names"]

#: Cookies of the account, never replaced by a clearance (`x-userid` is the mgw handshake's).
KEPT_COOKIES = frozenset({"sso", "sso-rw", "x-userid"})


@dataclass(frozen=True, slots=True)
class Via:
    """What one request went through: its egress (None: direct) and the generation of the
    clearance it carried (0: none was solved, the configured cookies went)."""

    proxy: str | None
    generation: int = 0


@dataclass(frozen=True, slots=True)
class ClearanceBundle:
    """A solved clearance for one egress: the cookie string (`name=value; …`) and the
    User-Agent it was solved with, which every request through that egress must send."""

    cookies: str
    user_agent: str
    generation: int
    solved_at: float  # time.time()


def cookie_names(cookies: str) -> list[str]:
    """The names of a `name=value; …` cookie string, in order."""
    return [p.split("=", 1)[0].strip() for p in cookies.split(";") if "=" in p]


class ClearanceStore:
    """The bundles of this process, by egress. `due`, when set, is called with the egress and
    its bundle each time a request is dressed with that bundle, so the owner can refresh one
    it finds too old; it must return at once."""

    def __init__(self) -> None:
        self._bundles: dict[str | None, ClearanceBundle] = {}
        self._generation = 0
        self.due: Callable[[str | None, ClearanceBundle], None] | None = None

    def __len__(self) -> int:
        return len(self._bundles)

    def get(self, proxy: str | None) -> ClearanceBundle | None:
        return self._bundles.get(proxy)

    def generation(self, proxy: str | None) -> int:
        bundle = self._bundles.get(proxy)
        return bundle.generation if bundle is not None else 0

    def put(self, proxy: str | None, cookies: str, user_agent: str) -> ClearanceBundle:
        """Keep a freshly solved bundle for `proxy`; its generation is newer than any before."""
        self._generation += 1
        bundle = ClearanceBundle(cookies, user_agent, self._generation, time.time())
        self._bundles[proxy] = bundle
        return bundle

    def clear(self) -> None:
        """Forget every bundle: requests go back to the configured cookies and agent."""
        self._bundles.clear()

    def egresses(self) -> list[str | None]:
        return list(self._bundles)

    def apply(self, headers: dict[str, str], proxy: str | None) -> tuple[dict[str, str], Via]:
        """`headers` dressed for `proxy` (a new dict; `headers` itself when no clearance was
        solved for it), and the `Via` to note on the request."""
        bundle = self._bundles.get(proxy)
        if bundle is None:
            return headers, Via(proxy, 0)
        if self.due is not None:
            self.due(proxy, bundle)
        out: dict[str, str] = {}
        hinted = False
        for name, value in headers.items():
            low = name.lower()
            if low.startswith("sec-ch-ua"):
                hinted = True  # replaced below by the solving browser's hints
                continue
            if low == "user-agent":
                value = bundle.user_agent
            elif low == "cookie":
                value = _with_cookies(value, bundle.cookies)
            out[name] = value
        if hinted:
            out.update(client_hints(bundle.user_agent))
        return out, Via(proxy, bundle.generation)


def _with_cookies(header: str, solved: str) -> str:
    """The account's cookies of `header`, with the solved string in place of any other."""
    mine: list[str] = []
    tail: list[str] = []
    for part in header.split(";"):
        part = part.strip()
        name = part.split("=", 1)[0].strip().lower()
        if name in ("sso", "sso-rw"):
            mine.append(part)
        elif name == "x-userid":
            tail.append(part)
    return "; ".join([*mine, *([solved] if solved else []), *tail])
