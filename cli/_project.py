"""``agentarts new`` and ``agentarts upgrade``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperCommand

from agentarts.cli._base import console, print_json


class _NewCommand(TyperCommand):
    """Lists the installed industries in ``new --help`` (looked up only when help is shown)."""

    def get_help(self, ctx: Any) -> str:
        from agentarts.plugins import BLANK, discover_packs

        found = discover_packs()
        names = [BLANK.name, *(n for n, p in found.packs.items() if p.template)]
        self.epilog = "Installed industries: " + ", ".join(names) + "."
        return super().get_help(ctx)


def new(
    name: str = typer.Argument(..., metavar="NAME", help="Project name, e.g. acme-agent."),
    industry: str = typer.Option(
        "blank", "--industry", "-i", metavar="NAME", help="Industry template."
    ),
    output_dir: Path = typer.Option(
        Path("."), "--output-dir", "-o", metavar="DIR", help="Parent directory."
    ),
    no_input: bool = typer.Option(False, "--no-input", help="Never prompt; use defaults."),
    force: bool = typer.Option(
        False, "--force", help="Allow a non-empty target; existing files are kept."
    ),
    description: str | None = typer.Option(
        None, "--description", metavar="TEXT", help="One-line description."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Create an agent project from a bundled template (offline)."""
    from agentarts.projects import check_project_name, create_project

    check_project_name(name, output_dir)  # validate before asking anything
    if description is None and not no_input and not as_json and sys.stdin.isatty():
        description = typer.prompt("Description", default="An AgentArts agent")
    result = create_project(
        name, industry=industry, output_dir=output_dir, force=force, description=description
    )
    steps = next_steps(result.path)
    if as_json:
        print_json({**_dump(result), "next_steps": steps})
        return
    from rich.markup import escape

    out = console()
    out.print(
        f"[green]Created[/] {escape(str(result.path))} ({result.industry} template "
        f"{result.template_version}, {len(result.files)} files)"
    )
    for skipped in result.skipped:
        out.print(f"  [yellow]kept existing[/] {escape(skipped)}")
    out.print("\nNext:", markup=False)
    for step in steps:
        out.print(f"  {step}", markup=False, soft_wrap=True)


def upgrade(
    project_dir: Path = typer.Argument(
        Path("."), metavar="PROJECT_DIR", help="The generated project."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Re-apply the newer bundled template to a project, keeping your edits."""
    from agentarts.projects import upgrade_project

    result = upgrade_project(project_dir)
    if as_json:
        print_json({**_dump(result), "upgraded": result.upgraded})
        return
    out = console()
    if not result.upgraded:
        out.print(f"{result.path} is up to date ({result.industry} template {result.old_version}).")
        return
    out.print(
        f"[green]Upgraded[/] {result.path}: {result.industry} template "
        f"{result.old_version} -> {result.new_version}; {len(result.changed)} files changed."
    )
    for path in result.conflicts:
        out.print(f"  [red]conflict[/] {path}: resolve the <<<<<<< markers")
    out.print("Review with `git diff`, then commit.")


def next_steps(project: Path) -> list[str]:
    """The commands to run next, as far as the generated project supports them: the ``dev``
    extra only if its pyproject declares one, ``pytest`` only if it has tests to run."""
    import tomllib

    steps = [f"cd {project}"]
    try:
        doc = tomllib.loads((project / "pyproject.toml").read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return steps
    extras = doc.get("project", {}).get("optional-dependencies", {})
    dev = extras.get("dev", []) if isinstance(extras, dict) else []
    steps.append("pip install -e '.[dev]'" if dev else "pip install -e .")
    has_tests = any((project / "tests").glob("test_*.py"))
    if has_tests and any(str(d).lower().startswith("pytest") for d in dev):
        steps.append("pytest")
    return steps


def _dump(result: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(result).items()}


def register(app: typer.Typer) -> None:
    app.command(cls=_NewCommand)(new)
    app.command(short_help="Merge a newer bundled template into a project.")(upgrade)
