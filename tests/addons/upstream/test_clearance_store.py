"""The per-egress clearance store and how the transport dresses a call with it."""
from __future__ import annotations

from addons.upstream.clearance import ClearanceStore, Via
from addons.upstream.config import UpstreamConfig
from addons.upstream.headers import build_headers
from addons.upstream.transport import CurlTransport
from addons.upstream.wire import UpstreamRequest

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
CHROME_WIN = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/131.0.0.0 Safari/537.36")
PROXY_A, PROXY_B = "http://user:pw@10.0.0.1:8080", "socks5://10.0.0.2:1080"


def headers(cfg: UpstreamConfig | None = None) -> dict[str, str]:
    cfg = cfg or UpstreamConfig(cf_cookies="cf_clearance=configured; other=1")
    return build_headers(cfg, "TOKEN", origin="https://grok.com", referer="https://grok.com/")


def test_without_a_solved_clearance_the_configured_cookies_and_agent_go_unchanged() -> None:
    store, sent = ClearanceStore(), headers()
    out, via = store.apply(sent, PROXY_A)
    assert out is sent and via == Via(PROXY_A, 0)


def test_a_solved_clearance_replaces_the_agent_its_hints_and_the_cloudflare_cookies() -> None:
    store = ClearanceStore()
    bundle = store.put(PROXY_A, "cf_clearance=solved; __cf_bm=bm", CHROME_WIN)
    sent = headers()
    out, via = store.apply(sent, PROXY_A)
    assert via == Via(PROXY_A, bundle.generation) and bundle.generation == 1
    assert out["User-Agent"] == CHROME_WIN
    assert out["Sec-Ch-Ua-Platform"] == '"Windows"' and '"131"' in out["Sec-Ch-Ua"]
    assert out["Cookie"] == "sso=TOKEN; sso-rw=TOKEN; cf_clearance=solved; __cf_bm=bm"
    assert sent["Cookie"].endswith("cf_clearance=configured; other=1")  # the original is intact
    # everything else is as built
    assert {k: v for k, v in out.items() if k not in ("User-Agent", "Cookie")
            and not k.startswith("Sec-Ch-Ua")} == \
        {k: v for k, v in sent.items() if k not in ("User-Agent", "Cookie")
         and not k.startswith("Sec-Ch-Ua")}


def test_a_browser_without_client_hints_sends_none() -> None:
    store = ClearanceStore()
    store.put(None, "cf_clearance=solved", FIREFOX)
    out, _ = store.apply(headers(), None)
    assert out["User-Agent"] == FIREFOX and not any(k.startswith("Sec-Ch-Ua") for k in out)


def test_the_websocket_handshake_keeps_its_user_id_cookie_and_gains_no_hints() -> None:
    store = ClearanceStore()
    store.put(None, "cf_clearance=solved", CHROME_WIN)
    hs = {"Origin": "https://grok.com", "User-Agent": "old",
          "Cookie": "sso=T; sso-rw=T; cf_clearance=old; x-userid=U"}
    out, _ = store.apply(hs, None)
    assert out["Cookie"] == "sso=T; sso-rw=T; cf_clearance=solved; x-userid=U"
    assert set(out) == set(hs)


def test_one_clearance_per_egress_with_growing_generations() -> None:
    store = ClearanceStore()
    a1 = store.put(PROXY_A, "cf_clearance=a1", CHROME_WIN)
    b1 = store.put(PROXY_B, "cf_clearance=b1", FIREFOX)
    a2 = store.put(PROXY_A, "cf_clearance=a2", CHROME_WIN)
    assert a1.generation < b1.generation < a2.generation
    assert store.apply(headers(), PROXY_B)[0]["Cookie"].endswith("cf_clearance=b1")
    assert store.apply(headers(), PROXY_A)[0]["Cookie"].endswith("cf_clearance=a2")
    out, via = store.apply(headers(), None)  # direct: nothing solved for it
    assert via.generation == 0 and out["Cookie"].endswith("cf_clearance=configured; other=1")
    store.clear()
    assert store.apply(headers(), PROXY_A)[1].generation == 0


def test_due_is_told_each_time_a_bundle_goes_out() -> None:
    store, seen = ClearanceStore(), []
    store.due = lambda proxy, bundle: seen.append((proxy, bundle.generation))
    store.apply(headers(), PROXY_A)
    store.put(PROXY_A, "cf_clearance=a", CHROME_WIN)
    store.apply(headers(), PROXY_A)
    assert seen == [(PROXY_A, 1)]


def test_the_transport_dresses_grok_calls_only_and_notes_the_egress() -> None:
    cfg = UpstreamConfig(base_url="https://grok.com", accounts_url="https://accounts.x.ai")
    transport = CurlTransport(cfg)
    transport.clearance.put(PROXY_A, "cf_clearance=solved", CHROME_WIN)
    chat = UpstreamRequest("POST", "https://grok.com/rest/app-chat/conversations/new", headers())
    assert transport.dress(chat, PROXY_A)["Cookie"].endswith("cf_clearance=solved")
    assert chat.via == Via(PROXY_A, 1)
    # accounts.x.ai has clearances of its own: nothing of grok.com's goes there
    tos = UpstreamRequest("POST", "https://accounts.x.ai/auth_mgmt.AuthManagement/x",
                          {"Cookie": "sso=T; sso-rw=T", "User-Agent": "configured"})
    assert transport.dress(tos, PROXY_A) == {"Cookie": "sso=T; sso-rw=T",
                                             "User-Agent": "configured"}
    assert tos.via is None
