"""The clearance service: what a Cloudflare challenge leads to in each mode, with a stand-in
solver (no FlareSolverr, no network)."""
from __future__ import annotations

import asyncio
import logging

import pytest

from addons.services import clearance as svc
from addons.services.clearance import ClearanceService
from addons.upstream.clearance import Via
from addons.upstream.flaresolverr import Solution, SolveError
from state.settings import Settings

UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
PROXY = "http://user:hunter2@10.0.0.1:8080"
SECRET = "cfsecretvalue0123456789"


def make(tmp_path, mode: str = "flaresolverr", **env: str) -> Settings:
    base = {"GROK_PROXY__CLEARANCE__MODE": mode,
            "GROK_PROXY__CLEARANCE__FLARESOLVERR_URL": "http://127.0.0.1:8191"}
    return Settings(tmp_path / "config.toml", environ={**base, **env})


class Solver:
    """Counts solves; each gives a new cookie, after `delay` seconds, or fails."""

    def __init__(self, delay: float = 0.0, fail: bool = False) -> None:
        self.delay, self.fail = delay, fail
        self.calls: list[tuple[str, str, str | None, float]] = []

    async def __call__(self, url: str, page: str, proxy: str | None, timeout: float) -> Solution:
        self.calls.append((url, page, proxy, timeout))
        await asyncio.sleep(self.delay)
        if self.fail:
            raise SolveError("FlareSolverr did not solve the page: Challenge not solved")
        return Solution(f"cf_clearance={SECRET}{len(self.calls)}; __cf_bm=b", UA,
                        ("cf_clearance", "__cf_bm"))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_concurrent_challenges_of_one_egress_share_one_solve(tmp_path) -> None:
    solver = Solver(delay=0.05)
    service = ClearanceService(make(tmp_path), solver)
    results = await asyncio.gather(*(service.on_challenge(Via(PROXY, 0)) for _ in range(10)))
    assert results == [True] * 10 and len(solver.calls) == 1
    url, page, proxy, timeout = solver.calls[0]
    assert (url, page, proxy, timeout) == ("http://127.0.0.1:8191", "https://grok.com", PROXY, 60.0)
    bundle = service.store.get(PROXY)
    assert bundle.user_agent == UA and bundle.cookies.startswith("cf_clearance=")
    assert service.store.get(None) is None  # one clearance per egress: direct has none
    # a request challenged with the old clearance just goes again with the new one
    assert await service.on_challenge(Via(PROXY, 0)) and len(solver.calls) == 1


async def test_a_clearance_refused_again_is_solved_at_most_once_per_gap(tmp_path) -> None:
    solver, clock = Solver(), Clock()
    service = ClearanceService(make(tmp_path), solver, clock=clock)
    assert await service.on_challenge(Via(None, 0))
    gen = service.store.generation(None)
    assert not await service.on_challenge(Via(None, gen))  # the fresh one challenged at once
    assert len(solver.calls) == 1
    clock.now += svc.MIN_SOLVE_GAP_SEC
    assert await service.on_challenge(Via(None, gen)) and len(solver.calls) == 2


async def test_a_failed_solve_leaves_the_egress_as_it_was(tmp_path, caplog) -> None:
    solver = Solver(fail=True)
    service = ClearanceService(make(tmp_path), solver)
    with caplog.at_level(logging.WARNING, logger=svc.__name__):
        assert not await service.on_challenge(Via(PROXY, 0))
    assert service.store.get(PROXY) is None and service.failures == 1
    assert "Challenge not solved" in service.snapshot()["last_error"]
    assert "hunter2" not in caplog.text and "10.0.0.1" in caplog.text


async def test_manual_mode_names_the_stale_cookie_once_per_interval(tmp_path, caplog) -> None:
    clock = Clock()
    settings = make(tmp_path, "manual",
                    GROK_PROXY__CLEARANCE__CF_COOKIES=f"cf_clearance={SECRET}; __cf_bm=x",
                    GROK_PROXY__CLEARANCE__REFRESH_INTERVAL="600")
    solver = Solver()
    service = ClearanceService(settings, solver, clock=clock)
    with caplog.at_level(logging.WARNING, logger=svc.__name__):
        for _ in range(5):
            assert not await service.on_challenge(Via(None, 0))
    notices = [r.getMessage() for r in caplog.records]
    assert len(notices) == 1 and not solver.calls
    assert "cf_clearance cookie of proxy.clearance.cf_cookies is stale" in notices[0]
    assert "proxy.clearance.user_agent" in notices[0] and SECRET not in notices[0]
    clock.now += 600
    with caplog.at_level(logging.WARNING, logger=svc.__name__):
        await service.on_challenge(Via(None, 0))
    assert len(caplog.records) == 2


async def test_manual_mode_without_a_cf_clearance_says_so(tmp_path, caplog) -> None:
    service = ClearanceService(make(tmp_path, "manual"), Solver())
    with caplog.at_level(logging.WARNING, logger=svc.__name__):
        await service.on_challenge(Via(PROXY, 0))
    assert "holds no cf_clearance cookie" in caplog.text and "hunter2" not in caplog.text


async def test_mode_none_only_points_at_the_settings(tmp_path, caplog) -> None:
    solver = Solver()
    service = ClearanceService(make(tmp_path, "none"), solver)
    with caplog.at_level(logging.WARNING, logger=svc.__name__):
        assert not await service.on_challenge(Via(None, 0))
    assert "proxy.clearance.mode = none" in caplog.text and not solver.calls


async def test_flaresolverr_mode_without_a_url_solves_nothing(tmp_path, caplog) -> None:
    solver = Solver()
    service = ClearanceService(make(tmp_path, GROK_PROXY__CLEARANCE__FLARESOLVERR_URL=""), solver)
    with caplog.at_level(logging.WARNING, logger=svc.__name__):
        assert not await service.on_challenge(Via(None, 0))
    assert "flaresolverr_url is empty" in caplog.text and not solver.calls


async def test_an_old_clearance_is_solved_again_in_the_background(tmp_path) -> None:
    solver, clock = Solver(), Clock()
    service = ClearanceService(make(tmp_path, GROK_PROXY__CLEARANCE__REFRESH_INTERVAL="60"),
                               solver, clock=clock)
    await service.on_challenge(Via(None, 0))
    first = service.store.get(None)
    service.store.apply({"Cookie": "sso=a; sso-rw=a"}, None)  # young: nothing happens
    await asyncio.sleep(0)
    assert len(solver.calls) == 1
    object.__setattr__(first, "solved_at", first.solved_at - 61)  # it aged
    clock.now += svc.MIN_SOLVE_GAP_SEC
    for _ in range(3):  # several requests, one refresh
        out, via = service.store.apply({"Cookie": "sso=a; sso-rw=a"}, None)
        assert via.generation == first.generation  # the old one still goes meanwhile
    await asyncio.sleep(0.01)
    assert len(solver.calls) == 2 and service.store.generation(None) > first.generation


async def test_leaving_flaresolverr_mode_drops_the_solved_clearances(tmp_path) -> None:
    settings = Settings(tmp_path / "config.toml", environ={})
    settings.set_many({"proxy.clearance.mode": "flaresolverr",
                       "proxy.clearance.flaresolverr_url": "http://127.0.0.1:8191"})
    service = ClearanceService(settings, Solver())
    await service.on_challenge(Via(None, 0))
    assert len(service.store) == 1
    service.sync()
    assert len(service.store) == 1
    settings.set("proxy.clearance.mode", "manual")  # an operator switches it live
    service.sync()
    assert len(service.store) == 0


async def test_the_snapshot_names_cookies_never_their_values(tmp_path) -> None:
    service = ClearanceService(make(tmp_path), Solver())
    await service.on_challenge(Via(PROXY, 0))
    snap = service.snapshot()
    assert snap["mode"] == "flaresolverr" and snap["solves"] == 1
    (egress,) = snap["egresses"]
    assert egress["egress"] == "http://<redacted>@10.0.0.1:8080"
    assert egress["cookies"] == ["cf_clearance", "__cf_bm"] and egress["user_agent"] == UA
    assert SECRET not in str(snap) and "hunter2" not in str(snap)


@pytest.mark.parametrize("mode", ["none", "manual"])
async def test_other_modes_never_solve(tmp_path, mode) -> None:
    solver = Solver()
    service = ClearanceService(make(tmp_path, mode), solver)
    assert not await service.on_challenge(Via(None, 0)) and not solver.calls
