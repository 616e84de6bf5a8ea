"""Import path kept for code written before the runtime had folders: HttpRuntime lives in
``agentarts.runtime.http.client``."""

from agentarts.runtime.http.client import *  # noqa: F403
from agentarts.runtime.http.client import __all__  # noqa: F401
