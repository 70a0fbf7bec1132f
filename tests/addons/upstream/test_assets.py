"""The asset list and delete calls against a mock short-call transport: every page is read,
the field-name variants are understood, and a refusal carries its invalid-credential marker."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from addons.upstream.assets import delete_asset, list_assets
from addons.upstream.classify import UpstreamHTTPError
from addons.upstream.config import UpstreamConfig
from addons.upstream.mock import MockResponse, MockTransport

CFG = UpstreamConfig()


def _query(request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}


async def test_every_page_is_read_with_the_file_manager_headers():
    tr = MockTransport.script(
        MockResponse.json({"assets": [{"assetId": "a1", "fileName": "cat.png",
                                       "filePath": "users/u/a1/content", "contentType": "image/png",
                                       "fileSize": 48213, "createdAt": "2026-04-01T10:00:00Z"}],
                           "nextPageToken": "p2"}),
        # an older answer: `items`, `id`, `name`, `size` as text
        MockResponse.json({"items": [{"id": "a2", "name": "dog.jpg", "size": "12"},
                                     {"fileName": "no id: skipped"}, {"assetId": "a1"}],
                           "nextPageToken": ""}),
    )
    assets = await list_assets(tr, CFG, "tok-1")
    assert [a.to_dict() for a in assets] == [
        {"id": "a1", "name": "cat.png", "file_path": "users/u/a1/content",
         "content_type": "image/png", "size": 48213, "created_at": "2026-04-01T10:00:00Z"},
        {"id": "a2", "name": "dog.jpg", "file_path": "", "content_type": "", "size": 12,
         "created_at": ""}]
    first, second = tr.requests
    assert first.method == "GET" and urlsplit(first.url).path == "/rest/assets"
    assert _query(first) == {"pageSize": "50", "orderBy": "ORDER_BY_LAST_USE_TIME",
                             "source": "SOURCE_ANY", "isLatest": "true"}
    assert _query(second)["pageToken"] == "p2"
    assert first.headers["Referer"] == "https://grok.com/files"
    assert first.headers["Origin"] == "https://grok.com"
    assert "sso=tok-1" in first.headers["Cookie"] and first.headers["x-statsig-id"]
    assert "Content-Type" not in first.headers and first.json is None


async def test_a_page_token_that_repeats_ends_the_listing():
    tr = MockTransport(lambda _: MockResponse.json({"assets": [{"assetId": "a"}],
                                                    "nextPageToken": "same"}))
    assert [a.id for a in await list_assets(tr, CFG, "tok")] == ["a"]
    assert len(tr.requests) == 2


async def test_delete_quotes_the_id_and_accepts_an_empty_answer():
    tr = MockTransport.script(MockResponse(204), MockResponse.json({}))
    await delete_asset(tr, CFG, "tok", "a/b c")
    await delete_asset(tr, CFG, "tok", "plain")
    assert [r.method for r in tr.requests] == ["DELETE", "DELETE"]
    assert tr.requests[0].url == "https://grok.com/rest/assets-metadata/a%2Fb%20c"
    assert tr.requests[0].headers["Referer"] == "https://grok.com/files"


@pytest.mark.parametrize(("status", "body", "marker"), [
    (401, b'{"error":{"code":16,"message":"bad [WKE=unauthorized:invalid-credentials]"}}',
     "invalid-credentials"),
    (403, b'{"error":{"code":7,"message":"User is blocked [WKE=unauthorized:blocked-user]"}}',
     "blocked-user"),
    (404, b'{"error":{"code":5,"message":"Asset not found"}}', None),
    (500, b"oops", None),
])
async def test_refusals_raise_with_their_marker(status, body, marker):
    for call in (lambda tr: list_assets(tr, CFG, "tok"),
                 lambda tr: delete_asset(tr, CFG, "tok", "a1")):
        tr = MockTransport(lambda _: MockResponse(status, body=body))
        with pytest.raises(UpstreamHTTPError) as info:
            await call(tr)
        assert info.value.status == status and info.value.marker == marker


async def test_a_list_answer_that_is_not_json_is_an_upstream_error():
    tr = MockTransport(lambda _: MockResponse(200, body=b"<html>"))
    with pytest.raises(UpstreamHTTPError) as info:
        await list_assets(tr, CFG, "tok")
    assert info.value.status == 502
