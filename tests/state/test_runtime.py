from __future__ import annotations

import time
from pathlib import Path

from state.boot import BootConfig
from state.runtime import AccountState
from state.settings import Settings
from state.usage_query import usage_series
from state.usage_record import RequestRecord


async def test_account_state_lifecycle(tmp_path: Path) -> None:
    boot = BootConfig.from_env({"DATA_DIR": str(tmp_path)}, dotenv=False)
    settings = Settings.load(boot)
    state = AccountState(boot, settings)
    await state.start()
    assert state.pool.add("tok.a", "super")
    lease = state.pool.select(["super"], "auto")
    state.pool.on_success(lease)
    state.pool.release(lease)
    state.ledger.add(RequestRecord(at=int(time.time() * 1000), request_id="r", key="open",
                                   key_name="open", model="m", endpoint="openai.chat"))
    await state.stop()  # saves what is pending

    again = AccountState(boot, settings)
    await again.start()
    try:
        acc = again.pool.get("tok.a")
        assert acc is not None and acc.usage_use_count == 1 and acc.quota["auto"].remaining == 49
        assert again.revision >= 1
        now = int(time.time())
        usage = await again.thread.run(usage_series, now - 60, now, "model", None)
        assert [(s["group"], s["requests"]) for s in usage["series"]] == [("m", 1)]
        await again.reload()
        assert again.pool.get("tok.a") is not None
    finally:
        await again.stop()
