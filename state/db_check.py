"""Opening the account database with a first connection, so that a misconfigured URL is one
clear line (what is wrong, with which database) instead of a driver traceback.

Commands that need the database (`serve`, `db …`, `accounts …`) open it through
`open_checked`; `DatabaseUnavailable` carries the line to print. The URL is only ever shown
with its password masked (`redact_url`)."""
from __future__ import annotations

import difflib
import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import peewee

from state.db import SCHEMES, normalize_url, open_database, redact_url

if TYPE_CHECKING:  # pragma: no cover
    from state.boot import BootConfig

__all__ = ["DatabaseUnavailable", "check_database", "describe_error", "open_checked"]

#: The driver each server database needs, as pip names it (both ship with grok2api).
_DRIVERS = {"postgresql": "psycopg2-binary", "mysql": "pymysql"}

# Driver messages, by what they mean to the person who wrote the URL. PostgreSQL's come as
# text only; MySQL's carry a numeric code first (pymysql), matched as "(code)".
_NOT_FOUND = re.compile(r"could not translate host name|Name or service not known|"
                        r"nodename nor servname|getaddrinfo failed|"
                        r"Temporary failure in name resolution|No address associated", re.I)
_REFUSED = re.compile(r"Connection refused|\(2003\)|\(2002\)|No route to host|"
                      r"Network is unreachable|timeout expired|timed out|"
                      r"could not connect to server|Can't connect to", re.I)
_NO_DATABASE = re.compile(r'database "[^"]*" does not exist|\(1049\)|Unknown database', re.I)
_AUTH = re.compile(r"password authentication failed|no password supplied|"
                   r'role "[^"]*" does not exist|pg_hba\.conf|authentication failed|'
                   r"\(1045\)|\(1044\)|\(1698\)|Access denied", re.I)


class DatabaseUnavailable(Exception):
    """The account database cannot be used; `str()` is one line, with no secret in it."""


def _where(url: str) -> str:
    """`host:port/name` of a server URL (no credentials)."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"{host}{port}/{parts.path.lstrip('/')}"


def _bad_url(url: str, variable: str, exc: ValueError) -> str:
    """What is wrong with a URL that could not even be opened: its scheme, or its form."""
    try:
        normalize_url(url)
    except ValueError:
        return _unsupported_scheme(url, variable)
    return f"{variable} is not a valid database URL ({exc}): {redact_url(url)}"


def _unsupported_scheme(url: str, variable: str) -> str:
    scheme = urlsplit(url.strip()).scheme
    if not scheme:
        return (f"{variable} is not a database URL (no scheme): use "
                "postgresql://user:password@host:5432/name, mysql://… or sqlite:///path")
    guess = difflib.get_close_matches(scheme.lower().split("+", 1)[0], list(SCHEMES), n=1)
    hint = f" (did you mean {guess[0]}://?)" if guess else ""
    return (f"{variable} has an unsupported scheme {scheme!r}{hint}: use postgresql://, "
            "mysql:// or sqlite:///")


def describe_error(exc: BaseException, url: str | None, variable: str = "DATABASE_URL") -> str:
    """One line telling what went wrong opening the database at `url` (None: SQLite file)."""
    detail = " ".join(str(exc.args[-1] if exc.args else exc).split())
    if isinstance(exc, peewee.ImproperlyConfigured):
        kind = normalize_url(url)[0] if url else "sqlite"
        package = _DRIVERS.get(kind, "the driver")
        return (f"the {kind} driver is not installed ({detail}): "
                f"`pip install {package}`, or reinstall grok2api, which depends on it")
    if url is None:
        return f"cannot open the SQLite account database: {detail}"
    shown = redact_url(url)
    kind = normalize_url(url)[0]
    where = _where(url)
    host = where.split("/", 1)[0]
    code = f"({exc.args[0]}) " if exc.args and isinstance(exc.args[0], int) else ""
    text = code + detail
    password = urlsplit(url).password
    if password:  # drivers do not echo passwords, but a message never gets to show one
        text = text.replace(password, "***")
    if _NOT_FOUND.search(text):
        why = f"host {host.rsplit(':', 1)[0]!r} not found"
    elif _NO_DATABASE.search(text):
        why = f"database {where.split('/', 1)[1]!r} does not exist on {host}"
    elif _AUTH.search(text):
        user = urlsplit(url).username or "(none)"
        why = f"authentication failed for user {user!r} on {host}"
    elif _REFUSED.search(text):
        why = f"cannot reach {kind} at {host} (is the server running and the port right?)"
    else:
        why = f"cannot connect to {kind} at {host}: {text}"
    return f"{why}; check {variable} ({shown})"


def open_checked(boot: BootConfig) -> peewee.Database:
    """`open_database` plus one connection (given back at once), so that the URL, the driver,
    the server, the credentials and the database name are known good before any work."""
    url = boot.database_url
    variable = boot.database_url_name
    try:
        database = open_database(boot)
    except ValueError as exc:
        raise DatabaseUnavailable(_bad_url(url or "", variable, exc)) from None
    except OSError as exc:  # the SQLite folder cannot be created
        raise DatabaseUnavailable(describe_error(exc, url, variable)) from None
    try:
        database.connect()
        database.execute_sql("SELECT 1")
    except (peewee.PeeweeException, OSError, TypeError) as exc:  # TypeError: unknown ?option
        _close(database)
        raise DatabaseUnavailable(describe_error(exc, url, variable)) from None
    database.close()
    return database


def check_database(boot: BootConfig) -> None:
    """Raise `DatabaseUnavailable` unless the configured database accepts a connection."""
    _close(open_checked(boot))


def _close(database: peewee.Database) -> None:
    if not database.is_closed():
        database.close()
    close_all = getattr(database, "close_all", None)  # pooled server databases
    if close_all is not None:
        close_all()
