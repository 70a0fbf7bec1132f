from __future__ import annotations

from pathlib import Path

from state.boot import BootConfig
from state.runtime import AccountState
from state.settings import Settings


async def test_account_state_lifecycle(tmp_path: Path) -> None:
    boot = BootConfig.from_env({"DATA_DIR": str(tmp_path)}, dotenv=False)
    settings = Settings.load(boot)
    state = AccountState(boot, settings)
    await state.start()
    assert state.pool.add("tok.a", "super")
    lease = state.pool.select(["super"], "auto")
    state.pool.on_success(lease)
    state.pool.release(lease)
    state.ledger.record("m", True, 1, 1)
    await state.stop()

    again = AccountState(boot, settings)
    await again.start()
    try:
        acc = again.pool.get("tok.a")
        assert acc is not None and acc.usage_use_count == 1 and acc.quota["auto"].remaining == 49
        assert again.revision >= 1
        await again.reload()
        assert again.pool.get("tok.a") is not None
    finally:
        await again.stop()
