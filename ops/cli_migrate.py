"""`grok2api migrate FROM_DIR [--apply]`: an older gateway's data directory into this one
(`ops.migrate`). A dry run by default: the report says what would be written and why each
older setting maps or is dropped; `--apply` writes it. Running it again writes nothing."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
import orjson

__all__ = ["migrate_cmd"]

_ACTIONS = {"write": "write", "same": "same", "kept": "keep (the target sets another value)",
            "default": "skip (today's default)", "shadowed": "skip (an earlier source set it)"}


def _text(rep: dict[str, Any]) -> list[str]:
    lines = [f"from: {rep['from']}" + ("" if rep["applied"] else
                                         "  (dry run: nothing written; --apply writes)"),
             "found: " + (", ".join(rep["found"]) or "nothing a gateway leaves behind")]
    if rep["config"] or rep["config_dropped"]:
        lines.append("config:")
        for c in rep["config"]:
            arrow = c["old"] if c["old"] == c["new"] else f"{c['old']} -> {c['new']}"
            lines.append(f"  {_ACTIONS[c['action']]:<8} {arrow} = "
                         f"{orjson.dumps(c['value']).decode()}  [{c['source']}]")
        for d in rep["config_dropped"]:
            lines.append(f"  dropped  {d['old']}: {d['reason']}  [{d['source']}]")
    acc = rep["accounts"]
    for src in acc["sources"]:
        lines.append(f"accounts: {src['read']} read from {src['source']}")
        lines += [f"  problem: {p}" for p in src["problems"]]
    if acc["sources"]:
        pools = ", ".join(f"{p} {n}" for p, n in sorted(acc["new_by_pool"].items()))
        lines.append(f"accounts: {acc['new']} new" + (f" ({pools})" if pools else "")
                     + f", {acc['already_there']} already there (left as they are)")
    keys = rep["keys"]
    if keys["new"] or keys["already_there"] or keys["problems"]:
        lines.append(f"client keys: {len(keys['new'])} new"
                     + (f" ({', '.join(keys['new'])})" if keys["new"] else "")
                     + f", {len(keys['already_there'])} already there")
        lines += [f"  problem: {p}" for p in keys["problems"]]
    media = rep["media"]
    if any(media["new"].values()) or media["already_there"] or media["skipped"]:
        lines.append(f"media: {media['new']['image']} images and {media['new']['video']} "
                     f"videos new ({media['new_bytes'] / (1 << 20):.1f} MiB), "
                     f"{media['already_there']} already there")
        lines += [f"  skipped {s['file']}: {s['reason']}" for s in media["skipped"]]
    lines += [f"error: {e}" for e in rep["errors"]]
    if rep["written"] is not None:
        w = rep["written"]
        lines.append(f"written: {w['config']} settings, {w['accounts']} accounts, "
                     f"{w['keys']} keys, {w['media']} media files")
    else:
        lines.append(f"{rep['changes']} change(s) to make" if rep["changes"]
                     else "nothing to change")
    return lines


@click.command("migrate")
@click.argument("from_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--apply", "do_apply", is_flag=True, help="Write (without it: a dry run).")
@click.option("--env-file", "env_files", multiple=True, type=click.Path(dir_okay=False,
              path_type=Path), help="The old gateway's .env (repeat; default: FROM_DIR/.env "
              "and FROM_DIR/../.env).")
@click.option("--source-url", "source_urls", multiple=True,
              help="An old account store to read (redis://, mysql://, postgresql://; repeat).")
@click.option("--json", "as_json", is_flag=True, help="The report as JSON.")
def migrate_cmd(from_dir: Path, do_apply: bool, env_files: Sequence[Path],
                source_urls: Sequence[str], as_json: bool) -> None:
    """Take over an older FastAPI gateway's data directory: config (config.toml, its [grok]
    section, setting.toml), accounts (token.json, accounts.db, its MySQL / PostgreSQL / Redis
    store), the fork's API keys and cached media. Exit 1 when something could not be read."""
    from ops.migrate import MigrationError, apply_plan, make_plan, report
    from state.boot import BootConfig, BootError

    try:
        boot = BootConfig.from_env()
        plan = make_plan(from_dir, boot, env_files=env_files, source_urls=source_urls)
        written = apply_plan(plan, boot) if do_apply else None
    except (BootError, MigrationError) as exc:
        raise click.ClickException(str(exc)) from None
    rep = report(plan, written)
    if as_json:
        click.echo(orjson.dumps(rep, option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo("\n".join(_text(rep)))
    if rep["errors"]:
        raise SystemExit(1)
