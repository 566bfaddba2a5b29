import threading
import time

import pytest

from pipeline.bus import BusClosed, MemoryBus
from pipeline.observation import Observation


def observations(n, start=0.0):
    return [
        Observation("s", "S", 0.0, 0.0, start + i, "t", {"temperature_c": 1.0}) for i in range(n)
    ]


def test_consume_returns_batches_in_order():
    bus = MemoryBus(capacity=100)
    bus.publish(observations(10))
    first = bus.consume(4, timeout=0)
    second = bus.consume(100, timeout=0)
    assert [o.observed_at for o in first.observations] == [0, 1, 2, 3]
    assert [o.observed_at for o in second.observations] == [4, 5, 6, 7, 8, 9]


def test_full_bus_makes_the_producer_wait_until_the_consumer_acknowledges():
    bus = MemoryBus(capacity=5)
    assert bus.publish(observations(5), timeout=0.1)
    assert not bus.publish(observations(1), timeout=0.05)  # full: back-pressure
    delivery = bus.consume(5, timeout=0)
    # Consumed but not acknowledged still counts against capacity: memory stays bounded.
    assert not bus.publish(observations(1), timeout=0.05)
    done = threading.Event()

    def produce():
        bus.publish(observations(3), timeout=5)
        done.set()

    threading.Thread(target=produce).start()
    time.sleep(0.05)
    assert not done.is_set()
    bus.ack(delivery)
    assert done.wait(2)
    assert bus.depth() == 3


def test_publish_on_a_closed_bus_raises_and_consume_returns_empty():
    bus = MemoryBus(capacity=1)
    bus.close()
    with pytest.raises(BusClosed):
        bus.publish(observations(1))
    assert bus.consume(10, timeout=1).observations == []
