"""DynamicBatcher: batch formation, overload, timeouts and shutdown, with a controllable runner."""

from __future__ import annotations

import threading
import time

import pytest

from agentarts.errors import ModelError, RequestTimeoutError, RuntimeOverloadedError
from agentarts.runtime.batching.threads import BatcherConfig, DynamicBatcher


class Gate:
    """A runner that records batches and blocks until released (to build up a queue)."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.release = threading.Event()
        self.entered = threading.Event()

    def __call__(self, payloads, rows):
        self.entered.set()
        assert self.release.wait(10)
        self.batches.append(list(payloads))
        return [p * 10 for p in payloads]


def spawn(batcher, values, results, errors, rows=1, timeout=None):
    threads = []
    for v in values:

        def call(v=v):
            try:
                results[v] = batcher.submit(v, rows, timeout)
            except Exception as exc:
                errors[v] = exc

        t = threading.Thread(target=call)
        t.start()
        threads.append(t)
    return threads


def wait_queue(batcher, depth, timeout=5.0):
    end = time.time() + timeout
    while batcher.queue_depth < depth and time.time() < end:
        time.sleep(0.001)
    assert batcher.queue_depth >= depth


def test_lone_caller_runs_inline():
    calls = []
    b = DynamicBatcher(
        lambda p, r: calls.append(threading.get_ident()) or [x + 1 for x in p], BatcherConfig()
    )
    assert b.submit(1, 1) == (2, 1)
    assert calls == [threading.get_ident()]


def test_queued_requests_form_one_batch_in_arrival_order():
    gate = Gate()
    b = DynamicBatcher(gate, BatcherConfig(max_batch_size=8))
    results, errors = {}, {}
    first = spawn(b, [0], results, errors)
    assert gate.entered.wait(5)
    rest = spawn(b, [1, 2, 3, 4, 5], results, errors)
    wait_queue(b, 5)
    gate.release.set()
    for t in first + rest:
        t.join(5)
    assert gate.batches[0] == [0]
    assert sorted(gate.batches[1]) == [1, 2, 3, 4, 5]
    assert results == {v: (v * 10, 1 if v == 0 else 5) for v in range(6)}
    assert b.stats.exec_count == 2 and b.stats.inference_count == 6


def test_preferred_batch_size_is_formed_when_possible():
    gate = Gate()
    b = DynamicBatcher(gate, BatcherConfig(max_batch_size=8, preferred_batch_sizes=(4,)))
    results, errors = {}, {}
    first = spawn(b, [0], results, errors)
    assert gate.entered.wait(5)
    rest = spawn(b, list(range(1, 7)), results, errors)
    wait_queue(b, 6)
    gate.release.set()
    for t in first + rest:
        t.join(5)
    assert [len(x) for x in gate.batches] == [1, 4, 2]


def test_queue_delay_waits_for_company():
    seen = []
    b = DynamicBatcher(
        lambda p, r: seen.append(len(p)) or p,
        BatcherConfig(max_batch_size=4, max_queue_delay_us=200_000),
    )
    results, errors = {}, {}
    threads = spawn(b, [0], results, errors)
    time.sleep(0.02)
    threads += spawn(b, [1, 2, 3], results, errors)
    for t in threads:
        t.join(5)
    assert seen == [4]


def test_full_queue_is_an_overload_error():
    gate = Gate()
    b = DynamicBatcher(gate, BatcherConfig(max_batch_size=1, max_queue_size=2))
    results, errors = {}, {}
    threads = spawn(b, [0], results, errors)
    assert gate.entered.wait(5)
    threads += spawn(b, [1, 2], results, errors)
    wait_queue(b, 2)
    with pytest.raises(RuntimeOverloadedError) as info:
        b.submit(99, 1)
    assert info.value.retry_after_s >= 1
    gate.release.set()
    for t in threads:
        t.join(5)
    assert set(results) == {0, 1, 2} and not errors


def test_waiting_request_times_out_and_leaves_the_queue():
    gate = Gate()
    b = DynamicBatcher(gate, BatcherConfig(max_batch_size=1))
    results, errors = {}, {}
    threads = spawn(b, [0], results, errors)
    assert gate.entered.wait(5)
    with pytest.raises(RequestTimeoutError):
        b.submit(1, 1, timeout_s=0.05)
    assert b.queue_depth == 0
    gate.release.set()
    for t in threads:
        t.join(5)
    assert results == {0: (0, 1)}


def test_runner_error_reaches_every_caller_of_the_batch():
    def boom(payloads, rows):
        raise ModelError("kaput")

    b = DynamicBatcher(boom, BatcherConfig())
    with pytest.raises(ModelError, match="kaput"):
        b.submit(1, 1)
    assert b.stats.request_failure == 1
    with pytest.raises(ModelError):
        b.submit(2, 1)


def test_close_fails_queued_requests_and_never_hangs():
    gate = Gate()
    b = DynamicBatcher(gate, BatcherConfig(max_batch_size=1))
    results, errors = {}, {}
    threads = spawn(b, [0], results, errors)
    assert gate.entered.wait(5)
    threads += spawn(b, [1, 2], results, errors)
    wait_queue(b, 2)
    closer = threading.Thread(target=b.close, kwargs={"drain": False})
    closer.start()
    closer.join(5)
    assert not closer.is_alive()
    gate.release.set()
    for t in threads:
        t.join(5)
    assert results == {0: (0, 1)}
    assert all(isinstance(errors[v], ModelError) for v in (1, 2))
    with pytest.raises(ModelError, match="shutting down"):
        b.submit(3, 1)


def test_close_drains_queued_requests():
    gate = Gate()
    b = DynamicBatcher(gate, BatcherConfig(max_batch_size=1))
    results, errors = {}, {}
    threads = spawn(b, [0, 1, 2], results, errors)
    assert gate.entered.wait(5)
    gate.release.set()
    b.close(drain=True)
    for t in threads:
        t.join(5)
    assert set(results) == {0, 1, 2} and not errors


def test_oversized_request_is_refused():
    b = DynamicBatcher(lambda p, r: p, BatcherConfig(max_batch_size=4))
    with pytest.raises(ModelError, match="exceed max_batch_size"):
        b.submit(1, 5)


def test_bad_config():
    with pytest.raises(ValueError):
        BatcherConfig(max_batch_size=0)
    with pytest.raises(ValueError):
        BatcherConfig(max_batch_size=4, preferred_batch_sizes=(8,))
