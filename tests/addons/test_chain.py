from addons.chain import Chain
from addons.events import TextDelta
from addons.flow import ChatRequest, Flow


class Upper:
    def chunk(self, flow, ev):
        return [TextDelta(ev.text.upper())]


class Holder:
    """Holds everything back until flush."""

    def chunk(self, flow, ev):
        flow.metadata.setdefault("held", []).append(ev.text)
        return []

    def flush(self, flow):
        return [TextDelta("".join(flow.metadata.get("held", [])))]


class Doubler:
    def chunk(self, flow, ev):
        return [ev, TextDelta(ev.text)]

    def flush(self, flow):
        return [TextDelta("!")]


class Recorder:
    def __init__(self, log, name):
        self.log, self.name = log, name

    async def request(self, flow):
        self.log.append(("request", self.name))

    def finish(self, flow):
        self.log.append(("finish", self.name))


def new_flow():
    return Flow(request=ChatRequest(model="m", messages=[]))


def test_chunk_runs_in_order_and_flush_feeds_later_addons():
    chain = Chain([Holder(), Upper(), Doubler()])
    flow = new_flow()
    assert chain.chunk(flow, TextDelta("ab")) == []
    assert chain.chunk(flow, TextDelta("cd")) == []
    # Holder's flush output goes through Upper and Doubler; then Doubler's own flush
    assert [e.text for e in chain.flush(flow)] == ["ABCD", "ABCD", "!"]


async def test_finish_runs_in_reverse_and_survives_errors():
    log = []

    class Broken:
        def finish(self, flow):
            raise RuntimeError("boom")

    chain = Chain([Recorder(log, "a"), Broken(), Recorder(log, "b")])
    flow = new_flow()
    await chain.request(flow)
    await chain.finish(flow)
    assert log == [("request", "a"), ("request", "b"), ("finish", "b"), ("finish", "a")]
