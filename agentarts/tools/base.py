"""Typed tools: pydantic in, pydantic out, a safety level, a timeout and a retry policy.

A tool that changes a plant (``Safety.ACTUATING``) runs only under a grant: an approval of exactly
these arguments, claimed once by the graph's ``tool_node`` (see ``agentarts.graph.actuation``);
otherwise it raises ApprovalError.
Every call made inside an ``Agent`` run is recorded in the run store with its inputs, outputs,
duration and attempts, and emitted as an event.
"""

from __future__ import annotations

import concurrent.futures
import enum
import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, get_type_hints

from pydantic import BaseModel, ValidationError, create_model

from agentarts.errors import (
    AgentArtsError,
    ApprovalError,
    InvalidInputError,
    RequestTimeoutError,
    RuntimeOverloadedError,
)
from agentarts.tools.context import _ACTIVE_GRANT, current_run, proposal_digest

__all__ = ["Safety", "Tool", "ToolError", "tool"]


class Safety(enum.StrEnum):
    """How much a tool may change the world."""

    READ_ONLY = "read_only"  # reads data; no effect
    ADVISORY = "advisory"  # computes a recommendation; no effect on the plant
    ACTUATING = "actuating"  # changes the plant: needs an approval in the same run


class ToolError(AgentArtsError):
    """A tool failed after its retries; ``__cause__`` holds the last error."""


DEFAULT_RETRY_ON: tuple[type[BaseException], ...] = (
    TimeoutError,
    ConnectionError,
    RuntimeOverloadedError,
    RequestTimeoutError,
)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


@dataclass
class Tool:
    """A typed tool. Build one with ``@tool`` or directly.

    Attributes:
        name: unique within an agent; the action name approvals refer to.
        fn: the implementation, called with one validated ``input_model`` instance.
        input_model / output_model: pydantic models; their JSON schemas describe the tool.
        safety: READ_ONLY, ADVISORY or ACTUATING.
        timeout_s: wall-clock limit per attempt (None: no limit).
        retries: extra attempts after a failure listed in ``retry_on`` (never for actuating
            tools, whose effect may have happened).
        idempotent: an actuating tool that may safely run again with the same idempotency key
            (``agentarts.tools.actuation_key()``): after a crash between its intent and its
            outcome it is re-run instead of asking a person.
        check: ``check(args, key) -> bool | None`` answering "did this actuation happen?"
            after such a crash (None: cannot tell, ask a person).
    """

    name: str
    description: str
    fn: Callable[[BaseModel], Any]
    input_model: type[BaseModel]
    output_model: type[BaseModel]
    safety: Safety = Safety.READ_ONLY
    timeout_s: float | None = None
    retries: int = 0
    retry_on: tuple[type[BaseException], ...] = DEFAULT_RETRY_ON
    backoff_s: float = 0.1
    wraps_value: bool = field(default=False, repr=False)  # output_model is {"result": value}
    idempotent: bool = False
    check: Callable[[BaseModel, str], bool | None] | None = field(default=None, repr=False)

    # -- calling -----------------------------------------------------------------------------
    def _parse(self, args: Any) -> BaseModel:
        if isinstance(args, self.input_model):
            return args
        if isinstance(args, BaseModel):
            args = args.model_dump()
        try:
            return self.input_model.model_validate(args if args is not None else {})
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}" for e in exc.errors()
            )
            raise InvalidInputError(f"tool {self.name}: {problems}") from exc

    def _check_approval(self, parsed: BaseModel) -> None:
        if self.safety is not Safety.ACTUATING:
            return
        grant = _ACTIVE_GRANT.get()
        if (
            grant is None
            or grant.get("action") != self.name
            or grant.get("digest") != proposal_digest(self.name, parsed)
        ):
            raise ApprovalError(
                f"tool {self.name} is actuating: it runs only after an approval of exactly "
                f"these arguments, through the graph's tool_node ({parsed.model_dump_json()})"
            )

    def _call_once(self, parsed: BaseModel) -> Any:
        if self.timeout_s is None:
            return self.fn(parsed)
        import contextvars

        pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"tool-{self.name}")
        ctx = contextvars.copy_context()  # the run (its store, its path policy) goes along
        try:
            return pool.submit(ctx.run, self.fn, parsed).result(timeout=self.timeout_s)
        except concurrent.futures.TimeoutError as exc:
            raise RequestTimeoutError(
                f"tool {self.name} took longer than {self.timeout_s} s"
            ) from exc
        finally:
            pool.shutdown(wait=False)  # a hung call keeps its thread; the run moves on

    def _output(self, raw: Any) -> BaseModel:
        if self.wraps_value and not isinstance(raw, self.output_model):
            raw = {"result": raw}
        try:
            return self.output_model.model_validate(raw)
        except ValidationError as exc:
            raise ToolError(f"tool {self.name} returned an invalid result: {exc}") from exc

    def invoke(self, args: Any = None) -> BaseModel:
        """Validate ``args``, check approval, run with timeout and retries, validate output."""
        parsed = self._parse(args)
        self._check_approval(parsed)
        run = current_run()
        started = time.time()
        t0 = time.perf_counter()
        attempts = 0
        retries = 0 if self.safety is Safety.ACTUATING else self.retries
        error: BaseException | None = None
        result: BaseModel | None = None
        while True:
            attempts += 1
            try:
                result = self._output(self._call_once(parsed))
                error = None
                break
            except self.retry_on as exc:
                error = exc
                if attempts > retries:
                    break
                time.sleep(self.backoff_s * 2 ** (attempts - 1))
            except Exception as exc:
                error = exc
                break
        if run is not None:
            self._record(run, parsed, result, error, started, t0, attempts)
        if error is not None:
            if isinstance(error, AgentArtsError) and attempts == 1:
                raise error
            raise ToolError(
                f"tool {self.name} failed after {attempts} attempt(s): {_one_line(error)}"
            ) from error
        assert result is not None
        return result

    async def ainvoke(self, args: Any = None) -> BaseModel:
        """``invoke`` on a worker thread, so async graphs keep their event loop free."""
        import asyncio
        import contextvars

        ctx = contextvars.copy_context()
        return await asyncio.to_thread(ctx.run, self.invoke, args)

    def __call__(self, args: Any = None, /, **kwargs: Any) -> BaseModel:
        return self.invoke(kwargs if args is None else args)

    def _record(
        self,
        run: Any,
        parsed: BaseModel,
        result: BaseModel | None,
        error: BaseException | None,
        started: float,
        t0: float,
        attempts: int,
    ) -> None:
        from datetime import UTC, datetime

        duration_ms = (time.perf_counter() - t0) * 1e3
        if run.store is not None:
            run.store.add_tool_call(
                run.run_id,
                run.thread_id,
                self.name,
                self.safety.value,
                parsed,
                result,
                None if error is None else _one_line(error),
                datetime.fromtimestamp(started, UTC),
                duration_ms,
                attempts,
            )
        if run.events is not None:
            run.events.emit(
                "tool_call",
                run,
                node=None,
                tool=self.name,
                safety=self.safety.value,
                duration_ms=duration_ms,
                ok=error is None,
                attempts=attempts,
            )

    # -- describing --------------------------------------------------------------------------
    def schema(self) -> dict[str, Any]:
        """Name, description, safety and JSON schemas of input and output."""
        return {
            "name": self.name,
            "description": self.description,
            "safety": self.safety.value,
            "timeout_s": self.timeout_s,
            "retries": self.retries,
            "input_schema": self.input_model.model_json_schema(),
            "output_schema": self.output_model.model_json_schema(),
        }

    def to_langchain(self) -> Any:
        """A LangChain ``StructuredTool`` a chat model can call (same checks apply)."""
        from langchain_core.tools import StructuredTool

        def run(**kwargs: Any) -> dict[str, Any]:
            return self.invoke(kwargs).model_dump(mode="json")

        return StructuredTool.from_function(
            func=run,
            name=self.name,
            description=self.description or self.name,
            args_schema=self.input_model,
        )


def _input_model(fn: Callable[..., Any], hints: dict[str, Any]) -> tuple[type[BaseModel], bool]:
    """(model, single) - ``single`` when fn takes one pydantic model argument."""
    params = [
        p
        for p in inspect.signature(fn).parameters.values()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    if len(params) == 1:
        hint = hints.get(params[0].name)
        if inspect.isclass(hint) and issubclass(hint, BaseModel):
            return hint, True
    fields: dict[str, Any] = {}
    for p in params:
        if p.name not in hints:
            raise TypeError(f"@tool {fn.__name__}: parameter {p.name!r} needs a type hint")
        default = ... if p.default is inspect.Parameter.empty else p.default
        fields[p.name] = (hints[p.name], default)
    name = "".join(part.title() for part in fn.__name__.split("_")) + "Input"
    return create_model(name, **fields), False  # type: ignore[call-overload]


def tool(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    safety: Safety | str = Safety.READ_ONLY,
    timeout_s: float | None = None,
    retries: int = 0,
    description: str | None = None,
    idempotent: bool = False,
    check: Callable[[BaseModel, str], bool | None] | None = None,
) -> Any:
    """Make a ``Tool`` from a typed function; schemas come from its type hints.

    The function takes either one pydantic model or typed keyword parameters, and returns a
    pydantic model or any value pydantic can validate (wrapped as ``{"result": value}``)::

        @tool(safety="read_only")
        def read_tag(tag: str, minutes: int = 10) -> Reading: ...
    """

    def build(f: Callable[..., Any]) -> Tool:
        hints = get_type_hints(f)
        input_model, single = _input_model(f, hints)
        returned = hints.get("return", Any)
        wraps = not (inspect.isclass(returned) and issubclass(returned, BaseModel))
        output_model = (
            create_model(
                f"{input_model.__name__.removesuffix('Input')}Output", result=(returned, ...)
            )
            if wraps
            else returned
        )
        impl = f if single else (lambda model: f(**dict(model)))
        doc = inspect.getdoc(f) or ""
        return Tool(
            name=name or f.__name__,
            description=description or doc.split("\n\n")[0],
            fn=impl,
            input_model=input_model,
            output_model=output_model,
            safety=Safety(safety),
            timeout_s=timeout_s,
            retries=retries,
            wraps_value=wraps,
            idempotent=idempotent,
            check=check,
        )

    return build(fn) if fn is not None else build
