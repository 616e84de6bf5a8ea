"""Industry packs as plugins.

A pack is an :class:`IndustryPack` object registered under the entry-point group
``agentarts.industries``; the bundled packs register the same way, so a company ships its own
pack as a separate distribution by adding to its pyproject.toml::

    [project.entry-points."agentarts.industries"]
    cement = "acme_cement_pack:PACK"

Loading a pack imports only the module holding the ``IndustryPack`` object, so packs must
keep that module light: tools, models and demos are named by reference and imported when used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from agentarts.errors import ConfigError, PackNotInstalledError

__all__ = ["ENTRY_POINT_GROUP", "IndustryPack", "discover_packs", "get_pack", "load_ref"]

ENTRY_POINT_GROUP = "agentarts.industries"


def load_ref(ref: str) -> Any:
    """Import ``"package.module:attr"`` (attr may be dotted) and return the object."""
    module_name, _, attr = ref.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"reference {ref!r} must look like 'package.module:attribute'")
    try:
        obj: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ConfigError(f"cannot import {module_name!r} for {ref!r}: {exc}") from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise ConfigError(f"{module_name!r} has no attribute {attr!r}") from exc
    return obj


def _resource_dir(ref: str) -> Path:
    """A directory named ``"package:relative/dir"`` inside an installed package, or a path."""
    if Path(ref).is_absolute():
        return Path(ref)
    package, _, sub = ref.partition(":")
    root = resources.files(package)
    target = root.joinpath(*[p for p in sub.split("/") if p]) if sub else root
    return Path(str(target))


@dataclass(frozen=True)
class IndustryPack:
    """What a pack contributes. Every reference is resolved lazily.

    Attributes:
        name: the short name used on the command line (``--industry NAME``).
        title: a human title for listings.
        description: one sentence.
        template: ``"package:dir"`` (or an absolute path) of the copier template used by
            ``agentarts new``, or None.
        demo: ``"module:function"`` running the pack's demo; called with keyword options.
        model_repository: ``"package:dir"`` of a model repository the runtime serves.
        tools: ``"module:attr"`` naming a list of the pack's tools.
        agent: ``"module:attr"`` naming the pack's reference agent.
        train: ``"module:function"`` fitting the pack's models on the user's data
            (``agentarts train NAME``); called with the keyword options it accepts among
            ``data``, ``out``, ``seed`` and ``as_json``, and writes only under ``out``.
        panels: ``"module:attr"`` naming the pack's operator-console panels.
    """

    name: str
    title: str
    description: str
    template: str | None = None
    demo: str | None = None
    model_repository: str | None = None
    tools: str | None = None
    agent: str | None = None
    train: str | None = None
    panels: str | None = None
    extras: dict[str, str] = field(default_factory=dict)

    def template_dir(self) -> Path | None:
        return _resource_dir(self.template) if self.template else None

    def model_repository_dir(self) -> Path | None:
        return _resource_dir(self.model_repository) if self.model_repository else None

    def demo_function(self) -> Callable[..., Any] | None:
        return load_ref(self.demo) if self.demo else None

    def train_function(self) -> Callable[..., Any] | None:
        return load_ref(self.train) if self.train else None


#: The blank template is part of the core, not a plugin: it exists even with no pack installed.
BLANK = IndustryPack(
    name="blank",
    title="Blank project",
    description="A small typed agent with two tools and an approval gate; no industry models.",
    template="agentarts.templates:blank",
)


@dataclass(frozen=True)
class Discovery:
    """Installed packs, and the entry points that failed to load (with why)."""

    packs: dict[str, IndustryPack]
    broken: dict[str, str]


def discover_packs() -> Discovery:
    """Load every pack registered under ``agentarts.industries``.

    A pack whose entry point fails to import, or does not name an ``IndustryPack``, is
    reported in ``broken`` and never stops the others from loading.
    """
    from importlib.metadata import entry_points

    packs: dict[str, IndustryPack] = {}
    broken: dict[str, str] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            pack = ep.load()
        except Exception as exc:  # a third-party plugin may fail in any way
            broken[ep.name] = f"{type(exc).__name__}: {exc}"
            continue
        if not isinstance(pack, IndustryPack):
            broken[ep.name] = f"{ep.value} is not an agentarts IndustryPack"
            continue
        if pack.name != ep.name:
            broken[ep.name] = f"entry point {ep.name!r} names pack {pack.name!r}"
            continue
        packs.setdefault(pack.name, pack)
    return Discovery(packs=dict(sorted(packs.items())), broken=broken)


#: Industries the product ships a pack for; named so the error can say it is not installed.
KNOWN_INDUSTRIES = ("steel", "rail", "weather")


def get_pack(name: str) -> IndustryPack:
    """The pack called ``name`` (``blank`` always exists)."""
    if name == BLANK.name:
        return BLANK
    found = discover_packs()
    if name in found.packs:
        return found.packs[name]
    if name in found.broken:
        raise PackNotInstalledError(f"industry pack {name!r} failed to load: {found.broken[name]}")
    installed = ", ".join(["blank", *found.packs]) or "blank"
    if name in KNOWN_INDUSTRIES:
        raise PackNotInstalledError(
            f"the {name!r} industry pack is not installed (installed: {installed})"
        )
    raise PackNotInstalledError(f"unknown industry {name!r} (installed: {installed})")
