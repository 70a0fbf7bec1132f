"""`simulate`: run the grok.com simulator as a standalone server (registered in ops/cli.py)."""
from __future__ import annotations

import asyncio
from pathlib import Path

import click

from ops.simulator.state import TIERS, SimulatorState

#: The benchmark opens ~1,000 connections at once; aiohttp's default backlog (128) makes
#: the excess wait for SYN retransmits (1 s, 3 s …).
LISTEN_BACKLOG = 4096


def load_tokens(path: Path) -> list[str]:
    """One token per line; blank lines and `#` comments skipped, a leading `sso=` stripped."""
    tokens: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        value = line.strip()
        if not value or value.startswith("#"):
            continue
        if value.startswith("sso="):
            value = value[4:]
        tokens.append(value)
    return tokens


def _install_uvloop() -> bool:
    try:
        import uvloop  # type: ignore[import-not-found]
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True


@click.command("simulate")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=9000, show_default=True, type=int, help="Port to bind.")
@click.option("--tokens-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Pre-register these sso tokens (one per line).")
@click.option("--tier", type=click.Choice(TIERS), default="super", show_default=True,
              help="Tier of the pre-registered tokens.")
@click.option("--no-quota", is_flag=True, help="Never enforce or consume quota (benchmarks).")
@click.option("--strict-statsig", is_flag=True, help="Reject x-statsig-id values decoding to 'e:'.")
@click.option("--cloudflare", is_flag=True,
              help="Emulate Cloudflare: require a cf_clearance cookie issued by "
                   "POST /__sim/clearance, sent with the User-Agent it was issued for.")
@click.option("--quiet", is_flag=True, help="No access log and no banner.")
def simulate(host: str, port: int, tokens_file: Path | None, tier: str, no_quota: bool,
             strict_statsig: bool, cloudflare: bool, quiet: bool) -> None:
    """Serve a local grok.com stand-in (chat, rate-limits, upload, CDN, /__sim/ control API)."""
    from aiohttp import web

    from ops.simulator.app import create_app

    state = SimulatorState()
    state.quota_enabled = not no_quota
    state.strict_statsig = strict_statsig
    state.cloudflare = cloudflare
    if tokens_file is not None:
        for token in load_tokens(tokens_file):
            state.add_token(token, tier)
    uv = _install_uvloop()
    if not quiet:
        click.echo(f"grok simulator on http://{host}:{port} ({len(state.tokens)} tokens, "
                   f"tier {tier}, {'uvloop' if uv else 'asyncio'})")
    web.run_app(
        create_app(state),
        host=host,
        port=port,
        handler_cancellation=True,
        access_log=None if quiet else web.access_logger,
        print=None,
        shutdown_timeout=1.0,
        backlog=LISTEN_BACKLOG,
    )


if __name__ == "__main__":  # pragma: no cover
    simulate()
