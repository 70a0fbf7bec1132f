"""Opening the peewee database: SQLite by default, PostgreSQL or MySQL/MariaDB from a URL."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import peewee

if TYPE_CHECKING:  # pragma: no cover
    from state.boot import BootConfig

__all__ = ["SCHEMES", "SQLITE_PRAGMAS", "normalize_url", "open_database", "open_sqlite",
           "open_url", "redact_url"]

#: Passed as `pragmas=` (never as URL query parameters: `db_url` would turn those into
#: connect() arguments and SQLite would silently ignore them).
SQLITE_PRAGMAS: dict[str, Any] = {
    "journal_mode": "wal",
    "synchronous": "normal",
    "busy_timeout": 5000,
    "foreign_keys": 1,
}

#: URL schemes accepted → the kind of database.
SCHEMES = {
    "postgres": "postgresql", "postgresql": "postgresql", "pgsql": "postgresql", "pg": "postgresql",
    "mysql": "mysql", "mariadb": "mysql",
    "sqlite": "sqlite", "sqlite3": "sqlite",
}


def normalize_url(url: str) -> tuple[str, str]:
    """(kind, url) with the scheme reduced to postgresql | mysql | sqlite; driver suffixes of
    SQLAlchemy-style URLs (`postgresql+asyncpg://`, `mysql+aiomysql://`) are dropped."""
    parts = urlsplit(url.strip())
    base = parts.scheme.lower().split("+", 1)[0]
    kind = SCHEMES.get(base)
    if kind is None:
        raise ValueError(f"unsupported database URL scheme {parts.scheme!r}: "
                         "use postgresql://, mysql:// or sqlite:///")
    return kind, urlunsplit((kind, *parts[1:]))


#: Seconds a server database may take to accept a connection: an unreachable host is an error
#: after this, not a hang of the operating system's TCP timeout (minutes).
CONNECT_TIMEOUT = 10
_SECRET_PARAMS = frozenset({"password", "passwd", "pass", "sslpassword"})


def redact_url(url: str) -> str:
    """The URL as it may be shown or logged: the password (and password parameters) as ***."""
    parts = urlsplit(url.strip())
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _, hostport = netloc.rpartition("@")
        netloc = f"{userinfo.split(':', 1)[0]}:***@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "***" if k.lower() in _SECRET_PARAMS else v) for k, v in pairs],
                          safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def open_sqlite(path: Path | str) -> peewee.SqliteDatabase:
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    return peewee.SqliteDatabase(str(path), pragmas=dict(SQLITE_PRAGMAS))


def open_url(url: str, *, pool_size: int = 5, recycle: int = 1800) -> peewee.Database:
    """A server database from a URL. Query parameters (`sslmode`, …) become connect arguments.

    Server databases are pooled: the database thread returns its connection after each job,
    and connections older than `recycle` seconds are replaced (servers drop idle ones)."""
    from playhouse.db_url import connect

    kind, norm = normalize_url(url)
    if kind == "sqlite":  # sqlite:///relative.db, sqlite:////absolute.db
        rest = url.strip().split(":", 1)[1]
        path = rest[3:] if rest.startswith("///") else rest.lstrip("/")
        return open_sqlite(path.split("?", 1)[0] or ":memory:")
    scheme = "postgresql+pool" if kind == "postgresql" else "mysql+pool"
    extra: dict[str, Any] = {"max_connections": pool_size, "stale_timeout": recycle}
    parsed = urlsplit(norm)
    if kind == "mysql":
        extra.setdefault("charset", "utf8mb4")
    # pymysql waits 10 s by default already; libpq waits for ever unless told
    if kind == "postgresql" and "connect_timeout" not in dict(parse_qsl(parsed.query)):
        extra["connect_timeout"] = CONNECT_TIMEOUT
    return connect(urlunsplit((scheme, *parsed[1:])), unquote_password=True, unquote_user=True,
                   **extra)


def open_database(boot: BootConfig) -> peewee.Database:
    """The account database described by the startup configuration (not yet connected)."""
    if boot.database_url:
        return open_url(boot.database_url, pool_size=boot.sql_pool_size,
                        recycle=boot.sql_pool_recycle)
    boot.ensure_data_dir()
    return open_sqlite(boot.account_local_path)
