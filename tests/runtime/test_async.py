"""LocalRuntime.ainfer: asyncio callers are batched and each gets its own rows back."""

from __future__ import annotations

import asyncio

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

    async def main():
        calls = [rt.ainfer("aq", {"x": np.ones((1, 64), np.float32)}) for _ in range(12)]
        return await asyncio.gather(*calls, return_exceptions=True)

    outcomes = asyncio.run(main())
    overloaded = [o for o in outcomes if isinstance(o, RuntimeOverloadedError)]
    served = [o for o in outcomes if not isinstance(o, Exception)]
    assert overloaded and served and len(overloaded) + len(served) == 12
    rt.close()
