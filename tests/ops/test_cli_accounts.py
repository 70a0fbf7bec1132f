from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from ops.cli_accounts import accounts, token_label

TOK1 = "eyJhbGciOiJIUzI1NiJ9.one.sig1"
TOK2 = "eyJhbGciOiJIUzI1NiJ9.two.sig2"
TOK3 = "eyJhbGciOiJIUzI1NiJ9.three.sig3"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("CONFIG_LOCAL_PATH", "ACCOUNT_LOCAL_PATH", "DATABASE_URL", "ACCOUNT_STORAGE",
                 "ACCOUNT_POSTGRESQL_URL", "ACCOUNT_MYSQL_URL", "SERVER_STORAGE_URL",
                 "SERVER_STORAGE_TYPE", "STORAGE_MODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def _list_json(runner: CliRunner, *args: str) -> list[dict]:
    result = runner.invoke(accounts, ["list", "--json", *args])
    assert result.exit_code == 0, result.output
    return orjson.loads(result.output)


def test_import_text_from_stdin(data_dir: Path) -> None:
    runner = CliRunner()
    text = f"# tokens\nsso={TOK1}\n{TOK2}\n{TOK1}\nbad token here\n"
    result = runner.invoke(accounts, ["import", "-"], input=text)
    assert "added 2" in result.output and "skipped 1" in result.output and "errors 1" in result.output
    assert "line 5" in result.output
    assert result.exit_code == 1  # errors reported; the valid tokens are still imported
    rows = _list_json(runner)
    assert [(r["token"], r["pool"], r["status"]) for r in rows] == [
        (TOK1, "basic", "active"), (TOK2, "basic", "active")]  # auto is stored as basic until a refresh
    assert (data_dir / "accounts.db").exists()
    again = runner.invoke(accounts, ["import", "-", "--pool", "super"], input=f"{TOK1}\n{TOK3}\n")
    assert again.exit_code == 0 and "added 1" in again.output and "skipped 1" in again.output
    assert [r["token"] for r in _list_json(runner, "--pool", "super")] == [TOK3]


def test_import_json_file_keeps_pools(data_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "export.json"
    src.write_bytes(orjson.dumps({"ssoBasic": [{"token": TOK1}],
                                  "super": [{"token": TOK2, "tags": ["nsfw"]}]}))
    runner = CliRunner()
    result = runner.invoke(accounts, ["import", str(src)])
    assert result.exit_code == 0, result.output
    rows = {r["token"]: r for r in _list_json(runner)}
    assert rows[TOK1]["pool"] == "basic" and rows[TOK2]["pool"] == "super"
    assert rows[TOK2]["tags"] == ["nsfw"]
    export = orjson.loads(runner.invoke(accounts, ["export"]).output)
    assert export == {"basic": [{"token": TOK1, "tags": []}],
                      "super": [{"token": TOK2, "tags": ["nsfw"]}]}
    assert orjson.loads(runner.invoke(accounts, ["export", "--pool", "super"]).output) == {
        "super": [{"token": TOK2, "tags": ["nsfw"]}]}


def test_list_table_masks_tokens(data_dir: Path) -> None:
    runner = CliRunner()
    runner.invoke(accounts, ["import", "-"], input=f"{TOK1}\n")
    result = runner.invoke(accounts, ["list"])
    assert result.exit_code == 0
    assert TOK1 not in result.output and token_label(TOK1) in result.output
    assert token_label(TOK1) == "eyJh…sig1"
    assert "fast:30/30" in result.output
    assert runner.invoke(accounts, ["list", "--status", "expired"]).output.strip() == "no accounts"


def test_delete_and_restore(data_dir: Path) -> None:
    runner = CliRunner()
    runner.invoke(accounts, ["import", "-"], input=f"{TOK1}\n{TOK2}\n")
    result = runner.invoke(accounts, ["delete", TOK1, "nosuch.token"])
    assert result.exit_code == 0 and "deleted 1" in result.output
    assert [r["token"] for r in _list_json(runner)] == [TOK2]
    assert len(_list_json(runner, "--deleted")) == 2
    restored = runner.invoke(accounts, ["import", "-"], input=f"{TOK1}\n")
    assert "restored 1" in restored.output
    assert len(_list_json(runner)) == 2
    assert runner.invoke(accounts, ["delete"]).exit_code != 0


def test_delete_all_invalid(data_dir: Path) -> None:
    runner = CliRunner()
    runner.invoke(accounts, ["import", "-"], input=f"{TOK1}\n{TOK2}\n{TOK3}\n")
    # mark two accounts invalid straight in the database
    from state.boot import BootConfig
    from state.db import open_database
    from state.dbthread import DBThread
    from state.store import AccountStore

    thread = DBThread(open_database(BootConfig.from_env()))
    store = AccountStore(thread.db)
    accs = {a.token: a for a in thread.run_sync(store.list)}
    accs[TOK1].status = "expired"
    accs[TOK3].status = "disabled"
    thread.run_sync(store.save, [accs[TOK1], accs[TOK3]])
    thread.close()
    result = runner.invoke(accounts, ["delete", "--all-invalid"])
    assert result.exit_code == 0 and "deleted 2" in result.output
    assert [r["token"] for r in _list_json(runner)] == [TOK2]


# ---------------------------------------------------------------------- pasted and Windows files
@pytest.mark.parametrize("line", [
    TOK1, f"sso={TOK1}", f"SSO={TOK1}", f'"{TOK1}"', f"'{TOK1}'", f'sso="{TOK1}"',
    f"\u201c{TOK1}\u201d", f"\u200b{TOK1}\u200d", f"{TOK1}\u00a0", f"  {TOK1}\t",
    f"theme=dark; sso={TOK1}; sso-rw=x",
], ids=["bare", "sso=", "SSO=", "double-quoted", "single-quoted", "sso=quoted",
        "smart-quoted", "zero-width", "no-break-space", "blanks", "cookie-string"])
def test_import_normalises_each_line(data_dir: Path, line: str) -> None:
    result = CliRunner().invoke(accounts, ["import", "-"], input=line + "\n")
    assert result.exit_code == 0, result.output
    assert "added 1" in result.output and "errors 0" in result.output
    assert [r["token"] for r in _list_json(CliRunner())] == [TOK1]


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_import_a_windows_file(data_dir: Path, tmp_path: Path, encoding: str) -> None:
    """Notepad's files: a byte order mark first, CRLF line ends, UTF-8 or UTF-16."""
    src = tmp_path / "tokens.txt"
    src.write_bytes(f"{TOK1}\r\nsso={TOK2}\r\n\r\n{TOK3}\r\n".encode(encoding))
    result = CliRunner().invoke(accounts, ["import", str(src)])
    assert result.exit_code == 0, result.output
    assert "added 3" in result.output
    assert [r["token"] for r in _list_json(CliRunner())] == [TOK1, TOK2, TOK3]


def test_import_refuses_a_file_that_is_not_text(data_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "tokens.bin"
    src.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    result = CliRunner().invoke(accounts, ["import", str(src)])
    assert result.exit_code == 1 and "not UTF-8 or UTF-16 text" in result.output
    assert "Traceback" not in result.output


def test_a_bad_line_never_costs_the_good_ones(data_dir: Path) -> None:
    broken = TOK2[:12] + " " + TOK2[12:]  # a token split by a space: reported, not echoed
    text = (f"\ufeff{TOK1}\r\n{broken}\r\n\"{TOK3}\"\r\nt\u00f6k\u00e9n.abc\r\n"
            f"sso=\r\n")
    result = CliRunner().invoke(accounts, ["import", "-"], input=text.encode("utf-8"))
    assert result.exit_code == 1  # errors reported
    assert "added 2" in result.output and "errors 3" in result.output
    assert "line 2: whitespace inside the token" in result.output
    assert "line 4: non-ASCII characters" in result.output
    assert "line 5: the token is empty" in result.output
    assert TOK2[:12] not in result.output and TOK2[12:] not in result.output
    assert [r["token"] for r in _list_json(CliRunner())] == [TOK1, TOK3]
