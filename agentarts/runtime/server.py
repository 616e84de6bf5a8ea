"""Import path kept for code written before the runtime had folders: the HTTP server lives in
``agentarts.runtime.http.server``."""

from agentarts.runtime.http.server import *  # noqa: F403
from agentarts.runtime.http.server import __all__  # noqa: F401
