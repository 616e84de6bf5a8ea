"""Import path kept for code written before the runtime had folders: the cost model lives in
``agentarts.runtime.devices.costmodel``."""

from agentarts.runtime.devices.costmodel import *  # noqa: F403
from agentarts.runtime.devices.costmodel import __all__  # noqa: F401
