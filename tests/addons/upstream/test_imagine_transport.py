"""The imagine transport's pool of idle sockets: one per account, pinged while idle, closed
when idle too long, when dead, past the bound, and at shutdown."""
from __future__ import annotations

import asyncio

from addons.upstream import imagine
from addons.upstream.config import UpstreamConfig
from addons.upstream.imagine import ImagineTransport, _Conn
from addons.upstream.imagine_chat import ChatImageTransport
from addons.upstream.transport import CurlTransport


class FakeWs:
    def __init__(self) -> None:
        self.pings = 0
        self.terminated = False

    def is_alive(self) -> bool:
        return not self.terminated

    async def ping(self, payload: bytes) -> None:
        self.pings += 1

    def terminate(self) -> None:
        self.terminated = True


def transport(**kw) -> ImagineTransport:
    rest = CurlTransport(UpstreamConfig())
    return ImagineTransport(rest.cfg, rest, ChatImageTransport(rest), **kw)


async def test_an_idle_socket_is_pinged_then_closed_after_the_idle_time():
    t = transport(ping_interval=0.02, idle_keep=0.15)
    ws = FakeWs()
    t.give_back(_Conn(ws, "tok"))
    await asyncio.sleep(0.08)
    assert ws.pings >= 2 and not ws.terminated and "tok" in t._idle
    await asyncio.sleep(0.15)
    assert ws.terminated and "tok" not in t._idle
    await t.aclose()


async def test_one_idle_socket_per_account_and_a_dead_one_is_not_reused():
    t = transport(ping_interval=10)
    first, second = FakeWs(), FakeWs()
    t.give_back(_Conn(first, "tok"))
    t.give_back(_Conn(second, "tok"))  # the account has one already: this one is closed
    assert second.terminated and not first.terminated
    taken = t._take("tok")
    assert taken is not None and taken.ws is first and t._take("tok") is None
    t.give_back(taken)
    first.terminated = True  # the server closed it meanwhile
    assert t._take("tok") is None
    await t.aclose()


async def test_the_pool_is_bounded_and_closed_at_shutdown(monkeypatch):
    monkeypatch.setattr(imagine, "MAX_IDLE", 2)
    t = transport(ping_interval=10)
    sockets = [FakeWs() for _ in range(3)]
    for i, ws in enumerate(sockets):
        t.give_back(_Conn(ws, f"tok{i}"))
    assert sockets[0].terminated and list(t._idle) == ["tok1", "tok2"]
    await t.aclose()
    assert all(ws.terminated for ws in sockets)
    late = FakeWs()
    t.give_back(_Conn(late, "tok9"))  # after shutdown nothing is kept
    assert late.terminated
