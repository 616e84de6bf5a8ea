"""``agentarts serve``: agents over HTTP (the AgentArts runtime contract), people and roles,
and the browser operator console. Imports FastAPI only when an app is built."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentarts._lazy import lazy_getattr

if TYPE_CHECKING:
    from agentarts.server.app import create_app, load_project_agents
    from agentarts.server.auth import ServerConfig
    from agentarts.server.panels import Panel, PanelContext
    from agentarts.server.users import ROLES, UserStore

_LAZY = {
    "create_app": "agentarts.server.app",
    "load_project_agents": "agentarts.server.app",
    "ServerConfig": "agentarts.server.auth",
    "Panel": "agentarts.server.panels",
    "PanelContext": "agentarts.server.panels",
    "ROLES": "agentarts.server.users",
    "UserStore": "agentarts.server.users",
}
__all__ = [
    "ROLES",
    "Panel",
    "PanelContext",
    "ServerConfig",
    "UserStore",
    "create_app",
    "load_project_agents",
]

__getattr__ = lazy_getattr("agentarts.server", _LAZY, globals())
