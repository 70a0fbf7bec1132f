"""Data directories of the older FastAPI gateways, built from the schemas in api-surface
(§1.5, §7.4, §8.2, §8.10, §9.3, §9.4) and v2-py's account table, for the migration tests."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

TOK = [f"eyJhbGciOiJIUzI1NiJ9.legacy{i}.sig{i}" for i in range(8)]
FORK_KEY = "sk-ForkKeyAbcdefghijklmnopqrstuvwxyz12"

#: v2-py's accounts table (app/control/account/backends/local.py@0afce0e9)
V2_TABLE = """CREATE TABLE accounts (
    token TEXT NOT NULL PRIMARY KEY, pool TEXT NOT NULL DEFAULT 'basic',
    status TEXT NOT NULL DEFAULT 'active', created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,
    tags TEXT NOT NULL, quota_auto TEXT NOT NULL, quota_fast TEXT NOT NULL,
    quota_expert TEXT NOT NULL, quota_heavy TEXT NOT NULL, quota_grok_4_3 TEXT NOT NULL,
    usage_use_count BIGINT NOT NULL DEFAULT 0, usage_fail_count BIGINT NOT NULL DEFAULT 0,
    usage_sync_count BIGINT NOT NULL DEFAULT 0, last_use_at BIGINT, last_fail_at BIGINT,
    last_fail_reason TEXT, last_sync_at BIGINT, last_clear_at BIGINT, state_reason TEXT,
    deleted_at BIGINT, ext TEXT NOT NULL, revision BIGINT NOT NULL DEFAULT 0)"""
V2_COLUMNS = ("token", "pool", "status", "created_at", "updated_at", "tags", "quota_auto",
              "quota_fast", "quota_expert", "quota_heavy", "quota_grok_4_3", "usage_use_count",
              "usage_fail_count", "usage_sync_count", "last_use_at", "last_fail_at",
              "last_fail_reason", "last_sync_at", "last_clear_at", "state_reason", "deleted_at",
              "ext", "revision")


def _win(remaining: int, total: int, window: int = 7200) -> str:
    return json.dumps({"remaining": remaining, "total": total, "window_seconds": window,
                       "reset_at": None, "synced_at": 1_700_000_000_000, "source": 1})


def v2_rows() -> list[tuple]:
    """Three v2-py accounts: a super one with real windows, an expired basic one, and a
    soft-deleted one."""
    return [
        (TOK[4], "super", "active", 1_700_000_000_000, 1_700_000_100_000, '["nsfw"]',
         _win(12, 50), _win(100, 140), _win(50, 50), "{}", _win(7, 50), 42, 3, 9,
         1_700_000_050_000, None, None, 1_700_000_060_000, None, None, None,
         '{"note_from_v2": 1}', 7),
        (TOK[5], "basic", "expired", 1_700_000_000_000, 1_700_000_000_000, "[]", "{}",
         _win(0, 30, 86400), "{}", "{}", "{}", 1, 5, 1, None, 1_700_000_070_000,
         "invalid-credentials", None, None, "invalid_credentials", None,
         '{"expired_at": 1700000070000}', 8),
        (TOK[6], "basic", "active", 1_700_000_000_000, 1_700_000_000_000, "[]", "{}",
         _win(30, 30, 86400), "{}", "{}", "{}", 0, 0, 0, None, None, None, None, None, None,
         1_700_000_080_000, "{}", 9),
    ]


def media(root: Path, folder: str, name: str, data: bytes) -> None:
    (root / folder).mkdir(parents=True, exist_ok=True)
    (root / folder / name).write_bytes(data)


def v0_dir(root: Path) -> Path:
    """v0-py: setting.toml with [global]/[grok], token.json keyed by token, temp/ media."""
    root.mkdir(parents=True)
    (root / "setting.toml").write_text(
        '[global]\nbase_url = "https://old.example"\nadmin_username = "admin"\n'
        'admin_password = "v0-secret-pass"\nimage_mode = "base64"\nlog_level = "DEBUG"\n'
        'image_cache_max_size_mb = 256\n\n'
        '[grok]\napi_key = "sk-v0-client-key"\nproxy_url = "socks5h://u:pw@proxy:1080"\n'
        'cf_clearance = "cfv0"\ntemporary = false\nshow_thinking = false\n'
        'filtered_tags = "xaiartifact,grok:render"\nstream_total_timeout = 300\n'
        'stream_first_response_timeout = 20\nx_statsig_id = "fixed-statsig"\n')
    (root / "token.json").write_text(json.dumps({
        "ssoNormal": {TOK[0]: {"createdTime": 1_690_000_000, "remainingQueries": 20,
                               "status": "active"}},
        "ssoSuper": {TOK[1]: {"status": "active", "failed_count": 2}},
    }))
    media(root, "temp/image", "old-picture.jpeg", b"\xff\xd8\xff v0 image")
    return root


def fork_dir(root: Path) -> Path:
    """The fork (v1.x files): config.toml with [app]/[grok]/[register], token.json by pool as
    lists, api_keys.json, api_key_usage.json, tmp/ media."""
    root.mkdir(parents=True)
    (root / "config.toml").write_text(
        '[app]\napp_key = "fork-admin-secret"\nadmin_username = "admin"\n'
        'image_format = "b64_json"\nvideo_format = "url"\n\n'
        '[grok]\ntemporary = false\nstream = true\nmax_retry = 5\n'
        'retry_status_codes = [401, 429]\nbase_proxy_url = "http://u:pw@proxy:8080"\n'
        'cf_clearance = "cfclear123"\nimage_generation_method = "legacy"\n'
        'video_poster_preview = true\ntimeout = 150\n\n'
        '[token]\nnsfw_refresh_concurrency = 7\nnsfw_refresh_retries = 3\n\n'
        '[cache]\nkeep_base64_cache = true\n\n'
        '[register]\nsolver_threads = 5\n')
    (root / "token.json").write_text(json.dumps({
        "ssoBasic": [{"token": TOK[2], "status": "invalid", "quota": 60, "heavy_quota": -1,
                      "note": "from the fork", "tags": ["nsfw", "team-a"], "fail_count": 5,
                      "created_at": 1_700_000_000_000, "use_count": 17}],
        "ssoSuper": [{"token": "sso=" + TOK[3], "status": "active", "quota": 140,
                      "heavy_quota": 0, "tags": []},
                     {"token": "\u200b ", "status": "active"}],
    }))
    (root / "api_keys.json").write_text(json.dumps([
        {"key": FORK_KEY, "name": "alice", "created_at": 1_700_000_000, "is_active": True,
         "chat_limit": 100, "heavy_limit": -1, "image_limit": 20, "video_limit": 0},
        {"key": "sk-ForkKeyDisabled0000000000000000000", "name": "bob",
         "created_at": 1_700_000_000, "is_active": False, "chat_limit": -1,
         "heavy_limit": 5, "image_limit": -1, "video_limit": -1},
    ]))
    (root / "api_key_usage.json").write_text(json.dumps({"2024-01-01": {}}))
    media(root, "tmp/image", "a.png", b"\x89PNG fork image")
    media(root, "tmp/image", "b.bmp", b"BM not kept")
    media(root, "tmp/video", "c.mp4", b"\x00\x00\x00\x18ftypmp42 fork video")
    return root


def v1_dir(root: Path) -> Path:
    """v1.x: config.toml in its own sections (seed 000)."""
    root.mkdir(parents=True)
    (root / "config.toml").write_text(
        '[app]\napp_url = "http://127.0.0.1:8000"\napp_key = "grok2api"\n'
        'image_format = "url"\nvideo_format = "html"\ndisable_memory = false\n'
        'thinking = true\n\n[chat]\nconcurrent = 10\ntimeout = 90\n\n'
        '[retry]\nmax_retry = 3\nretry_backoff_base = 0.5\nretry_budget = 90\n\n'
        '[token]\nauto_refresh = true\nrefresh_interval_hours = 8\n'
        'super_refresh_interval_hours = 2\nfail_threshold = 5\n\n'
        '[cache]\nenable_auto_clean = true\nlimit_mb = 1024\n\n'
        '[imagine_fast]\nn = 1\n')
    return root


def v2_dir(root: Path) -> Path:
    """v2-py with local storage: config.toml, accounts.db, files/ media."""
    root.mkdir(parents=True)
    (root / "config.toml").write_text(
        '[app]\napp_key = "v2-admin-secret"\napi_key = "sk-a,sk-b"\n\n'
        '[features]\nimage_format = "grok_url"\nstream = true\n\n'
        '[account.refresh]\nbasic_interval_sec = 36000\n\n'
        '[account.storage]\nbackend = "local"\n\n'
        '[voice]\ntimeout = 60\n')
    con = sqlite3.connect(root / "accounts.db")
    con.execute("CREATE TABLE account_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    con.execute(V2_TABLE)
    con.executemany(f"INSERT INTO accounts VALUES ({', '.join('?' * len(V2_COLUMNS))})",
                    v2_rows())
    con.commit()
    con.close()
    media(root, "files/images", "0f1e2d3c-uuid.jpg", b"\xff\xd8\xff v2 image")
    media(root, "files/videos", "abcdef0123456789.mp4", b"\x00\x00\x00\x18ftyp v2 video")
    return root
