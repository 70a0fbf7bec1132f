"""The files accounts hold on grok.com, for operators: list an account's assets, delete one,
clear an account, and list every manageable account at once.

A service, not a chain addon: the admin API calls it with the process services (anything with
`pool`, `transport` and `settings`). A call whose answer carries an invalid-credential marker
expires the account, as a quota probe or the NSFW sequence does; any other failure is only
reported. Messages never carry the token (`token_label` in the log).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from addons.upstream.assets import Asset, delete_asset, list_assets
from addons.upstream.base import TransportError
from addons.upstream.classify import UpstreamHTTPError, excerpt
from addons.upstream.config import UpstreamConfig
from state.account import token_label
from state.options import Loader

__all__ = ["AccountAssets", "AssetCallFailed", "ClearResult", "clear_account",
           "delete_one", "list_account", "list_many", "manageable_tokens"]

log = logging.getLogger(__name__)

T = TypeVar("T")
CONCURRENCY = 10
#: Deletes of one account's assets in flight at once (one account, one egress: stay gentle).
DELETES_PER_ACCOUNT = 4
_LIVE = ("active", "cooling")


def load(loader: Loader) -> None:
    loader.add_option("batch.assets_concurrency", int, CONCURRENCY,
                      "Accounts whose online assets are listed or cleared in parallel (admin "
                      "asset listing and batch cache clear).")


class AssetCallFailed(Exception):
    """A grok.com asset call failed: `status` is upstream's (502 for a broken connection),
    `marker` the invalid-credential marker when the account was expired for it."""

    def __init__(self, message: str, status: int, marker: str | None = None) -> None:
        super().__init__(message)
        self.status, self.marker = status, marker


@dataclass(slots=True)
class AccountAssets:
    token: str
    assets: list[Asset] = field(default_factory=list)
    error: str | None = None


@dataclass(slots=True)
class ClearResult:
    deleted: int = 0
    #: deletes grok.com refused (an asset already gone counts as neither)
    failed: int = 0
    error: str | None = None
    #: the invalid-credential marker the account was expired for, if it was
    expired: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.failed == 0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"deleted": self.deleted, "failed": self.failed}
        if self.error:
            out["error"] = self.error
        if self.expired:
            out["expired"] = self.expired
        return out


def concurrency(services: Any) -> int:
    settings = getattr(services, "settings", None)
    value = settings.options.batch.assets_concurrency if settings is not None else CONCURRENCY
    return max(1, value)


def manageable_tokens(services: Any) -> list[str]:
    """The accounts whose assets can be managed: live ones (active or cooling), in table order."""
    return [a.token for a in services.pool.all() if a.deleted_at is None and a.status in _LIVE]


def _cfg(services: Any) -> UpstreamConfig:
    transport = services.transport
    return getattr(transport, "cfg", None) or UpstreamConfig.from_settings(services.settings)


async def _guarded(services: Any, token: str, what: str, call: Awaitable[T]) -> T:
    """`call`'s result; a failure becomes `AssetCallFailed`, and an invalid-credential marker
    expires the account first."""
    try:
        return await call
    except UpstreamHTTPError as exc:
        if exc.marker:
            services.pool.on_invalid_credentials(token, exc.marker)
            log.info("account %s expired on an asset %s: %s", token_label(token), what,
                     exc.marker)
            raise AssetCallFailed(f"grok.com refused the account's credentials ({exc.marker}): "
                                  "the account is marked expired", exc.status, exc.marker) from None
        raise AssetCallFailed(f"grok.com answered HTTP {exc.status} to the asset {what}",
                              exc.status) from None
    except TransportError as exc:
        raise AssetCallFailed(f"the asset {what} failed: {excerpt(str(exc))}", 502) from None


async def list_account(services: Any, token: str) -> list[Asset]:
    """Every asset of one account; raises `AssetCallFailed`."""
    return await _guarded(services, token, "listing",
                          list_assets(services.transport, _cfg(services), token))


async def delete_one(services: Any, token: str, asset_id: str) -> None:
    """Delete one asset; raises `AssetCallFailed` (status 404: no such asset)."""
    await _guarded(services, token, "delete",
                   delete_asset(services.transport, _cfg(services), token, asset_id))


async def clear_account(services: Any, token: str) -> ClearResult:
    """Delete every asset of one account. Stops at once when the account turns out to be
    dead; an asset that vanished meanwhile (404) is skipped."""
    result = ClearResult()
    try:
        assets = await list_account(services, token)
    except AssetCallFailed as exc:
        result.error, result.expired = str(exc), exc.marker
        return result
    sem = asyncio.Semaphore(DELETES_PER_ACCOUNT)
    dead: list[AssetCallFailed] = []

    async def one(asset: Asset) -> None:
        async with sem:
            if dead:
                return
            try:
                await delete_one(services, token, asset.id)
            except AssetCallFailed as exc:
                if exc.marker:
                    dead.append(exc)
                elif exc.status != 404:
                    result.failed += 1
                    result.error = result.error or str(exc)
                return
            result.deleted += 1

    await asyncio.gather(*(one(a) for a in assets))
    if dead:
        result.error, result.expired = str(dead[0]), dead[0].marker
    return result


async def list_many(services: Any, tokens: Sequence[str]) -> list[AccountAssets]:
    """Each account's assets, `batch.assets_concurrency` accounts at a time, in the order of
    `tokens`; one account's failure is its own `error`."""
    sem = asyncio.Semaphore(concurrency(services))

    async def one(token: str) -> AccountAssets:
        out = AccountAssets(token)
        async with sem:
            try:
                out.assets = await list_account(services, token)
            except AssetCallFailed as exc:
                out.error = str(exc)
        return out

    return list(await asyncio.gather(*(one(t) for t in tokens)))
