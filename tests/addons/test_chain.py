from addons.chain import Chain
from addons.events import TextDelta
from addons.testflow import tflow


class Upper:
    def transform(self, flow):
        return self

    def chunk(self, ev):
        return [TextDelta(ev.text.upper())]


class Holder:
    """Holds everything back until flush; a fresh holder per try."""

    class Held:
        def __init__(self):
            self.held = []

        def chunk(self, ev):
            self.held.append(ev.text)
            return []

        def flush(self):
            return [TextDelta("".join(self.held))]

    def transform(self, flow):
        return self.Held()


class Doubler:
    def transform(self, flow):
        return self

    def chunk(self, ev):
        return [ev, TextDelta(ev.text)]

    def flush(self):
        return [TextDelta("!")]


class Skipped:
    """An addon with nothing to do for a flow returns no transform."""

    def transform(self, flow):
        return None


class Recorder:
    def __init__(self, log, name):
        self.log, self.name = log, name

    async def request(self, flow):
        self.log.append(("request", self.name))

    def finish(self, flow):
        self.log.append(("finish", self.name))


def new_flow():
    return tflow()


def test_chunk_runs_in_order_and_flush_feeds_later_addons():
    chain = Chain([Holder(), Skipped(), Upper(), Doubler()])
    transforms = chain.transforms(new_flow())
    assert transforms.chunk(TextDelta("ab")) == []
    assert transforms.chunk(TextDelta("cd")) == []
    # Holder's flush output goes through Upper and Doubler; then Doubler's own flush
    assert [e.text for e in transforms.flush()] == ["ABCD", "ABCD", "!"]


def test_each_try_gets_fresh_transforms():
    chain = Chain([Holder()])
    flow = new_flow()
    first = chain.transforms(flow)
    first.chunk(TextDelta("from a failed try"))
    second = chain.transforms(flow)
    second.chunk(TextDelta("ok"))
    assert [e.text for e in second.flush()] == ["ok"]


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
