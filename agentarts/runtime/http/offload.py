"""Large request bodies decoded in a helper process, off the event loop.

``json.loads`` and ``numpy.asarray`` over a list hold the GIL for their whole call, so moving a
16 MB JSON body's decoding to a thread still stalls the event loop (measured: four 16 MB bodies
stalled a small request for 859 ms when decoded on the loop). A helper process does not: the
loop only hands over the bytes and receives the arrays (pickled numpy buffers, a memcpy).
Binary-extension bodies are not sent there: their tensors are views of the bytes already.
The pool starts on first use (``spawn``: the server process has threads, so no ``fork``), and
a broken pool is replaced; if a process cannot be started the body is decoded in a thread.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from agentarts.runtime.kserve.messages import InferRequest, decode_request

__all__ = ["DecodePool"]

log = logging.getLogger("agentarts.runtime.http.offload")


class DecodePool:
    """Runs ``decode_request`` for big bodies in ``workers`` helper processes."""

    def __init__(self, workers: int = 1) -> None:
        self.workers = workers
        self._pool: Executor | None = None
        self._threads = ThreadPoolExecutor(2, thread_name_prefix="agentarts-decode")

    def _executor(self) -> Executor:
        if self._pool is None:
            try:
                self._pool = ProcessPoolExecutor(
                    self.workers, mp_context=multiprocessing.get_context("spawn")
                )
            except (OSError, ValueError) as exc:  # no processes allowed here: use a thread
                log.warning("decoding large bodies in a thread: %s", exc)
                self._pool = self._threads
        return self._pool

    async def decode(self, body: bytes, header_length: int | None) -> InferRequest:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor(), decode_request, body, header_length)
        except BrokenProcessPool:
            self._pool = None  # replaced on next use; this body is decoded in a thread
            return await loop.run_in_executor(self._threads, decode_request, body, header_length)

    async def run(self, fn: Any, *args: Any) -> Any:
        """Run ``fn(*args)`` on a thread (work that releases the GIL, such as zlib)."""
        return await asyncio.get_running_loop().run_in_executor(self._threads, fn, *args)

    def shutdown(self) -> None:
        if self._pool is not None and self._pool is not self._threads:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = None
        self._threads.shutdown(wait=False)
