"""`grok2api backup FILE` and `grok2api restore FILE` (`ops.backup`: the archive's format).
Both work on the database and DATA_DIR of the current environment (DATABASE_URL, DATA_DIR);
stop the servers for a restore, which refuses a target that already holds data unless
--force."""
from __future__ import annotations

from pathlib import Path

import click

__all__ = ["backup_cmd", "restore_cmd"]


@click.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--with-secrets", is_flag=True,
              help="Keep the config's secrets (app.app_key, app.api_key, proxy credentials, "
                   "Cloudflare cookies, metrics.token, video.webhook_secret).")
@click.option("--with-media", is_flag=True, help="Also the cached media files themselves.")
def backup_cmd(file: Path, with_secrets: bool, with_media: bool) -> None:
    """Write accounts (with their tokens, states and counters), client keys (hashes) and
    their counters, usage aggregates, video jobs, config.toml and the media index into one
    archive (tar.gz, mode 0600)."""
    from ops.backup import BackupError, make_backup
    from state.boot import BootConfig, BootError

    try:
        manifest = make_backup(BootConfig.from_env(), file, with_secrets=with_secrets,
                               with_media=with_media)
    except (BootError, BackupError) as exc:
        raise click.ClickException(str(exc)) from None
    counts = ", ".join(f"{n} {k}" for k, n in manifest["counts"].items())
    click.echo(f"wrote {file}: {counts}; {manifest['media_files']} media files listed"
               + (" and included" if with_media else ""))
    click.echo("the archive holds the account tokens: keep it as safe as the database")
    removed = manifest["secrets"]["config_secrets_removed"]
    if removed:
        click.echo("left out of config.toml (--with-secrets keeps them): " + ", ".join(removed))


@click.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--force", is_flag=True,
              help="Replace what the target database and config.toml already hold.")
def restore_cmd(file: Path, force: bool) -> None:
    """Restore an archive of `grok2api backup` into an empty database (any of SQLite,
    PostgreSQL, MySQL, whichever it was made on) and a DATA_DIR without config.toml."""
    from ops.backup import BackupError, restore_backup
    from state.boot import BootConfig, BootError

    try:
        boot = BootConfig.from_env()
        result = restore_backup(boot, file, force=force)
    except (BootError, BackupError) as exc:
        raise click.ClickException(str(exc)) from None
    counts = ", ".join(f"{n} {k}" for k, n in result.counts.items())
    click.echo(f"restored {counts}" + ("; config.toml" if result.config else ""))
    listed = int(result.manifest.get("media_files", 0))
    if result.media:
        click.echo(f"{result.media} media files restored")
    elif listed:
        click.echo(f"the archive lists {listed} media files without their bytes: copy "
                   f"the old DATA_DIR/media folder to {boot.data_dir / 'media'}")
    if not result.manifest.get("secrets", {}).get("config_secrets") and result.config:
        click.echo("config.toml was backed up without its secrets: set app.app_key (and "
                   "app.api_key) again, e.g. grok2api config set app.app_key …")
