"""The multipart upload (`/http/upload-file-v2/direct`) in the simulator, alone and through
the real client (`upload_file_v2` over `CurlTransport`): stored files are usable as chat / mgw
attachments."""
from __future__ import annotations

import aiohttp
import pytest

from addons.upstream.classify import UpstreamHTTPError
from addons.upstream.config import UpstreamConfig
from addons.upstream.transport import CurlTransport
from addons.upstream.upload import UploadRejected, upload_file_v2
from ops.simulator.state import UPLOAD_V2_PATH
from tests.ops.simhelpers import auth_headers, chat
from tests.ops.test_simulator_mgw import turn, ws_headers, ws_url

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


async def _post(session, sim, token="tok", *, field="file", filename="cat.png", data=PNG):
    form = aiohttp.FormData()
    form.add_field(field, data, filename=filename, content_type="image/png")
    headers = auth_headers(token, statsig=None)  # the multipart upload carries no statsig
    async with session.post(sim.url + UPLOAD_V2_PATH, data=form, headers=headers) as r:
        return r.status, await r.json(content_type=None)


async def test_endpoint_stores_the_file_and_answers_the_g4_shape(sim, session):
    status, body = await _post(session, sim)
    assert status == 200 and body["terminalError"] is None
    meta = body["fileMetadata"]
    item = sim.state.files[meta["fileMetadataId"]]
    assert (item.token, item.file_name, item.mime, item.data) == ("tok", "cat.png", "image/png", PNG)
    assert meta["fileUri"] == f"users/{item.user_id}/{item.file_id}/content" and body["uploadId"]
    (rec,) = sim.state.requests_to(UPLOAD_V2_PATH)
    assert rec.token == "tok" and rec.headers["content-type"].startswith("multipart/form-data")
    assert PNG in rec.body
    assert (await chat(session, sim, "hi", fileAttachments=[item.file_id]))[0] == 200


async def test_endpoint_auth_fields_and_faults(sim, session):
    assert (await _post(session, sim, token="nobody"))[0] == 401
    assert (await _post(session, sim, field="other"))[0] == 400
    sim.state.inject("429", path=UPLOAD_V2_PATH)
    assert (await _post(session, sim))[0] == 429
    sim.state.inject("upload_terminal_error", path=UPLOAD_V2_PATH)
    status, body = await _post(session, sim)
    assert status == 200 and body["terminalError"] and sim.state.files == {}
    assert (await _post(session, sim))[0] == 200  # the fault was used once


@pytest.fixture
async def rest(sim):
    transport = CurlTransport(UpstreamConfig(base_url=sim.url))
    try:
        yield transport
    finally:
        await transport.aclose()


async def test_client_uploads_and_the_id_is_an_mgw_attachment(sim, session, rest):
    uploaded = await upload_file_v2(rest, rest.cfg, "tok", "cat.png", "image/png", PNG)
    item = sim.state.files[uploaded.file_id]
    assert item.data == PNG and uploaded.file_uri == f"users/{item.user_id}/{item.file_id}/content"
    (rec,) = sim.state.requests_to(UPLOAD_V2_PATH)
    assert "x-statsig-id" not in rec.headers and "x-xai-request-id" not in rec.headers
    assert rec.headers["referer"] == "https://grok.com/" and b"file_source" not in rec.body
    async with session.ws_connect(ws_url(sim), headers=ws_headers(sim)) as ws:
        frames = await turn(ws, "hi", files=[uploaded.file_id])
        assert frames[-1]["event"]["type"] == "response.done"
    assert sim.state.mgw_sessions[-1].file_ids == [uploaded.file_id]


async def test_client_terminal_error_and_http_error(sim, rest):
    sim.state.inject("upload_terminal_error", path=UPLOAD_V2_PATH)
    with pytest.raises(UploadRejected):
        await upload_file_v2(rest, rest.cfg, "tok", "cat.png", "image/png", PNG)
    with pytest.raises(UpstreamHTTPError) as info:
        await upload_file_v2(rest, rest.cfg, "nobody", "cat.png", "image/png", PNG)
    assert info.value.status == 401
