"""A wrong database URL is one clear line from `grok2api serve` and `grok2api db status`:
non-zero exit, no traceback, the password never shown."""
from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

import peewee
import pytest
from click.testing import CliRunner, Result

import ops.serve
from ops.cli import main
from state.db import redact_url

PASSWORD = "pa55-w0rd-never-shown"
PG_URL = os.environ.get("GROK2API_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
MYSQL_URL = os.environ.get("GROK2API_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ("DATABASE_URL", "ACCOUNT_POSTGRESQL_URL", "ACCOUNT_MYSQL_URL",
                 "SERVER_STORAGE_URL", "ACCOUNT_STORAGE", "SERVER_STORAGE_TYPE", "STORAGE_MODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))

    def never_serve(*_args: object) -> int:
        raise AssertionError("the server started despite a broken database URL")

    monkeypatch.setattr(ops.serve, "serve", never_serve)
    return monkeypatch


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(command: list[str]) -> Result:
    return CliRunner().invoke(main, command)


def assert_one_clear_line(result: Result, *expected: str) -> str:
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit), result.exception  # handled, no crash
    assert PASSWORD not in result.output
    for part in expected:
        assert part in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("command", [["db", "status"], ["serve"]])
@pytest.mark.parametrize("scheme, kind", [("postgresql", "postgresql"), ("mysql", "mysql")])
def test_unreachable_host(env, command, scheme, kind) -> None:
    port = closed_port()
    env.setenv("DATABASE_URL", f"{scheme}://admin:{PASSWORD}@127.0.0.1:{port}/accounts")
    line = assert_one_clear_line(run(command), f"cannot reach {kind} at 127.0.0.1:{port}",
                                 "DATABASE_URL", f"{scheme}://admin:***@127.0.0.1:{port}/")
    assert line.startswith("Error: ")


@pytest.mark.parametrize("command", [["db", "status"], ["serve"], ["accounts", "list"]])
def test_misspelled_scheme(env, command) -> None:
    env.setenv("DATABASE_URL", f"postgress://admin:{PASSWORD}@127.0.0.1:5432/accounts")
    assert_one_clear_line(run(command), "DATABASE_URL has an unsupported scheme 'postgress'",
                          "did you mean postgres")


def test_a_malformed_url(env) -> None:
    env.setenv("DATABASE_URL", f"postgresql://admin:{PASSWORD}@127.0.0.1:54x2/accounts")
    assert_one_clear_line(run(["db", "status"]), "DATABASE_URL is not a valid database URL",
                          "postgresql://admin:***@127.0.0.1:54x2/accounts")


def test_the_variable_that_holds_the_url_is_named(env) -> None:
    env.setenv("ACCOUNT_MYSQL_URL", "mysqll://root@127.0.0.1/accounts")
    assert_one_clear_line(run(["db", "status"]), "ACCOUNT_MYSQL_URL has an unsupported scheme",
                          "did you mean mysql")


def test_a_bad_startup_variable_is_one_line_too(env) -> None:
    env.setenv("ACCOUNT_SQL_POOL_SIZE", "five")
    assert_one_clear_line(run(["serve"]), "ACCOUNT_SQL_POOL_SIZE must be an integer")


def test_a_missing_driver_says_what_to_install(env) -> None:
    env.setattr(peewee, "psycopg2", None)
    env.setattr(peewee, "psycopg", None)
    env.setenv("DATABASE_URL", f"postgres://admin:{PASSWORD}@127.0.0.1:{closed_port()}/x")
    assert_one_clear_line(run(["db", "status"]), "postgresql driver is not installed",
                          "pip install psycopg2-binary")


def _reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=1):
            return True
    except OSError:
        return False


def _server(url: str) -> str:
    if not _reachable(url):
        pytest.skip(f"no database server at {urlsplit(url).netloc}")
    return url


def _with(url: str, *, user: str | None = None, password: str | None = None,
          database: str | None = None) -> str:
    parts = urlsplit(url)
    user = user or parts.username or ""
    secret = f":{password}" if password else (f":{parts.password}" if parts.password else "")
    netloc = f"{user}{secret}@{parts.hostname}:{parts.port}"
    path = "/" + (database or parts.path.lstrip("/"))
    return f"{parts.scheme}://{netloc}{path}"


@pytest.mark.parametrize("base", [PG_URL, MYSQL_URL], ids=["postgresql", "mysql"])
def test_wrong_database_name(env, base) -> None:
    url = _with(_server(base), database="g2a_no_such_database")
    env.setenv("DATABASE_URL", url)
    for command in (["db", "status"], ["serve"]):
        assert_one_clear_line(run(command), "database 'g2a_no_such_database' does not exist",
                              redact_url(url))


@pytest.mark.parametrize("base", [PG_URL, MYSQL_URL], ids=["postgresql", "mysql"])
def test_authentication_failure(env, base) -> None:
    url = _with(_server(base), user="g2a_no_such_user", password=PASSWORD)
    env.setenv("DATABASE_URL", url)
    for command in (["db", "status"], ["serve"]):
        assert_one_clear_line(run(command), "authentication failed for user 'g2a_no_such_user'")


def test_redact_url_masks_passwords_only() -> None:
    assert redact_url(f"postgresql://u:{PASSWORD}@h:5432/db?sslmode=require") == \
        "postgresql://u:***@h:5432/db?sslmode=require"
    assert redact_url(f"mysql://h/db?user=u&password={PASSWORD}") == \
        "mysql://h/db?user=u&password=***"
    assert redact_url("postgresql://u@h/db") == "postgresql://u@h/db"
