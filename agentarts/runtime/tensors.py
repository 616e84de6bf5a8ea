"""Import path kept from before the runtime had folders: tensor decoding and validation live in
``agentarts.runtime.engine.tensors``."""

from agentarts.runtime.engine.tensors import *  # noqa: F403
from agentarts.runtime.engine.tensors import __all__  # noqa: F401
