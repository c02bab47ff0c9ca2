"""The hub: fans every stored event out to this process's connections, whatever happens."""

import time

from tessera.brokers import Envelope, MemoryBroker
from tessera.events import Event
from tessera.hub import Hub


class Recorder:
    def __init__(self):
        self.texts = []

    def offer(self, envelope, text):
        self.texts.append(text)

    def close(self, code, reason):
        pass


def test_an_event_that_cannot_be_encoded_does_not_stop_the_next_ones(caplog):
    broker = MemoryBroker(history=10)
    hub = Hub(broker)
    page = Recorder()
    hub.register(page)
    broker.publish(Envelope(Event(type="news.bad", data={1, 2})))  # a set is not JSON
    broker.publish(Envelope(Event(type="news.good", data=1)))
    deadline = time.monotonic() + 5
    while not page.texts and time.monotonic() < deadline:
        time.sleep(0.01)
    hub.close()
    assert len(page.texts) == 1 and '"news.good"' in page.texts[0]
    assert "could not fan out news.bad event" in caplog.text
