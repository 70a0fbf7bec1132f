"""`grok2api bench-pool` on tiny sizes: it runs and reports; timings are never asserted."""
from __future__ import annotations

import orjson
from click.testing import CliRunner

from ops.cli import main


def test_bench_pool_tiny_json() -> None:
    args = ["bench-pool", "--sizes", "20,50", "--requests", "100", "--burst", "15", "--rounds",
            "2", "--json"]
    result = CliRunner(env={"DATABASE_URL": None}).invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = orjson.loads(result.stdout)
    assert [(r["accounts"], r["strategy"]) for r in report["selection"]] == [
        (20, "quota"), (20, "random"), (50, "quota"), (50, "random")]
    assert all(r["p99_us"] >= r["p50_us"] > 0 for r in report["selection"])
    assert [(f["backend"], f["dirty"], f["rounds"]) for f in report["flush"]] == [("sqlite", 15, 2)]
    assert all(f["loop_blocked_max_ms"] >= 0 for f in report["flush"])
    assert [(t["accounts"], t["merged"]) for t in report["table"]] == [(20, 2), (50, 5)]


def test_bench_pool_text_on_a_server_database() -> None:
    import pytest

    from tests.state.conftest import PG_URL, _reachable

    pytest.importorskip("psycopg2")
    if not _reachable(PG_URL):
        pytest.skip("postgresql not reachable")
    args = ["bench-pool", "--sizes", "10", "--requests", "20", "--burst", "5", "--rounds", "1",
            "--database-url", PG_URL]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "µs per request" in result.output and "postgresql" in result.output
