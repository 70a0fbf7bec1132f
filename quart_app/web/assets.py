"""`/static/*`: the pages' scripts, styles and vendored libraries. Browsers revalidate each
file on use (`no-cache`: a 304 when unchanged), so the modules a page imports (`./core.js`,
which no version string can follow) are never stale after an upgrade."""
from __future__ import annotations

from pathlib import Path

from quart import Blueprint, Response, send_from_directory

__all__ = ["STATIC_DIR", "bp"]

STATIC_DIR = Path(__file__).parent / "static"

bp = Blueprint("web_static", __name__)


@bp.get("/static/<path:filename>")
async def static_file(filename: str) -> Response:
    # send_from_directory refuses paths that leave the folder (`..`, absolute)
    response = await send_from_directory(STATIC_DIR, filename)
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
