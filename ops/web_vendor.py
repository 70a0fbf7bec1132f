"""`grok2api web vendor`: the front-end libraries the pages use, copied into
`quart_app/web/static/vendor/` from the npm registry, so the pages need no build step and
fetch nothing from a CDN at run time.

`vendor.json` pins each package's version and the files taken from its tarball (the licence
always among them). The tarball is checked against the registry's `dist.integrity` (SHA-512)
before anything is written. `--check` only says whether the files on disk match the pins.
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import tarfile
import urllib.request
from pathlib import Path

import click

__all__ = ["VENDOR_DIR", "vendor"]

VENDOR_DIR = Path(__file__).resolve().parent.parent / "quart_app" / "web" / "static" / "vendor"
DEFAULT_REGISTRY = "https://registry.npmjs.org"


def _registry() -> str:
    return (os.environ.get("NPM_CONFIG_REGISTRY") or os.environ.get("npm_config_registry")
            or DEFAULT_REGISTRY).rstrip("/")


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as answer:  # noqa: S310 (https registry)
        return answer.read()


def _tarball(name: str, version: str) -> bytes:
    meta = json.loads(_get(f"{_registry()}/{name}/{version}"))
    dist = meta["dist"]
    data = _get(dist["tarball"])
    algo, _, expected = dist["integrity"].partition("-")
    if algo != "sha512" or base64.b64encode(hashlib.sha512(data).digest()).decode() != expected:
        raise click.ClickException(f"{name}@{version}: the tarball does not match the "
                                   f"registry's integrity {dist['integrity'][:24]}…")
    return data


def _extract(data: bytes, files: dict[str, str]) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            if member.name in files and member.isfile():
                found[files[member.name]] = tar.extractfile(member).read()  # type: ignore[union-attr]
    missing = set(files.values()) - set(found)
    if missing:
        raise click.ClickException(f"not in the tarball: {', '.join(sorted(missing))}")
    return found


@click.group("web")
def web() -> None:
    """The admin pages' front-end files."""


@web.command("vendor")
@click.option("--check", is_flag=True, help="Only check that every pinned file is present.")
def vendor(check: bool) -> None:
    """Refresh the vendored libraries of vendor.json from the npm registry."""
    pins = json.loads((VENDOR_DIR / "vendor.json").read_text("utf-8"))
    problems = 0
    for name, pin in pins.items():
        targets = [VENDOR_DIR / rel for rel in pin["files"].values()]
        if check:
            absent = [str(p.relative_to(VENDOR_DIR)) for p in targets if not p.is_file()]
            problems += len(absent)
            click.echo(f"{name}@{pin['version']}: " + (f"missing {', '.join(absent)}"
                                                       if absent else "ok"))
            continue
        for rel, content in _extract(_tarball(name, pin["version"]), pin["files"]).items():
            path = VENDOR_DIR / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        click.echo(f"{name}@{pin['version']}: {len(pin['files'])} files written")
    if problems:
        raise SystemExit(1)
