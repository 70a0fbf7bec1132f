"""Reading usage and the request audit log back (on the database thread): chart series,
the datacenter's request statistics, and audit rows filtered and paged, or read in batches
for an export."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import peewee

from state.models import RequestAuditRow, UsageDayRow, UsageHourRow
from state.usage_book import HOUR_KEEP_SEC

__all__ = ["AUDIT_FIELDS", "GROUPS", "RequestFilter", "audit_batches", "audit_page",
           "request_stats", "usage_series"]

#: `group_by` of a usage series → the column it groups on
GROUPS = {"key": "key", "model": "model", "endpoint": "endpoint", "tier": "tier"}
_SUMS = ("requests", "failures", "client_errors", "prompt_tokens", "completion_tokens",
         "reasoning_tokens", "bytes_in", "bytes_out", "duration_ms", "ttft_ms", "ttft_count",
         "streams", "failovers")
#: the audit row's fields as the API shows them, in this order (CSV columns)
AUDIT_FIELDS = ("id", "at", "request_id", "key", "key_name", "model", "endpoint", "account",
                "tier", "status", "error_code", "prompt_tokens", "completion_tokens",
                "reasoning_tokens", "bytes_in", "bytes_out", "ttft_ms", "duration_ms", "stream",
                "failovers", "prompt", "answer")


def _sums(model: type[peewee.Model]) -> list[Any]:
    return [peewee.fn.SUM(getattr(model, name)).alias(name) for name in _SUMS]


def _totals(row: dict[str, Any]) -> dict[str, Any]:
    """The summed counters of one group, with averages instead of the time sums."""
    values = {name: int(row.get(name) or 0) for name in _SUMS}
    requests, ttft_count = values["requests"], values.pop("ttft_count")
    duration, ttft = values.pop("duration_ms"), values.pop("ttft_ms")
    values["avg_duration_ms"] = round(duration / requests, 1) if requests else None
    values["avg_ttft_ms"] = round(ttft / ttft_count, 1) if ttft_count else None
    values["total_tokens"] = values["prompt_tokens"] + values["completion_tokens"]
    return values


def usage_series(start: int, end: int, group_by: str | None, key: str | None,
                 now: int | None = None) -> dict[str, Any]:
    """Buckets from `start` to `end` (unix seconds, inclusive of the buckets they fall in):
    hourly when the whole range is within the 48 hours kept, daily otherwise."""
    now = int(time.time()) if now is None else now
    hourly = start >= now - HOUR_KEEP_SEC
    model = UsageHourRow if hourly else UsageDayRow
    size = 3600 if hourly else 86400
    first = start - start % size
    columns: list[Any] = [model.bucket]
    group_col = None
    if group_by is not None:
        group_col = getattr(model, GROUPS[group_by])
        columns.append(group_col.alias("group"))
    query = (model.select(*columns, *_sums(model))
             .where(model.bucket >= first, model.bucket <= end))
    if key:
        query = query.where((model.key == key) | (model.key_name == key))
    group = [model.bucket] + ([group_col] if group_col is not None else [])
    rows: Any = query.group_by(*group).order_by(*group).dicts()
    series, totals = [], {name: 0 for name in _SUMS}
    for row in rows:
        item = {"bucket": int(row["bucket"])}
        if group_col is not None:
            item["group"] = row["group"]
        item.update(_totals(row))
        series.append(item)
        for name in _SUMS:
            totals[name] += int(row.get(name) or 0)
    names = {}
    if group_by == "key":
        # the latest name of each key, for the legend
        for r in (model.select(model.key, model.key_name).where(model.bucket >= first)
                  .order_by(model.bucket).tuples()):
            names[r[0]] = r[1]
    return {"granularity": "hour" if hourly else "day", "from": start, "to": end,
            "group_by": group_by, "key": key, "series": series, "totals": _totals(totals),
            **({"key_names": names} if group_by == "key" else {})}


def request_stats(now: int | None = None) -> dict[str, Any]:
    """The datacenter's `request_stats`: the last 24 hours and 7 days (oldest first, gaps
    as zeros), the top 10 models and the totals over the days kept."""
    now = int(time.time()) if now is None else now
    hour0 = now - now % 3600 - 23 * 3600
    day0 = now - now % 86400 - 6 * 86400
    by_hour = {int(b): (int(t or 0), int(f or 0)) for b, t, f in UsageHourRow.select(
        UsageHourRow.bucket, peewee.fn.SUM(UsageHourRow.requests),
        peewee.fn.SUM(UsageHourRow.failures)).where(UsageHourRow.bucket >= hour0)
        .group_by(UsageHourRow.bucket).tuples()}
    d = UsageDayRow
    by_day = {int(b): (int(t or 0), int(f or 0)) for b, t, f in d.select(
        d.bucket, peewee.fn.SUM(d.requests), peewee.fn.SUM(d.failures))
        .group_by(d.bucket).tuples()}
    hourly = []
    for i in range(24):
        bucket = hour0 + i * 3600
        total, failed = by_hour.get(bucket, (0, 0))
        tm = time.gmtime(bucket)
        hourly.append({"hour": time.strftime("%H:00", tm), "date": time.strftime("%m-%d", tm),
                       "total": total, "success": total - failed, "failed": failed})
    daily = []
    for i in range(7):
        bucket = day0 + i * 86400
        total, failed = by_day.get(bucket, (0, 0))
        daily.append({"date": time.strftime("%Y-%m-%d", time.gmtime(bucket)), "total": total,
                      "success": total - failed, "failed": failed})
    count = peewee.fn.SUM(d.requests)
    models = [{"model": m, "count": int(c or 0)} for m, c in
              d.select(d.model, count.alias("n")).group_by(d.model)
              .order_by(peewee.SQL("n").desc(), d.model).limit(10).tuples()]
    total = sum(t for t, _ in by_day.values())
    failed = sum(f for _, f in by_day.values())
    return {"hourly": hourly, "daily": daily, "models": models,
            "summary": {"total": total, "success": total - failed, "failed": failed,
                        "success_rate": round((total - failed) / total * 100, 2)
                        if total else 0.0}}


@dataclass(frozen=True, slots=True)
class RequestFilter:
    key: str | None = None  # a key's id or name
    model: str | None = None
    status: str | None = None  # a status class: 2xx, 4xx, 5xx
    account: str | None = None  # the masked account as listed
    start: int | None = None  # unix seconds
    end: int | None = None
    stream: bool | None = None

    def apply(self, query: Any) -> Any:
        r = RequestAuditRow
        if self.key:
            query = query.where((r.key == self.key) | (r.key_name == self.key))
        if self.model:
            query = query.where(r.model == self.model)
        if self.status:
            low = int(self.status[0]) * 100
            query = query.where(r.status >= low, r.status < low + 100)
        if self.account:
            query = query.where(r.account == self.account)
        if self.start is not None:
            query = query.where(r.at >= self.start * 1000)
        if self.end is not None:
            query = query.where(r.at <= self.end * 1000 + 999)
        if self.stream is not None:
            query = query.where(r.stream == self.stream)
        return query


def _view(row: dict[str, Any]) -> dict[str, Any]:
    out = {name: row.get(name) for name in AUDIT_FIELDS}
    out["stream"] = bool(out["stream"])
    return out


def audit_page(flt: RequestFilter, page: int, page_size: int) -> dict[str, Any]:
    """Newest first."""
    r = RequestAuditRow
    total = flt.apply(r.select()).count()
    rows: Any = (flt.apply(r.select()).order_by(r.id.desc())
                 .offset((page - 1) * page_size).limit(page_size).dicts())
    return {"total": total, "page": page, "page_size": page_size,
            "items": [_view(row) for row in rows]}


def audit_batches(flt: RequestFilter, after: int | None, size: int) -> list[dict[str, Any]]:
    """The next `size` rows (newest first) with an id below `after`: an export reads the
    table a batch at a time, each batch a short query of its own."""
    r = RequestAuditRow
    query = flt.apply(r.select())
    if after is not None:
        query = query.where(r.id < after)
    rows: Any = query.order_by(r.id.desc()).limit(size).dicts()
    return [_view(row) for row in rows]
