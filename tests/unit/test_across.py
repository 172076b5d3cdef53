#    Licensed under the Apache License, Version 2.0 (the "License"); you may
#    not use this file except in compliance with the License. You may obtain
#    a copy of the License at
#
#         http://www.apache.org/licenses/LICENSE-2.0
#
#    Unless required by applicable law or agreed to in writing, software
#    distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
#    WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
#    License for the specific language governing permissions and limitations
#    under the License.

"""The move's read-ahead: bounded, failures handed to the consumer, stopped when closed."""

import threading
import time

import pytest

from vmdk_volume.core import across


def _wait(condition, timeout_s: float = 5) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_the_reader_runs_at_most_depth_chunks_ahead_and_stops_when_closed():
    produced = []

    def chunks():
        for n in range(1000):
            produced.append(n)
            yield b'%d' % n
    with across.ReadAhead(chunks(), depth=3) as ahead:
        first = next(iter(ahead))
        time.sleep(0.3)
        assert first == b'0' and len(produced) <= 1 + 3 + 1   # taken, held, one in hand
    _wait(lambda: not any(t.name == 'read-ahead' for t in threading.enumerate()))
    assert len(produced) < 10


def test_a_failure_reading_reaches_the_consumer_after_the_chunks_before_it():
    def chunks():
        yield b'a'
        raise OSError('connection reset')
    with across.ReadAhead(chunks()) as ahead, pytest.raises(OSError, match='reset'):
        assert next(iter(ahead)) == b'a'
        list(ahead)


def test_every_chunk_arrives_in_order():
    data = [bytes([n]) * 10 for n in range(50)]
    with across.ReadAhead(iter(data), depth=2) as ahead:
        assert list(ahead) == data
