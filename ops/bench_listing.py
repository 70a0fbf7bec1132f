"""`python -m ops.bench_listing`: how long `GET /admin/api/tokens` takes with 100,000
accounts, per page, for the accounts page's usual requests (filters, sorts, far pages).

The app runs in this process with a temporary DATA_DIR and nothing upstream; the accounts
are put in its pool directly (no database write). Each request goes through the app's full
Quart stack (auth, the listing, JSON). A request right after an admin write makes the counts
too (`write`); one after a pause past their ttl is served with the old counts while they are
made again behind it (`paused`); the rest are pages within their lifetime (`page`)."""
from __future__ import annotations

import asyncio
import gc
import random
import statistics
import tempfile
import time
from typing import Any

import click

from quart_app.admin.common import admin_state
from state.account import Account

KEY = "bench-listing-secret"
QUERIES = [
    "page=1&page_size=50",
    "page=1000&page_size=50",
    "page=1&page_size=50&sort=last_used_at&order=desc",
    "page=1&page_size=50&sort=remaining&order=desc",
    "page=1&page_size=50&status=active&sort=use_count&order=desc",
    "page=1&page_size=50&status=invalid",
    "page=1&page_size=50&pool=super&nsfw=true",
    "page=1&page_size=50&tag=team-a&sort=token",
    "page=1&page_size=50&search=blue",
    "page=1&page_size=200&sort=success_rate",
]


def _table(n: int) -> list[Account]:
    rng = random.Random(7)
    out = []
    for i in range(n):
        acc = Account.new(f"eyJhbGciOiJIUzI1NiJ9.bench-{i:06d}.{rng.getrandbits(128):032x}",
                          rng.choice(("basic", "super", "super", "heavy")), now=0)
        acc.status = rng.choice(("active",) * 6 + ("cooling", "expired", "disabled"))
        acc.tags = rng.choice(([], [], ["nsfw"], ["team-a"], ["team-a", "nsfw"]))
        acc.note = rng.choice(("", "", "team blue"))
        acc.usage_use_count = rng.randrange(500)
        acc.usage_fail_count = rng.randrange(20)
        acc.last_use_at = rng.randrange(1, 1_700_000_000_000)
        out.append(acc)
    return out


async def _run(size: int, repeat: int) -> list[dict[str, Any]]:
    from quart_app.app import create_app
    from state.boot import BootConfig
    from state.settings import Settings

    with tempfile.TemporaryDirectory() as data_dir:
        env = {"DATA_DIR": data_dir, "GROK_UPSTREAM_BASE_URL": "http://127.0.0.1:9",
               "GROK_ACCOUNT__REFRESH__ENABLED": "false", "GROK_APP_APP_KEY": KEY}
        boot = BootConfig.from_env(env, dotenv=False)
        app = create_app(boot, Settings.from_boot(boot))
        async with app.test_app() as test_app:
            client = test_app.test_client()
            app.extensions["grok2api"].pool.load(_table(size))
            gc.collect()
            gc.freeze()  # the loaded table, as `grok2api serve` has it
            headers = {"Authorization": f"Bearer {KEY}"}
            results = []
            for query in QUERIES:
                samples: dict[str, list[float]] = {"write": [], "paused": [], "page": []}
                for _ in range(repeat):
                    for kind in samples:
                        async with app.app_context():
                            cache = admin_state().counts
                            if kind == "write":
                                cache.forget()  # as after an operator's change
                            elif kind == "paused":
                                cache.expire()  # as after the reader paused past the ttl
                        started = time.perf_counter()
                        resp = await client.get(f"/admin/api/tokens?{query}", headers=headers)
                        await resp.get_data()
                        samples[kind].append((time.perf_counter() - started) * 1000)
                        assert resp.status_code == 200, await resp.get_data()
                        await cache.settled()  # the recount behind a paused page ends first
                results.append({"query": query,
                                **{k: statistics.median(v) for k, v in samples.items()},
                                "max": max(max(v) for k, v in samples.items() if k != "write")})
            return results


@click.command()
@click.option("--size", default=100_000, show_default=True, help="accounts in the pool")
@click.option("--repeat", default=5, show_default=True, help="runs of each query")
def main(size: int, repeat: int) -> None:
    """Median ms per listing request: after an admin write (the counts made afresh in the
    request), after a pause past their ttl (old counts served, a recount behind the answer),
    and within their ttl; max: the slowest of the last two."""
    click.echo(f"{size} accounts, median of {repeat} (ms)")
    click.echo(f"{'query':<62} {'write':>7} {'paused':>7} {'page':>7} {'max':>7}")
    for row in asyncio.run(_run(size, repeat)):
        click.echo(f"{row['query']:<62} {row['write']:>7.0f} {row['paused']:>7.0f} "
                   f"{row['page']:>7.0f} {row['max']:>7.0f}")


if __name__ == "__main__":
    main()
