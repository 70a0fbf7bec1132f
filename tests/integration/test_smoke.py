"""`grok2api smoke` against a running gateway: every check passes on a healthy one, and a
wrong key fails the run with the server's own reason, the key never printed."""
from __future__ import annotations

import asyncio

from click.testing import CliRunner

from ops.smoke import smoke

KEY = "sk-smoke-key-0123456789"


async def _smoke(*args: str):
    return await asyncio.to_thread(CliRunner().invoke, smoke, list(args))


async def test_a_healthy_gateway_passes_every_check(stack):
    await stack.start_gateway(GROK_APP_API_KEY=KEY)
    stack.add_account("sso-smoke-a", "super")
    result = await _smoke("--base-url", stack.url + "/v1", "--api-key", KEY)
    assert result.exit_code == 0, result.output
    lines = {line.split()[1]: line for line in result.output.splitlines()}
    assert set(lines) == {"health", "models", "chat", "stream", "image"}
    assert all(line.startswith("ok") for line in lines.values()), result.output
    assert "image/" in lines["image"] and "bytes" in lines["image"]
    assert KEY not in result.output


async def test_a_wrong_key_fails_with_the_reason(stack):
    await stack.start_gateway(GROK_APP_API_KEY=KEY)
    stack.add_account("sso-smoke-b", "super")
    result = await _smoke("--base-url", stack.url, "--api-key", "sk-wrong-key-0000000000")
    assert result.exit_code == 1
    models = next(line for line in result.output.splitlines() if " models " in line)
    assert models.startswith("FAIL") and "HTTP 401" in models and "Invalid API key" in models
    assert "sk-wrong-key" not in result.output
