"""The `grok2api` command line: `serve` here, every other sub-command imported when used."""
from __future__ import annotations

import click


class LazyGroup(click.Group):
    """Imports a sub-command's module only when it is used: `grok2api serve` should not pay
    for the simulator or the benchmark."""

    commands_by_name = {
        "simulate": ("ops.simulator.cli", "simulate"),
        "bench": ("ops.bench", "bench"),
        "bench-pool": ("ops.bench_pool", "bench_pool"),
        "config": ("ops.cli_config", "config"),
        "accounts": ("ops.cli_accounts", "accounts"),
        "keys": ("ops.cli_keys", "keys"),
        "cache": ("ops.cli_cache", "cache"),
        "db": ("ops.cli_db", "db"),
        "web": ("ops.web_vendor", "web"),
        "smoke": ("ops.smoke", "smoke"),
        "migrate": ("ops.cli_migrate", "migrate_cmd"),
        "backup": ("ops.cli_backup", "backup_cmd"),
        "restore": ("ops.cli_backup", "restore_cmd"),
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.commands_by_name])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.commands_by_name:
            import importlib

            module, attr = self.commands_by_name[name]
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup)
def main() -> None:
    """Grok2API: OpenAI- and Anthropic-compatible gateway for a pool of grok.com accounts."""


@main.command()
@click.option("--host", envvar="SERVER_HOST", default=None, help="Bind address (SERVER_HOST).")
@click.option("--port", envvar=["SERVER_PORT", "PORT"], type=int, default=None,
              help="Port (SERVER_PORT, then $PORT, default 8000).")
@click.option("--workers", envvar="SERVER_WORKERS", type=int, default=None)
def serve(host: str | None, port: int | None, workers: int | None) -> None:
    """Run the gateway (Hypercorn)."""
    from ops.serve import serve as run_server
    from state.boot import BootConfig, BootError
    from state.db_check import DatabaseUnavailable, check_database

    try:
        boot = BootConfig.from_env()
        # before any worker starts: a wrong DATABASE_URL is one line, not a traceback per worker
        check_database(boot)
    except (BootError, DatabaseUnavailable) as exc:
        raise click.ClickException(str(exc)) from None
    if host:
        boot.host = host
    if port:
        boot.port = port
    if workers:
        boot.workers = workers
    raise SystemExit(run_server(boot))


if __name__ == "__main__":
    main()
