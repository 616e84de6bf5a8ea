"""Fuzzing the CLI: whatever a user types, one line and exit 2, never a traceback, never a hang,
never a write outside the paths the test gave.

Each call runs ``agentarts`` (Typer's CliRunner on ``agentarts.cli.main:app``) in a forked child
process, so a call that blocks (``--input @fifo``) or eats memory (``--input @/dev/zero``) is
killed after ``CALL_TIMEOUT_S`` and reported instead of hanging the suite. In the child:

- an audit hook (PEP 578) blocks and records every write outside the test's folder: file opens
  for writing, mkdir/rename/replace/remove/symlink/chmod, SQLite databases
  (``/dev/null`` may be written, never replaced; mkdir in ``/proc`` is left to the kernel, which
  refuses it; programs it starts, such as git, write only
  into folders it made, which the hook checked);
- the address space is capped (``RLIMIT_AS``) so reading an endless file fails fast;
- HOME, XDG folders, TMPDIR and the data dir point into the test's folder.

Checks for every call: not killed by the timeout; no traceback (CliRunner caught no exception
but SystemExit, and no "Traceback" in the output); exit code in {0, 1, 2}; on exit 2 the last
stderr line starts with ``error:``; no blocked write.

The default run draws ``AGENTARTS_FUZZ_EXAMPLES`` (30) examples with a fixed seed and stays well
under a minute; ``AGENTARTS_FUZZ_EXAMPLES=2000 AGENTARTS_FUZZ_RANDOM=1`` is the long mode.
The regression cases at the end are the reproducers issue 10 lists, one test each.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("AGENTARTS_FUZZ_EXAMPLES", "30"))
RANDOM = os.environ.get("AGENTARTS_FUZZ_RANDOM", "") == "1"
CALL_TIMEOUT_S = float(os.environ.get("AGENTARTS_FUZZ_TIMEOUT_S", "30"))
MEMORY_HEADROOM = 2 << 30  # bytes of address space a call may add

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_PATH_EVENTS = {  # event -> indexes of the path arguments that are written
    "os.mkdir": (0,),
    "os.remove": (0,),
    "os.rmdir": (0,),
    "os.truncate": (0,),
    "os.chmod": (0,),
    "os.chown": (0,),
    "os.utime": (0,),
    "shutil.rmtree": (0,),
    "os.rename": (0, 1),
    "os.replace": (0, 1),
    "os.link": (1,),
    "os.symlink": (1,),
    "shutil.copyfile": (1,),
    "shutil.copytree": (1,),
    "shutil.move": (0, 1),
}


# -- the child process ---------------------------------------------------------------------------
def _vm_size() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _guard_writes(root: str, violations: list[str]) -> None:
    """Install an audit hook that blocks (raises) and records writes outside ``root``."""
    allowed = os.path.realpath(root) + os.sep

    def inside(path: Any, *, follow: bool) -> bool:
        if isinstance(path, int) or path is None:
            return True  # a file descriptor: its open was checked
        text = os.fsdecode(path) if isinstance(path, bytes) else str(path)
        full = os.path.realpath(text) if follow else os.path.abspath(text)
        return (full + os.sep).startswith(allowed) or f"{os.sep}__pycache__{os.sep}" in full

    def block(event: str, path: Any) -> None:
        violations.append(f"{event} {path!r}")
        raise PermissionError(f"fuzz harness: write outside the test folder blocked: {path!r}")

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "open":
            path, mode, flags = args
            writing = (mode is not None and any(c in str(mode) for c in "wax+")) or (
                mode is None and isinstance(flags, int) and flags & _WRITE_FLAGS
            )
            if writing and path != "/dev/null" and not inside(path, follow=True):
                block(event, path)
        elif event == "os.mkdir" and (
            os.path.lexists(args[0]) or os.path.abspath(os.fsdecode(args[0])).startswith("/proc/")
        ):
            return  # EEXIST, or procfs refuses it: the OS writes nothing
        elif event in _PATH_EVENTS:
            for index in _PATH_EVENTS[event]:
                if index < len(args) and not inside(args[index], follow=False):
                    block(event, args[index])
        elif event == "sqlite3.connect":
            database = args[0]
            if isinstance(database, str | bytes | os.PathLike):
                text = os.fsdecode(database)
                memory = not text or text == ":memory:" or text.startswith("file:")
                if not memory and not inside(text, follow=True):
                    block(event, text)

    sys.addaudithook(hook)


def _child(conn: Any, args: list[str], root: str, app: Any) -> None:
    import tempfile
    import traceback

    from typer.testing import CliRunner

    limit = _vm_size() + MEMORY_HEADROOM
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    tempfile.tempdir = os.path.join(root, "tmp")
    os.chdir(os.path.join(root, "cwd"))
    violations: list[str] = []
    _guard_writes(root, violations)
    out: dict[str, Any]
    try:
        result = CliRunner().invoke(app, args)
        exc = result.exception
        crashed = exc is not None and not isinstance(exc, SystemExit)
        out = {
            "exit_code": result.exit_code,
            "stdout": result.stdout,
            "stderr": result.stderr,
            "traceback": "".join(traceback.format_exception(*result.exc_info))
            if crashed and result.exc_info
            else "",
        }
    except BaseException as exc:  # the runner itself broke (e.g. MemoryError while capturing)
        out = {"exit_code": -1, "stdout": "", "stderr": "", "traceback": repr(exc)}
    out["violations"] = violations
    try:
        conn.send(out)
    finally:
        os._exit(0)


def invoke(
    args: list[str], root: Path, timeout: float = CALL_TIMEOUT_S, app: Any = None
) -> dict[str, Any]:
    """Run ``agentarts ARGS`` in a forked child; ``{"hang": True}`` if it outlives ``timeout``."""
    if app is None:
        from agentarts.cli.main import app
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child, args=(send, args, str(root), app), daemon=True)
    child.start()
    send.close()
    try:
        if receive.poll(timeout):
            try:
                return receive.recv()
            except EOFError:
                return {"died": child.exitcode, "exit_code": None}
        return {"hang": True, "exit_code": None}
    finally:
        if child.is_alive():
            child.kill()
        child.join(10)
        receive.close()


def problems(args: list[str], out: dict[str, Any]) -> list[str]:
    """What is wrong with one call's outcome (empty: fine)."""
    found = []
    if out.get("hang"):
        return [f"hangs (killed after {CALL_TIMEOUT_S:.0f} s)"]
    if "died" in out:
        return [f"child died (exit {out['died']}) without a result"]
    text = out["stdout"] + out["stderr"]
    if out["traceback"] or "Traceback (most recent call last)" in text:
        last = (out["traceback"] or text).strip().splitlines()[-1:]
        found.append(f"traceback: {last}")
    if out["exit_code"] not in (0, 1, 2):
        found.append(f"exit code {out['exit_code']}")
    if out["exit_code"] == 2:
        lines = out["stderr"].strip().splitlines()
        if not lines or not lines[-1].startswith("error:"):
            found.append(f"exit 2 without an error line: {out['stderr'][-200:]!r}")
    if out["violations"]:
        found.append(f"writes outside the test folder: {out['violations']}")
    return found


# -- the playground --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def playground(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The module's folder: odd files to point commands at; HOME and data live inside it."""
    base = tmp_path_factory.mktemp("fuzz")
    for sub in ("cwd", "tmp", "home", "data", "adir", "adir/sub"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    (base / "afile").write_text("not a folder\n")
    (base / "adir" / "target.txt").write_text("keep me\n")
    (base / "link").symlink_to(base / "adir" / "target.txt")
    (base / "nonutf8.json").write_bytes(b'{"tank_id": "\xff\xfe\xfa"}')
    (base / "deep.json").write_text("[" * 200_000 + "]" * 200_000)
    (base / "deepobj.json").write_text('{"a":' * 100_000 + "1" + "}" * 100_000)
    (base / "ok.json").write_text('{"tank_id": "T-2"}')
    os.mkfifo(base / "fifo")
    # heavy imports once in the parent, so each forked call starts warm
    import agentarts.cli.main
    import agentarts.graph.agent
    import agentarts.store  # noqa: F401
    import examples.tank_agent.agent  # noqa: F401

    return base


@pytest.fixture
def root(playground: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The playground, with HOME, XDG folders, TMPDIR and the data dir inside it."""
    monkeypatch.setenv("HOME", str(playground / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(playground / "home" / "share"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(playground / "home" / "config"))
    monkeypatch.setenv("TMPDIR", str(playground / "tmp"))
    monkeypatch.setenv("AGENTARTS_DATA_DIR", str(playground / "data"))
    monkeypatch.setenv("COLUMNS", "80")
    return playground


REF = "examples.tank_agent.agent:builder"


def test_the_harness_catches_hangs_tracebacks_bad_exits_and_stray_writes(root: Path) -> None:
    """The checks can fail: a tiny app that misbehaves in each way is caught each time."""
    import time

    import typer

    app = typer.Typer()
    outside = root.parent / f"{root.name}-escaped.txt"

    @app.command()
    def misbehave(how: str) -> None:
        if how == "hang":
            time.sleep(60)
        elif how == "crash":
            raise ValueError("boom")
        elif how == "exit":
            raise typer.Exit(3)
        elif how == "write":
            outside.write_text("escaped")
        elif how == "replace":
            os.replace(root / "afile", root.parent / f"{root.name}-moved")
        elif how == "fine":
            (root / "cwd" / "inside.txt").write_text("ok")

    assert problems([], invoke(["hang"], root, timeout=2, app=app))[0].startswith("hangs")
    assert problems([], invoke(["crash"], root, app=app))[0].startswith("traceback")
    assert problems([], invoke(["exit"], root, app=app)) == ["exit code 3"]
    for how in ("write", "replace"):
        found = problems([], invoke([how], root, app=app))
        assert any(f.startswith("writes outside") for f in found), found
    assert not outside.exists() and (root / "afile").is_file()
    assert problems([], invoke(["fine"], root, app=app)) == []
    assert (root / "cwd" / "inside.txt").read_text() == "ok"


def _thread(root: Path) -> str:
    """A finished thread ``t-done`` in the playground's store, for show/export (made in this
    process, without a timeout: a loaded machine must not leave it half done)."""
    if not (root / "t-done.made").exists():
        from typer.testing import CliRunner

        from agentarts.cli.main import app

        args = ["run", REF, "--input", '{"tank_id": "T-2"}', "--thread", "t-done"]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, (result.stdout, result.stderr)
        (root / "t-done.made").touch()
    return "t-done"


# -- strategies ------------------------------------------------------------------------------------
GARBAGE = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40
)
_ODD = ["", " ", "-", "--", "a" * 300, "é" * 130, "../../etc", "$(id)", "%s%n", "null", "T-1"]
#: "\udcff\udcfe": undecodable bytes, as the OS hands them to Python
ODD_WORDS = st.sampled_from([*_ODD, "t-done", "\udcff\udcfe"])
WORDS = st.one_of(GARBAGE, ODD_WORDS)
NUMBERS = st.one_of(
    st.sampled_from(
        ["0", "-5", "1", "8", "99999999999999999999", "1e309", "nan", "-0", "0x10", "", "3.5"]
    ),
    st.integers(-(10**30), 10**30).map(str),
)


def _paths(root: Path, *, creating: bool = False) -> st.SearchStrategy[str]:
    """Odd paths. ``creating``: for commands that may make what the path names (``new -o``,
    ``train --out``): only paths inside the playground or ones the kernel refuses, because
    making ``/fz-agent`` as root would be a correct answer to ``new fz-agent -o /``."""
    real = [] if creating else ["/", "/nonexistent-agentarts-fuzz/x"]
    odd = [
        *real,
        "/proc",
        "/proc/self/status",
        "/dev/zero",
        "/dev/null",
        str(root / "missing" / "deeper" / "x.json"),
        str(root / "afile"),
        str(root / "afile" / "x"),
        str(root / "adir"),
        str(root / "link"),
        str(root / "fifo"),
        str(root / "nonutf8.json"),
        str(root / ("n" * 256)),
        str(root / "cwd" / "out.json"),
    ]
    return st.one_of(st.sampled_from(odd), WORDS.map(lambda w: str(root / "cwd" / w)))


def _inputs(root: Path) -> st.SearchStrategy[str]:
    files = ["deep.json", "deepobj.json", "nonutf8.json", "ok.json", "fifo", "afile", "adir"]
    return st.one_of(
        st.sampled_from(["{}", '{"tank_id": "T-2"}', '{"tank_id": "T-9"}', "[]", "null", '"x"']),
        st.sampled_from(["{", "[" * 100_000, '{"a":' * 50_000, "1e999999", "@", "@/proc"]),
        st.sampled_from(["@/dev/zero", "@/nonexistent"]),
        st.sampled_from(files).map(lambda f: f"@{root / f}"),
        WORDS,
    )


def _commands(root: Path) -> st.SearchStrategy[list[str]]:
    paths, inputs, targets = _paths(root), _inputs(root), _paths(root, creating=True)
    industries = st.one_of(st.sampled_from(["blank", "steel", "bakery", ""]), WORDS)
    return st.one_of(
        st.tuples(WORDS, targets).map(lambda a: ["new", a[0], "-o", a[1], "--no-input"]),
        st.tuples(WORDS, industries).map(
            lambda a: ["new", a[0], "-i", a[1], "-o", str(root / "cwd"), "--no-input", "--json"]
        ),
        st.tuples(targets).map(lambda a: ["new", "fz-agent", "-o", a[0], "--force", "--no-input"]),
        st.tuples(inputs).map(lambda a: ["run", REF, "--input", a[0], "--json"]),
        st.tuples(WORDS, inputs).map(lambda a: ["run", a[0], "--input", a[1]]),
        st.tuples(NUMBERS).map(lambda a: ["runs", "list", "--limit", a[0]]),
        st.tuples(WORDS).map(lambda a: ["runs", "show", a[0], "--json"]),
        st.tuples(WORDS, paths).map(lambda a: ["runs", "export", a[0], "-o", a[1]]),
        st.tuples(WORDS, WORDS, WORDS).map(
            lambda a: ["runs", "approve", a[0], "--by", a[1], "--reason", a[2]]
        ),
        st.tuples(WORDS, WORDS).map(lambda a: ["runs", "reject", a[0], "--reason", a[1]]),
        st.tuples(WORDS).map(lambda a: ["runs", "resume", a[0]]),
        st.tuples(WORDS).map(lambda a: ["runs", "verify", a[0], "--json"]),
        st.tuples(WORDS, st.sampled_from(["--happened", "--not-happened"])).map(
            lambda a: ["runs", "resolve", a[0], a[1]]
        ),
        st.tuples(WORDS).map(lambda a: ["users", "remove", a[0]]),
        st.tuples(WORDS, paths, targets).map(
            lambda a: ["train", a[0], "--data", a[1], "--out", a[2]]
        ),
        st.tuples(paths).map(lambda a: ["upgrade", a[0]]),
        st.tuples(WORDS).map(lambda a: ["tools", a[0]]),
        st.tuples(WORDS, NUMBERS, NUMBERS).map(
            lambda a: ["runtime", "plan", a[0], "--qps", a[1], "--p99-ms", a[2]]
        ),
        st.tuples(WORDS).map(lambda a: ["runtime", "devices", "--devices", a[0]]),
        st.tuples(WORDS, NUMBERS).map(lambda a: ["demo", a[0], "--hours", a[1]]),
        st.lists(WORDS, max_size=4),
    )


@pytest.mark.slow
@settings(
    max_examples=EXAMPLES,
    deadline=timedelta(seconds=CALL_TIMEOUT_S + 15),
    derandomize=not RANDOM,
    database=None,  # no .hypothesis folder in the working tree
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_cli_fuzz(root: Path, data: st.DataObject) -> None:
    _thread(root)
    args = data.draw(_commands(root), label="args")
    found = problems(args, invoke(args, root))
    assert not found, f"agentarts {args!r}: {found}"


# -- the issue's reproducers, one each ------------------------------------------------------------
def _cases(root: Path) -> dict[str, list[str]]:
    long_name = "x" * 256
    return {
        "input-nonutf8": ["run", REF, "--input", f"@{root / 'nonutf8.json'}"],
        "input-deep-array": ["run", REF, "--input", f"@{root / 'deep.json'}"],
        "input-deep-object": ["run", REF, "--input", f"@{root / 'deepobj.json'}"],
        "input-dev-zero": ["run", REF, "--input", "@/dev/zero"],
        "input-fifo": ["run", REF, "--input", f"@{root / 'fifo'}"],
        "export-missing-folder": ["runs", "export", "t-done", "-o", str(root / "no" / "x.json")],
        "export-onto-folder": ["runs", "export", "t-done", "-o", str(root / "adir")],
        "export-root": ["runs", "export", "t-done", "-o", "/"],
        "export-proc": ["runs", "export", "t-done", "-o", "/proc"],
        "export-long-name": ["runs", "export", "t-done", "-o", str(root / long_name)],
        "export-device": ["runs", "export", "t-done", "-o", "/dev/null"],
        "export-symlink": ["runs", "export", "t-done", "-o", str(root / "link")],
        "list-huge-limit": ["runs", "list", "--limit", "99999999999999999999"],
        "new-300-name": ["new", "a" * 300, "-o", str(root / "cwd"), "--no-input"],
        "new-proc": ["new", "fz-agent", "-o", "/proc", "--no-input"],
        "new-symlink-force": ["new", "link", "-o", str(root), "--force", "--no-input"],
        "new-pydantic": ["new", "pydantic", "-o", str(root / "cwd"), "--no-input"],
        "train-steel-dev-zero": [
            "train",
            "steel",
            "--data",
            "/dev/zero",
            "--out",
            str(root / "cwd" / "m"),
        ],
        "train-rail-proc": ["train", "rail", "--data", "/proc", "--out", str(root / "cwd" / "m")],
        "demo-plot-missing-dir": [
            "demo",
            "steel",
            "--hours",
            "1",
            "--plot",
            str(root / "missing" / "x.png"),
        ],
    }


#: Each case must be refused, for its own reason (the fragment its error line names): exit 2
#: with one error line, and nothing else changed.
REFUSED = {
    "input-nonutf8": "UTF-8",
    "input-deep-array": "nested",
    "input-deep-object": "nested",
    "input-dev-zero": "/dev/zero",
    "input-fifo": "fifo",
    "export-missing-folder": "does not exist",
    "export-onto-folder": "adir",
    "export-root": "-o /",
    "export-proc": "/proc",
    "export-long-name": "xxxx",
    "export-symlink": "link",
    "list-huge-limit": "--limit",
    "new-300-name": "64",
    "new-proc": "/proc",
    "new-symlink-force": "symbolic link",
    "new-pydantic": "shadow",
    "demo-plot-missing-dir": "--plot",
    "train-steel-dev-zero": "/dev/zero",
    "train-rail-proc": "/proc",
}


def test_export_onto_a_device_never_replaces_it(root: Path) -> None:
    """``-o /dev/null`` may discard the output or be refused, but never replace the device."""
    _thread(root)
    args = _cases(root)["export-device"]
    out = invoke(args, root)
    assert not problems(args, out), problems(args, out)
    assert out["exit_code"] in (0, 2)
    assert Path("/dev/null").is_char_device()


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, marks=pytest.mark.slow) if c.startswith("train") else c for c in REFUSED],
)
def test_issue_reproducer_is_refused_cleanly(root: Path, case: str) -> None:
    if case.startswith("export"):
        _thread(root)
    args = _cases(root)[case]
    out = invoke(args, root)
    found = problems(args, out)
    assert not found, f"agentarts {args!r}: {found}"
    assert out["exit_code"] == 2, (out["exit_code"], out["stdout"][-300:], out["stderr"][-300:])
    assert out["stderr"].count("\n") == 1 and out["stderr"].startswith("error:"), out["stderr"]
    assert REFUSED[case] in out["stderr"], out["stderr"]
    # nothing was replaced or left behind
    assert (root / "link").is_symlink()
    assert (root / "adir" / "target.txt").read_text() == "keep me\n"
    assert (root / "adir").is_dir() and not list(root.glob("*.part")) and not (root / "no").exists()
    assert not (root / "missing").exists()
