"""LocalRuntime.ainfer: asyncio callers are batched and each gets its own rows back."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from agentarts.errors import InvalidInputError, RuntimeOverloadedError
from agentarts.runtime.local import LocalRuntime
from tests.runtime.test_local import reference


def test_concurrent_awaits_are_batched_and_correct(runtime, repo):
    rng = np.random.default_rng(5)
    inputs = [
        rng.standard_normal((int(rng.integers(1, 3)), 64)).astype(np.float32) for _ in range(64)
    ]
    expected = [reference(repo, "mlp", x, "2") for x in inputs]

    async def main():
        async def one(i):
            out = []
            for _ in range(10):
                out.append(await runtime.ainfer("mlp", {"x": inputs[i]}))
            return out

        return await asyncio.gather(*(one(i) for i in range(64)))

    results = asyncio.run(main())
    for i, per_caller in enumerate(results):
        for r in per_caller:
            np.testing.assert_allclose(r["y"], expected[i], rtol=1e-4, atol=1e-5)
    assert max(r.batch_size for rs in results for r in rs) > 8
    stats = runtime.load("mlp").batcher.stats
    assert stats.request_success == 640 and stats.exec_count < 640 / 4


def test_async_errors(runtime):
    async def main():
        with pytest.raises(InvalidInputError):
            await runtime.ainfer("mlp", {"x": np.ones((1, 3), np.float32)})
        result = await runtime.ainfer("mlp", {"x": np.ones((1, 64), np.float32)}, outputs=["y"])
        assert list(result.outputs) == ["y"]
        with pytest.raises(InvalidInputError, match="unknown outputs"):
            await runtime.ainfer("mlp", {"x": np.ones((1, 64), np.float32)}, outputs=["q"])

    asyncio.run(main())


def test_async_overload(repo):
    from agentarts.runtime.testing import make_mlp, write_model

    write_model(repo, "aq", make_mlp(), card="[batching]\nmax_batch_size = 2\nmax_queue_size = 4\n")
    rt = LocalRuntime([repo])
    lm = rt.load("aq")
    runner = lm.async_runner

    def slow(payloads, rows):  # batches take long: the queue must fill while one runs
        time.sleep(0.05)
        return runner(payloads, rows)

    lm.async_runner = slow

    async def main():
        calls = [rt.ainfer("aq", {"x": np.ones((1, 64), np.float32)}) for _ in range(12)]
        return await asyncio.gather(*calls, return_exceptions=True)

    outcomes = asyncio.run(main())
    overloaded = [o for o in outcomes if isinstance(o, RuntimeOverloadedError)]
    served = [o for o in outcomes if not isinstance(o, Exception)]
    assert overloaded and served and len(overloaded) + len(served) == 12
    rt.close()


@pytest.mark.parametrize("bad_value", [np.nan, np.inf, 1e39])
def test_a_bad_value_fails_only_its_own_request(runtime, repo, bad_value):
    """Values are checked once per batch on the async path; a batch with one bad request is
    split so that request alone fails, with the error naming its value, and the rest run."""
    rng = np.random.default_rng(9)
    inputs = [rng.standard_normal((1, 64)).astype(np.float32) for _ in range(16)]
    with np.errstate(over="ignore"):
        inputs[5][0, 7] = np.float32(bad_value)
    stats = runtime.load("mlp").batcher.stats
    before = (stats.request_success, stats.request_failure)

    async def main():
        calls = [runtime.ainfer("mlp", {"x": x}) for x in inputs]
        return await asyncio.gather(*calls, return_exceptions=True)

    outcomes = asyncio.run(main())
    assert isinstance(outcomes[5], InvalidInputError)
    assert "NaN or Inf at index [0, 7]" in str(outcomes[5])
    for i, outcome in enumerate(outcomes):
        if i != 5:
            np.testing.assert_allclose(
                outcome["y"], reference(repo, "mlp", inputs[i], "2"), rtol=1e-4, atol=1e-5
            )
            assert outcome.batch_size <= 15
    assert (stats.request_success - before[0], stats.request_failure - before[1]) == (15, 1)


def test_async_range_checks_per_request(repo):
    from agentarts.runtime.testing import make_mlp, write_model

    card = (
        '[[inputs]]\nname = "x"\nvalid_range = [-1.0, 1.0]\non_invalid = "{mode}"\n'
        "[batching]\nmax_batch_size = 16\n"
    )
    write_model(repo, "reject", make_mlp(), card=card.format(mode="reject"))
    write_model(repo, "clip", make_mlp(), card=card.format(mode="clip"))
    rt = LocalRuntime([repo])
    inputs = [np.full((1, 64), 0.5, np.float32) for _ in range(6)]
    inputs[2] = np.full((1, 64), 3.0, np.float32)

    async def main(model):
        calls = [rt.ainfer(model, {"x": x}) for x in inputs]
        return await asyncio.gather(*calls, return_exceptions=True)

    rejected = asyncio.run(main("reject"))
    assert isinstance(rejected[2], InvalidInputError) and "outside [-1.0, 1.0]" in str(rejected[2])
    assert all(not isinstance(o, Exception) for i, o in enumerate(rejected) if i != 2)
    clipped = asyncio.run(main("clip"))
    np.testing.assert_allclose(
        clipped[2]["y"], rt.infer("clip", {"x": np.ones((1, 64), np.float32)})["y"], rtol=1e-5
    )
    rt.close()
