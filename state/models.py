"""peewee models. They are bound to a database only for the duration of a call (`bound`),
so several databases (tests, a migration source) never fight over a global binding; every call
runs on the one database thread. All timestamps are integer milliseconds since the epoch."""
from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import peewee

__all__ = [
    "ALL_MODELS",
    "AdminSessionRow",
    "TOKEN_MAX_LEN",
    "AccountMeta",
    "AccountRow",
    "BaseModel",
    "ClientKeyCounterRow",
    "ClientKeyRow",
    "ContinuationRow",
    "LeaseRow",
    "ModelUsageRow",
    "RequestAuditRow",
    "SchemaVersion",
    "UsageDayRow",
    "UsageHourRow",
    "VideoJobRow",
    "bound",
]

#: Longest token the `accounts.token` column holds (a unique VARCHAR must fit MySQL's
#: 3072-byte index limit with utf8mb4). Real SSO tokens are far shorter.
TOKEN_MAX_LEN = 768


class BaseModel(peewee.Model):
    class Meta:
        database = None


class AccountRow(BaseModel):
    id = peewee.AutoField()
    token = peewee.CharField(max_length=TOKEN_MAX_LEN, unique=True)
    pool = peewee.CharField(max_length=16, default="basic", index=True)
    status = peewee.CharField(max_length=16, default="active", index=True)
    #: JSON: {mode: {remaining, total, window_seconds, reset_at, synced_at, source}}
    quota = peewee.TextField(default="{}")
    usage_use_count = peewee.BigIntegerField(default=0)
    usage_fail_count = peewee.BigIntegerField(default=0)
    usage_sync_count = peewee.BigIntegerField(default=0)
    consecutive_failures = peewee.IntegerField(default=0)
    last_use_at = peewee.BigIntegerField(null=True)
    last_fail_at = peewee.BigIntegerField(null=True)
    last_fail_reason = peewee.TextField(default="")
    last_sync_at = peewee.BigIntegerField(null=True)
    state_reason = peewee.TextField(default="")
    cooldown_until = peewee.BigIntegerField(null=True)
    tags = peewee.TextField(default="[]")  # JSON list
    note = peewee.TextField(default="")
    ext = peewee.TextField(default="{}")  # JSON object
    created_at = peewee.BigIntegerField()
    updated_at = peewee.BigIntegerField()
    deleted_at = peewee.BigIntegerField(null=True)
    #: Global revision of the last write (see AccountMeta), for multi-worker sync.
    revision = peewee.BigIntegerField(default=0, index=True)

    class Meta:
        table_name = "accounts"


class ModelUsageRow(BaseModel):
    """The per-model daily counters of schema versions before the usage book; only the
    migration that moves them into `usage_daily` (`state.migrations`) reads it."""

    id = peewee.AutoField()
    model = peewee.CharField(max_length=191)
    day = peewee.CharField(max_length=10)  # YYYY-MM-DD (UTC)
    requests = peewee.BigIntegerField(default=0)
    failures = peewee.BigIntegerField(default=0)
    prompt_tokens = peewee.BigIntegerField(default=0)
    completion_tokens = peewee.BigIntegerField(default=0)

    class Meta:
        table_name = "model_usage"
        indexes = ((("model", "day"), True),)


class AccountMeta(BaseModel):
    """Key/value counters; `revision` is bumped by every account write."""

    key = peewee.CharField(max_length=64, primary_key=True)
    value = peewee.BigIntegerField(default=0)

    class Meta:
        table_name = "account_meta"


class ContinuationRow(BaseModel):
    """A stored Responses answer that a follow-up (`previous_response_id`) may continue
    upstream: which account holds the grok.com conversation, and where in it to continue."""

    response_id = peewee.CharField(max_length=64, primary_key=True)  # resp_…
    token = peewee.CharField(max_length=TOKEN_MAX_LEN)
    conversation_id = peewee.CharField(max_length=191)
    upstream_response_id = peewee.CharField(max_length=191)
    model = peewee.CharField(max_length=191)
    created_at = peewee.BigIntegerField(index=True)

    class Meta:
        table_name = "response_continuations"


class LeaseRow(BaseModel):
    """A named lease among the instances sharing a server database (no Redis): `holder`
    owns it until `expires_at` (ms) unless it renews (`state.leases`)."""

    name = peewee.CharField(max_length=64, primary_key=True)
    holder = peewee.CharField(max_length=191)
    expires_at = peewee.BigIntegerField()

    class Meta:
        table_name = "leases"


class VideoJobRow(BaseModel):
    """A `/v1/videos` job. `owner` is the process running it (`AccountState.instance`) and
    `heartbeat_at` the last time that process said it still is: an active row whose owner
    stopped saying so is failed by whichever process notices (`state.video_jobs`)."""

    id = peewee.CharField(max_length=64, primary_key=True)  # video_…
    status = peewee.CharField(max_length=16, index=True)  # queued | in_progress | completed | failed
    model = peewee.CharField(max_length=191)
    prompt = peewee.TextField()
    seconds = peewee.IntegerField()
    size = peewee.CharField(max_length=16)
    resolution = peewee.CharField(max_length=8)
    preset = peewee.CharField(max_length=16)
    progress = peewee.IntegerField(default=0)
    media_id = peewee.CharField(max_length=64, null=True)  # the MP4 in the media cache
    error_code = peewee.CharField(max_length=64, null=True)
    error_message = peewee.TextField(null=True)
    owner = peewee.CharField(max_length=191)
    heartbeat_at = peewee.BigIntegerField()  # ms
    created_at = peewee.BigIntegerField()
    completed_at = peewee.BigIntegerField(null=True)

    class Meta:
        table_name = "video_jobs"


class _UsageBucket(BaseModel):
    """Usage added up per time bucket, client key, model, endpoint and account tier
    (`state.usage_book`). Every process adds its own increments, so the rows are the sum of
    all workers and instances. `key` is the managed key's id, or the name of an unmanaged
    client (`app`, `open`); `key_name` is the name it had when last written."""

    id = peewee.AutoField()
    bucket = peewee.BigIntegerField()  # the bucket's start, unix seconds (UTC)
    key = peewee.CharField(max_length=64)
    key_name = peewee.CharField(max_length=191, default="")
    model = peewee.CharField(max_length=128)
    endpoint = peewee.CharField(max_length=32)
    tier = peewee.CharField(max_length=16)  # the serving account's pool; "" when none served
    requests = peewee.BigIntegerField(default=0)
    failures = peewee.BigIntegerField(default=0)  # status >= 400
    client_errors = peewee.BigIntegerField(default=0)  # 4xx
    prompt_tokens = peewee.BigIntegerField(default=0)
    completion_tokens = peewee.BigIntegerField(default=0)
    reasoning_tokens = peewee.BigIntegerField(default=0)
    bytes_in = peewee.BigIntegerField(default=0)
    bytes_out = peewee.BigIntegerField(default=0)
    duration_ms = peewee.BigIntegerField(default=0)  # sum
    ttft_ms = peewee.BigIntegerField(default=0)  # sum over the requests with a TTFT
    ttft_count = peewee.BigIntegerField(default=0)
    streams = peewee.BigIntegerField(default=0)
    failovers = peewee.BigIntegerField(default=0)


class UsageHourRow(_UsageBucket):
    class Meta:
        table_name = "usage_hourly"
        indexes = ((("bucket", "key", "model", "endpoint", "tier"), True),)


class UsageDayRow(_UsageBucket):
    class Meta:
        table_name = "usage_daily"
        indexes = ((("bucket", "key", "model", "endpoint", "tier"), True),)


class RequestAuditRow(BaseModel):
    """One served request (`state.usage_book`): who, what, on which account tier, how it
    ended and how long it took. `account` is the masked account id, never the token; the
    prompt and answer are stored only with `audit.store_content`."""

    id = peewee.AutoField()
    at = peewee.BigIntegerField(index=True)  # ms, when the request arrived
    request_id = peewee.CharField(max_length=128)
    key = peewee.CharField(max_length=64, index=True)
    key_name = peewee.CharField(max_length=191, default="")
    model = peewee.CharField(max_length=128, index=True)
    endpoint = peewee.CharField(max_length=32)
    account = peewee.CharField(max_length=32, default="")
    tier = peewee.CharField(max_length=16, default="")
    status = peewee.IntegerField(index=True)
    error_code = peewee.CharField(max_length=64, default="")
    prompt_tokens = peewee.IntegerField(default=0)
    completion_tokens = peewee.IntegerField(default=0)
    reasoning_tokens = peewee.IntegerField(default=0)
    bytes_in = peewee.BigIntegerField(default=0)
    bytes_out = peewee.BigIntegerField(default=0)
    ttft_ms = peewee.IntegerField(null=True)
    duration_ms = peewee.IntegerField(default=0)
    stream = peewee.BooleanField(default=False)
    failovers = peewee.IntegerField(default=0)
    prompt = peewee.TextField(null=True)
    answer = peewee.TextField(null=True)

    class Meta:
        table_name = "request_audit"


class AdminSessionRow(BaseModel):
    """A browser session of the admin pages (`state.admin_sessions`). Only the SHA-256 of the
    cookie value is stored; `key_fp` fingerprints the admin secret the session was opened
    with, so changing `app.app_key` ends every session at once. Times in ms."""

    id_hash = peewee.CharField(max_length=64, primary_key=True)
    csrf = peewee.CharField(max_length=64)
    key_fp = peewee.CharField(max_length=64)
    address = peewee.CharField(max_length=64, default="")
    created_at = peewee.BigIntegerField()
    expires_at = peewee.BigIntegerField(index=True)

    class Meta:
        table_name = "admin_sessions"


class ClientKeyRow(BaseModel):
    """A managed client key (`state.keys`): only the SHA-256 of the key is stored; the key
    itself is shown once, when it is created. `policy` is JSON (allow-list, rpm,
    concurrency, daily quotas, scope, nsfw). `revision` is the keys' global revision (the
    `keys_revision` row of `account_meta`) at its last write, so every process notices a
    change with one cheap poll."""

    id = peewee.CharField(max_length=40, primary_key=True)  # key_…
    name = peewee.CharField(max_length=191)
    key_hash = peewee.CharField(max_length=64, unique=True)  # sha256 hex of the key
    display_key = peewee.CharField(max_length=32)  # first 6 + "..." + last 4
    enabled = peewee.BooleanField(default=True)
    policy = peewee.TextField(default="{}")
    created_at = peewee.BigIntegerField()
    updated_at = peewee.BigIntegerField()
    last_used_at = peewee.BigIntegerField(null=True)  # written behind, coarse
    expires_at = peewee.BigIntegerField(null=True)  # ms
    revision = peewee.BigIntegerField(default=0, index=True)

    class Meta:
        table_name = "client_keys"


class ClientKeyCounterRow(BaseModel):
    """Usage counters of a client key in one bucket (`d:YYYY-MM-DD` for the daily quotas,
    `m:<minute>` for requests per minute), shared by the processes on this database when
    there is no Redis; each process adds its increments behind the request path."""

    key_id = peewee.CharField(max_length=40)
    bucket = peewee.CharField(max_length=24)
    requests = peewee.BigIntegerField(default=0)
    chat = peewee.BigIntegerField(default=0)
    heavy = peewee.BigIntegerField(default=0)
    image = peewee.BigIntegerField(default=0)
    video = peewee.BigIntegerField(default=0)
    tokens = peewee.BigIntegerField(default=0)
    expires_at = peewee.BigIntegerField(index=True)  # ms: pruned after

    class Meta:
        table_name = "client_key_counters"
        indexes = ((("key_id", "bucket"), True),)


class SchemaVersion(BaseModel):
    version = peewee.IntegerField(primary_key=True)
    applied_at = peewee.BigIntegerField()

    class Meta:
        table_name = "schema_version"


ALL_MODELS: tuple[type[BaseModel], ...] = (AccountRow, ModelUsageRow, AccountMeta, ContinuationRow,
                                           LeaseRow, VideoJobRow, SchemaVersion, UsageHourRow,
                                           UsageDayRow, RequestAuditRow, ClientKeyRow,
                                           ClientKeyCounterRow, AdminSessionRow)


def bound(db: peewee.Database) -> AbstractContextManager[Any]:
    """Bind every model to `db` for a `with` block (restores the previous binding after)."""
    return db.bind_ctx(ALL_MODELS)
