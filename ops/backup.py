"""Backup and restore archives (`grok2api backup FILE`, `grok2api restore FILE`).

The archive is a gzip-compressed tar (format `grok2api-backup`, version 1):

    manifest.json           format, version, created_at (unix s), gateway schema version,
                            source database kind, row counts per table, media count, and
                            `secrets`: what secrets the archive holds
    tables/<table>.jsonl    one JSON object per row (`state.backup_tables.TABLES`)
    config.toml             ${DATA_DIR}/config.toml; without --with-secrets the secret
                            settings (app.app_key, app.api_key, proxy credentials, the
                            Cloudflare cookies, metrics.token, video.webhook_secret) removed
    media_index.jsonl       the media cache's files: kind, name, size, mtime
    media/<kind>/<name>     the files themselves, only with --with-media

Account tokens are the accounts: an archive without them would restore nothing usable, so
they are always in it (`secrets.account_tokens: true`) and the file is written mode 0600.
Client keys are stored as hashes only, so no key value is ever in an archive.

Restore goes into an empty database and a data directory without `config.toml`; anything
else is refused with what would be overwritten, unless `force`, which replaces those tables
and that file. The database may be of another kind than the one backed up.
"""
from __future__ import annotations

import io
import os
import re
import tarfile
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import tomlkit

from state.backup_tables import TABLES, clear_tables, count_rows, dump_rows, load_rows
from state.boot import BootConfig
from state.redact import SECRET_OPTIONS

__all__ = ["BackupError", "FORMAT", "VERSION", "make_backup", "restore_backup"]

FORMAT = "grok2api-backup"
VERSION = 1
CONFIG_SECRETS: tuple[str, ...] = (*SECRET_OPTIONS, "video.webhook_secret",
                                   "proxy.egress.resource_proxy_url",
                                   "proxy.egress.resource_proxy_pool")
_MEDIA_NAME = re.compile(r"media/(image|video)/[A-Za-z0-9_-]{32}\.[a-z0-9]{2,4}")


class BackupError(Exception):
    """The archive cannot be made or restored (the message says why)."""


@dataclass(slots=True)
class RestoreResult:
    counts: dict[str, int] = field(default_factory=dict)
    config: bool = False
    media: int = 0
    manifest: dict[str, Any] = field(default_factory=dict)


def _database(boot: BootConfig, *, create: bool) -> Any:
    from state.db_check import DatabaseUnavailable, open_checked
    from state.dbthread import DBThread
    from state.migrations import migrate

    if create:
        boot.ensure_data_dir()
    elif boot.database_url is None and not Path(boot.account_local_path).is_file():
        raise BackupError(f"no database at {boot.account_local_path} (DATA_DIR={boot.data_dir})")
    try:
        db = open_checked(boot)
    except DatabaseUnavailable as exc:
        raise BackupError(str(exc)) from None
    thread = DBThread(db)
    version = thread.run_sync(migrate, db)
    return thread, version


def _kind(boot: BootConfig) -> str:
    from state.db import normalize_url

    return normalize_url(boot.database_url)[0] if boot.database_url else "sqlite"


def config_text(path: Path, with_secrets: bool) -> tuple[str | None, list[str]]:
    """The config file as archived, and the secret keys left out of it."""
    if not path.is_file():
        return None, []
    text = path.read_text("utf-8-sig")
    if with_secrets:
        return text, []
    doc = tomlkit.parse(text)
    removed: list[str] = []
    for key in CONFIG_SECRETS:
        *parents, leaf = key.split(".")
        node: Any = doc
        for part in parents:
            node = node.get(part) if hasattr(node, "get") else None
            if node is None:
                break
        if node is not None and hasattr(node, "get") and leaf in node:
            del node[leaf]
            removed.append(key)
    # the older flat spellings of the same secrets
    for key in ("proxy.cf_cookies", "proxy.cf_clearance", "proxy.clearance.cf_clearance"):
        section, _, leaf = key.rpartition(".")
        node = doc
        for part in section.split("."):
            node = node.get(part) if hasattr(node, "get") else None
            if node is None:
                break
        if node is not None and leaf in node:
            del node[leaf]
            removed.append(key)
    return tomlkit.dumps(doc), removed


def _media_files(data_dir: Path) -> Iterator[tuple[str, Path, os.stat_result]]:
    for kind in ("image", "video"):
        directory = data_dir / "media" / kind
        if not directory.is_dir():
            continue
        for entry in sorted(directory.iterdir()):
            name = f"media/{kind}/{entry.name}"
            if entry.is_file() and not entry.is_symlink() and _MEDIA_NAME.fullmatch(name):
                yield name, entry, entry.stat()


def _add(tar: tarfile.TarFile, name: str, data: bytes, mtime: float) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(mtime)
    info.mode = 0o600
    tar.addfile(info, io.BytesIO(data))


def make_backup(boot: BootConfig, target: Path, *, with_secrets: bool = False,
                with_media: bool = False) -> dict[str, Any]:
    """Write the archive; returns its manifest."""
    thread, version = _database(boot, create=False)
    now = time.time()
    tmp = target.with_name(f".{target.name}.part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds account tokens
    counts: dict[str, int] = {}
    try:
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            for name in TABLES:
                rows = thread.run_sync(lambda n=name: [orjson.dumps(r) for r in dump_rows(n)])
                counts[name] = len(rows)
                _add(tar, f"tables/{name}.jsonl", b"\n".join(rows) + (b"\n" if rows else b""),
                     now)
            text, removed = config_text(Path(boot.config_local_path), with_secrets)
            if text is not None:
                _add(tar, "config.toml", text.encode("utf-8"), now)
            index = []
            for name, path, st in _media_files(boot.data_dir):
                kind = name.split("/")[1]
                index.append(orjson.dumps({"kind": kind, "name": path.name, "size": st.st_size,
                                           "mtime": st.st_mtime}))
                if with_media:
                    tar.add(path, arcname=name, recursive=False)
            _add(tar, "media_index.jsonl", b"\n".join(index) + (b"\n" if index else b""), now)
            manifest = {
                "format": FORMAT, "version": VERSION, "created_at": int(now),
                "schema_version": version, "database": _kind(boot), "counts": counts,
                "config": text is not None, "media_files": len(index),
                "media_included": with_media,
                "secrets": {"account_tokens": True, "client_keys": "sha256 hashes only",
                            "config_secrets": with_secrets and text is not None,
                            "config_secrets_removed": removed},
            }
            _add(tar, "manifest.json", orjson.dumps(manifest, option=orjson.OPT_INDENT_2), now)
        os.replace(tmp, target)
    finally:
        thread.close()
        if tmp.exists():
            tmp.unlink()
    return manifest


def _read_manifest(tar: tarfile.TarFile) -> dict[str, Any]:
    try:
        manifest = orjson.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    except (KeyError, AttributeError, orjson.JSONDecodeError):
        raise BackupError("not a grok2api backup: no readable manifest.json") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"not a grok2api backup (format {manifest.get('format')!r})")
    if int(manifest.get("version", 0)) > VERSION:
        raise BackupError(f"archive version {manifest['version']} is newer than this "
                          f"gateway reads ({VERSION}): upgrade grok2api first")
    return manifest


def _lines(tar: tarfile.TarFile, name: str) -> list[dict[str, Any]]:
    try:
        member = tar.extractfile(name)
    except KeyError:
        return []
    if member is None:
        return []
    return [orjson.loads(line) for line in member.read().splitlines() if line.strip()]


def restore_backup(boot: BootConfig, source: Path, *, force: bool = False) -> RestoreResult:
    """Restore the archive into the database and DATA_DIR of `boot`."""
    try:
        tar = tarfile.open(source, mode="r:gz")
    except (OSError, tarfile.TarError) as exc:
        raise BackupError(f"{source}: cannot read the archive ({exc})") from None
    with tar:
        manifest = _read_manifest(tar)
        if int(manifest.get("schema_version", 0)) > _latest():
            raise BackupError("the archive comes from a newer schema "
                              f"({manifest['schema_version']}): upgrade grok2api first")
        config_path = Path(boot.config_local_path)
        thread, _ = _database(boot, create=True)
        try:
            present = {k: v for k, v in thread.run_sync(count_rows).items()
                       if v and k != "account_meta"}
            clash = [f"{name}: {n} row(s)" for name, n in present.items()]
            if manifest.get("config") and config_path.is_file():
                clash.append(f"{config_path} exists")
            if clash and not force:
                raise BackupError("the target is not empty; restoring would overwrite "
                                  + "; ".join(clash) + ". Use --force to replace them.")
            result = RestoreResult(manifest=manifest)
            thread.run_sync(clear_tables, list(TABLES))
            for name in TABLES:
                rows = _lines(tar, f"tables/{name}.jsonl")
                result.counts[name] = thread.run_sync(load_rows, name, rows)
        finally:
            thread.close()
        if manifest.get("config"):
            from state.tomlfile import atomic_write

            text = tar.extractfile("config.toml").read().decode("utf-8")  # type: ignore[union-attr]
            tomllib.loads(text)
            atomic_write(config_path, text)
            result.config = True
        for member in tar.getmembers():
            if member.isfile() and _MEDIA_NAME.fullmatch(member.name):
                target = boot.data_dir / member.name
                target.parent.mkdir(parents=True, exist_ok=True)
                data = tar.extractfile(member).read()  # type: ignore[union-attr]
                target.write_bytes(data)
                os.utime(target, (member.mtime, member.mtime))
                result.media += 1
    return result


def _latest() -> int:
    from state.migrations import latest_version

    return latest_version()
