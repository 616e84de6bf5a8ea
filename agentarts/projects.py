"""Project generation (``agentarts new``) and upgrade (``agentarts upgrade``) with copier.

Why a bundle inside the project: copier upgrades a project by rendering the template version
it was generated from and the new one, then merging the difference into the project. That needs
the *old* template, which a newer SDK no longer ships. Each generated project therefore keeps
its template version as a small git bundle (``.agentarts-template.bundle``, a few KB), and its
answers file points there. Upgrades work offline, on any machine, for bundled and third-party
templates alike, and ``_commit`` in ``.copier-answers.yml`` records the template version.

Generation renders into a temporary directory beside the target and moves it into place, so an
interrupted run leaves no half project; with ``--force`` into a non-empty directory, files that
exist already are kept and reported, never overwritten or deleted. Symbolic links are never
written through: a target that is a link is refused, and links inside a ``--force`` target are
kept as they are. A name that would shadow an importable module or an installed distribution is
refused (``new pydantic`` would make ``import pydantic`` load the project).
"""

from __future__ import annotations

import functools
import importlib.util
import keyword
import os
import re
import shutil
import subprocess
import sys
import tempfile
from contextlib import chdir, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentarts._version import __version__
from agentarts.errors import (
    InvalidNameError,
    MissingDependencyError,
    TargetExistsError,
    TemplateError,
    UsageError,
)
from agentarts.plugins import get_pack

__all__ = ["ProjectResult", "UpgradeResult", "check_project_name", "create_project"]
__all__ += ["normalize_name", "upgrade_project"]

ANSWERS_FILE = ".copier-answers.yml"
BUNDLE_FILE = ".agentarts-template.bundle"
_NAME_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
_RESERVED = {"agentarts", "test", "tests", "src", "site", "langgraph", "copier"}
#: Longest project name accepted: well inside every file system's 255-byte name limit, and
#: long enough for any real distribution name.
MAX_NAME_LENGTH = 64
_GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "agentarts",
    "GIT_AUTHOR_EMAIL": "agentarts@localhost",
    "GIT_COMMITTER_NAME": "agentarts",
    "GIT_COMMITTER_EMAIL": "agentarts@localhost",
}


def normalize_name(name: str) -> tuple[str, str]:
    """``"Acme_Agent"`` -> (``"acme-agent"``, ``"acme_agent"``): distribution and package name.

    Raises InvalidNameError for anything that is not a plain name: path separators, ``..``,
    leading digits, Python keywords, or names that would shadow a dependency.
    """
    raw = name.strip()
    if not raw:
        raise InvalidNameError("project name is empty")
    if len(raw) > MAX_NAME_LENGTH:
        raise InvalidNameError(
            f"project name is {len(raw)} characters long: use at most {MAX_NAME_LENGTH}"
        )
    if "/" in raw or "\\" in raw or ".." in raw or raw.startswith("."):
        raise InvalidNameError(
            f"project name {name!r} must be a plain name, not a path (use --output-dir)"
        )
    project = re.sub(r"[-_.\s]+", "-", raw).lower()
    if not _NAME_RE.match(project):
        raise InvalidNameError(
            f"project name {name!r} is not valid: use letters, digits and dashes, "
            "starting with a letter (e.g. acme-agent)"
        )
    package = project.replace("-", "_")
    if keyword.iskeyword(package) or package in _RESERVED or package in sys.stdlib_module_names:
        raise InvalidNameError(f"project name {name!r} would shadow the module {package!r}")
    return project, package


def _inside(path: str | None, folder: Path) -> bool:
    if not path:
        return False
    try:
        return Path(path).resolve().is_relative_to(folder.resolve())
    except (OSError, ValueError):
        return False


def _shadowed(project: str, package: str, target: Path) -> str | None:
    """What the new project would shadow, or None. The project's own earlier install (an
    editable install of ``target``, as in a re-run with ``--force``) does not count."""
    from importlib import metadata

    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is not None:
        places = [spec.origin, *(spec.submodule_search_locations or [])]
        if not any(_inside(p, target) for p in places if p):
            return f"the importable module {package!r}"
    try:
        dist = metadata.distribution(project)
    except metadata.PackageNotFoundError:
        return None
    direct = dist.read_text("direct_url.json") or ""
    if target.resolve().as_uri() in direct:
        return None
    return f"the installed distribution {dist.metadata['Name']!r}"


def check_project_name(name: str, output_dir: Path | str = ".") -> tuple[str, str]:
    """:func:`normalize_name` plus the checks that need the environment: the package must not
    shadow an importable module, nor the distribution an installed one."""
    project, package = normalize_name(name)
    target = Path(output_dir).expanduser().absolute() / project
    what = _shadowed(project, package, target)
    if what is not None:
        raise InvalidNameError(
            f"project name {name!r} would shadow {what}: choose another name (e.g. {project}-agent)"
        )
    return project, package


def _git(args: list[str], cwd: Path, *, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **_GIT_IDENTITY} if not _git_has_identity() else None
    try:
        return subprocess.run(
            ["git", *args], cwd=cwd, env=env, check=check, capture_output=True, text=True
        )
    except FileNotFoundError as exc:
        raise MissingDependencyError(
            "git is not installed", hint="install git; projects are git repositories"
        ) from exc
    except subprocess.CalledProcessError as exc:
        raise TemplateError(f"git {' '.join(args)} failed: {exc.stderr.strip()}") from exc


@functools.cache
def _git_has_identity() -> bool:
    try:
        out = subprocess.run(["git", "config", "user.email"], capture_output=True, text=True)
    except FileNotFoundError:
        return False
    return bool(out.stdout.strip())


def template_version(template_dir: Path) -> str:
    """The version a template declares in its ``VERSION`` file (PEP 440)."""
    try:
        return (template_dir / "VERSION").read_text().strip()
    except OSError as exc:
        raise TemplateError(f"template {template_dir} has no VERSION file") from exc


def build_template_bundle(
    template_dir: Path, workdir: Path, *, history: Path | None = None
) -> tuple[Path, str]:
    """Commit ``template_dir`` to a git repo tagged ``v<version>`` and bundle it.

    With ``history`` (a project's bundle), the new version is committed on top of the versions
    recorded there, so copier finds the old and the new template in one repository. Returns
    the bundle path (``workdir/BUNDLE_FILE``) and the tag.
    """
    version = template_version(template_dir)
    repo = workdir / "template-repo"
    tag = f"v{version}"
    if history is not None:
        _git(["clone", "-q", str(history), str(repo)], workdir)
        _git(["checkout", "-q", "-B", "main"], repo)
        for item in repo.iterdir():
            if item.name != ".git":
                shutil.rmtree(item) if item.is_dir() else item.unlink()
        _git(["tag", "-d", tag], repo, check=False)
    else:
        repo.mkdir()
        _git(["init", "-q", "-b", "main"], repo)
    shutil.copytree(
        template_dir,
        repo,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "__init__.py"),
    )
    _git(["add", "-A"], repo)
    _git(["commit", "-q", "--allow-empty", "-m", f"template {template_dir.name} {version}"], repo)
    _git(["tag", tag], repo)
    bundle = workdir / BUNDLE_FILE
    _git(["bundle", "create", "-q", str(bundle), "--all"], repo)
    return bundle, tag


def _import_copier() -> Any:
    try:
        import copier
    except ImportError as exc:  # pragma: no cover - copier is a core dependency
        raise MissingDependencyError(
            "copier is not installed", hint="pip install agentarts"
        ) from exc
    return copier


def _rewrite_answers_src(answers: Path) -> None:
    """Point ``_src_path`` at the project's own bundle (copier recorded a temp path)."""
    lines = answers.read_text().splitlines()
    fixed = [f"_src_path: {BUNDLE_FILE}" if ln.startswith("_src_path:") else ln for ln in lines]
    answers.write_text("\n".join(fixed) + "\n")


def _read_answers(project: Path) -> dict[str, str]:
    path = project / ANSWERS_FILE
    if not path.is_file():
        raise UsageError(f"{project} has no {ANSWERS_FILE}: it was not made by agentarts new")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text: restore it from git") from None
    answers: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and not line.startswith((" ", "#")):
            answers[key.strip()] = value.strip().strip("'\"")
    return answers


@dataclass
class ProjectResult:
    """What ``create_project`` made."""

    path: Path
    project_name: str
    package_name: str
    industry: str
    template_version: str
    files: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    git_initialised: bool = False


def _inside_git_worktree(path: Path) -> bool:
    probe = path if path.exists() else path.parent
    while not probe.exists():
        probe = probe.parent
    result = _git(["rev-parse", "--is-inside-work-tree"], probe, check=False)
    return result.returncode == 0 and result.stdout.strip() == "true"


def create_project(
    name: str,
    *,
    industry: str = "blank",
    output_dir: Path | str = ".",
    force: bool = False,
    description: str | None = None,
) -> ProjectResult:
    """Render a new project from the template of ``industry`` into ``output_dir/NAME``.

    Nothing is written when validation fails; the render happens in a temporary directory
    next to the target and is moved into place at the end. Any failure (including the file
    system's: a read-only or pseudo file system, a path too long) leaves nothing behind,
    not even the output folders this call created.
    """
    project_name, package_name = check_project_name(name, output_dir)
    pack = get_pack(industry)
    template_dir = pack.template_dir()
    if template_dir is None or not template_dir.is_dir():
        raise UsageError(f"industry pack {industry!r} has no project template")
    try:
        parent = Path(output_dir).expanduser().resolve()
        if parent.exists() and not parent.is_dir():
            raise UsageError(f"--output-dir {parent} is not a directory")
        target = parent / project_name
        if target.is_symlink():
            raise TargetExistsError(
                f"{target} is a symbolic link: agentarts new never writes through links",
                hint="pass the real folder's parent with --output-dir",
            )
        if target.exists() and not target.is_dir():
            raise TargetExistsError(f"{target} exists and is not a directory")
        existing = target.is_dir() and any(target.iterdir())
        made = [p for p in (parent, *parent.parents) if not _exists(p)]
    except OSError as exc:
        raise UsageError(f"--output-dir {output_dir}: {exc.strerror or exc}") from None
    if existing and not force:
        raise TargetExistsError(
            f"{target} exists and is not empty",
            hint="use --force to add the project files; existing files are kept",
        )
    data = {
        "project_name": project_name,
        "package_name": package_name,
        "industry": pack.name,
        "description": description or f"{pack.title}: an AgentArts agent",
        "agentarts_version": __version__,
    }
    try:
        return _create(pack, template_dir, target, data, existing)
    except OSError as exc:
        raise UsageError(f"cannot create {target}: {exc.strerror or exc}") from None
    finally:
        if not _exists(target):
            for folder in made:  # innermost first
                with suppress(OSError):
                    folder.rmdir()


def _exists(path: Path) -> bool:
    try:
        return path.exists() or path.is_symlink()
    except OSError:  # e.g. a name too long: it cannot exist
        return False


def _create(
    pack: Any, template_dir: Path, target: Path, data: dict[str, str], existing: bool
) -> ProjectResult:
    """Render into a temporary folder beside ``target``, then move or merge it into place."""
    copier = _import_copier()
    version = template_version(template_dir)
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    make_repo = not (existing and (target / ".git").exists()) and not _inside_git_worktree(target)
    with tempfile.TemporaryDirectory(prefix=".agentarts-new-", dir=parent) as tmp:
        work = Path(tmp)
        bundle, tag = build_template_bundle(template_dir, work)
        render = work / "render"
        try:
            copier.run_copy(
                str(bundle),
                render,
                data=data,
                vcs_ref=tag,
                defaults=True,
                quiet=True,
                overwrite=True,
                unsafe=False,
                skip_tasks=True,
            )
        except Exception as exc:
            raise TemplateError(f"rendering template {pack.name} {version} failed: {exc}") from exc
        shutil.copyfile(bundle, render / BUNDLE_FILE)
        _rewrite_answers_src(render / ANSWERS_FILE)
        if make_repo:
            _git(["init", "-q", "-b", "main"], render)
            _git(["add", "-A"], render)
            _git(
                ["commit", "-q", "-m", f"Generate from agentarts template {pack.name} {version}"],
                render,
            )
        files = sorted(
            str(p.relative_to(render))
            for p in render.rglob("*")
            if p.is_file() and ".git" not in p.relative_to(render).parts
        )
        skipped: list[str] = []
        if not target.exists() or not any(target.iterdir()):
            os.replace(render, target)  # rename(2) replaces an empty folder in one step
        else:
            skipped = _merge_into(render, target)
    return ProjectResult(
        path=target,
        project_name=data["project_name"],
        package_name=data["package_name"],
        industry=pack.name,
        template_version=version,
        files=[f for f in files if f not in skipped],
        skipped=skipped,
        git_initialised=make_repo,
    )


def _merge_into(render: Path, target: Path) -> list[str]:
    """Move rendered files into a non-empty ``target``; keep every file that exists there."""
    skipped: list[str] = []
    for item in sorted(render.iterdir()):
        dest = target / item.name
        if dest.is_symlink():  # never write through (or replace) the user's links
            if item.name != ".git":
                skipped.append(item.name)
        elif not dest.exists():
            os.replace(item, dest)
        elif item.is_dir() and dest.is_dir() and item.name != ".git":
            skipped += [f"{item.name}/{s}" for s in _merge_into(item, dest)]
        elif item.name != ".git":
            skipped.append(item.name)
    return skipped


@dataclass
class UpgradeResult:
    """What ``upgrade_project`` did."""

    path: Path
    industry: str
    old_version: str
    new_version: str
    changed: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)

    @property
    def upgraded(self) -> bool:
        return self.old_version != self.new_version


def upgrade_project(project_dir: Path | str = ".") -> UpgradeResult:
    """Re-apply the newer bundled template to a generated project, keeping the user's edits.

    The project must be a git repository with no uncommitted changes (so the upgrade can be
    reviewed with ``git diff`` and undone with ``git checkout .``). Conflicting hunks are left
    inline with markers and listed in the result. A path the file system refuses (too long,
    unreadable) is a UsageError.
    """
    try:
        return _upgrade(project_dir)
    except OSError as exc:
        raise UsageError(f"{project_dir}: {exc.strerror or exc}") from None


def _upgrade(project_dir: Path | str) -> UpgradeResult:
    from packaging.version import InvalidVersion, Version

    project = Path(project_dir).expanduser().resolve()
    if not project.is_dir():
        raise UsageError(f"{project} is not a directory")
    answers = _read_answers(project)
    industry = answers.get("industry", "blank")
    old_ref = answers.get("_commit", "")
    pack = get_pack(industry)
    template_dir = pack.template_dir()
    if template_dir is None:
        raise UsageError(f"industry pack {industry!r} has no project template")
    new_version = template_version(template_dir)
    old_version = old_ref.removeprefix("v")
    try:
        newer = Version(new_version) > Version(old_version)
        older = Version(new_version) < Version(old_version)
    except InvalidVersion as exc:
        raise UsageError(f"{ANSWERS_FILE}: template version {old_ref!r} is not valid") from exc
    result = UpgradeResult(project, industry, old_version, new_version)
    if older:
        raise UsageError(
            f"project uses template {industry} {old_version}, newer than this SDK's "
            f"{new_version}: upgrade agentarts first"
        )
    if not newer:
        result.new_version = old_version
        return result
    if not (project / BUNDLE_FILE).is_file():
        raise UsageError(f"{project} has no {BUNDLE_FILE}: cannot recover the old template")
    status = _git(["status", "--porcelain"], project, check=False)
    if status.returncode != 0:
        raise UsageError(f"{project} is not a git repository; upgrades need one to merge edits")
    if status.stdout.strip():
        raise UsageError(f"{project} has uncommitted changes: commit or stash them first")
    copier = _import_copier()
    with tempfile.TemporaryDirectory(prefix="agentarts-upgrade-") as tmp:
        bundle, tag = build_template_bundle(template_dir, Path(tmp), history=project / BUNDLE_FILE)
        # The answers file names the template by the relative path BUNDLE_FILE. Running from
        # the temporary folder makes that path resolve to the bundle holding both the old and
        # the new version, which is what copier's three-way update needs.
        try:
            with chdir(tmp):
                copier.run_update(
                    project,
                    vcs_ref=tag,
                    defaults=True,
                    overwrite=True,
                    quiet=True,
                    conflict="inline",
                    unsafe=False,
                    skip_tasks=True,
                )
        except Exception as exc:
            _restore(project)
            raise TemplateError(f"upgrade failed, project left unchanged: {exc}") from exc
        shutil.copyfile(bundle, project / BUNDLE_FILE)
    _rewrite_answers_src(project / ANSWERS_FILE)
    changed = _git(["status", "--porcelain"], project).stdout.splitlines()
    result.changed = sorted(line[3:] for line in changed)
    result.conflicts = [
        f for f in result.changed if (project / f).is_file() and _has_conflict_markers(project / f)
    ]
    return result


def _restore(project: Path) -> None:
    """Undo a failed update: the tree was clean before, so HEAD is the user's state."""
    _git(["reset", "-q", "--hard", "HEAD"], project, check=False)
    _git(["clean", "-q", "-fd"], project, check=False)


def _has_conflict_markers(path: Path) -> bool:
    try:
        text = path.read_text(errors="ignore")
    except OSError:
        return False
    return "<<<<<<< " in text and ">>>>>>> " in text
