"""Readiness of one serving process, for `/readyz`: what must hold before a load balancer
sends it traffic. Liveness (`/healthz`) needs none of this: a live process answers."""
from __future__ import annotations

import asyncio
from typing import Any

#: Seconds the database may take to answer the readiness ping (its thread may be busy with a
#: write-behind batch; longer than this and the process is not ready).
DB_TIMEOUT_SEC = 2.0


def _ping(db: Any) -> None:
    db.execute_sql("SELECT 1")


async def not_ready_reason(svc: Any, timeout: float | None = None) -> str | None:
    """None when the process is ready, else why not: the services have not started (the
    pool is not loaded), the database does not answer within `timeout` on its thread, or no
    account is usable (every one expired, disabled, deleted or cooling)."""
    if svc.pipeline is None:
        return "starting: the account pool is not loaded yet"
    timeout = DB_TIMEOUT_SEC if timeout is None else timeout
    accounts = svc.accounts
    try:
        await asyncio.wait_for(accounts.thread.run(_ping, accounts.db), timeout)
    except TimeoutError:
        return f"database did not answer within {timeout:g} s"
    except Exception as exc:  # noqa: BLE001 - any driver error means not ready
        return f"database unreachable ({type(exc).__name__})"
    pool = svc.pool
    if not any(pool.usable(acc.token) for acc in pool.all()):
        return "no usable account (none active, or all expired, disabled or cooling)"
    return None
