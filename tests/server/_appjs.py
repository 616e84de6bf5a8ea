"""Run one function of the console's app.js in node, as the console tests need it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

APP = Path(__file__).resolve().parents[2] / "agentarts" / "server" / "static" / "app.js"
NODE = shutil.which("node")


def call_app_js(function: str, expression: str) -> Any:
    """Evaluate ``expression`` (JavaScript) beside app.js's ``function``; its value as JSON."""
    found = re.search(rf"^function {function}\(.*?^}}\n", APP.read_text(), re.S | re.M)
    assert found, f"{function} not found in app.js"
    script = f"{found.group(0)}\nconsole.log(JSON.stringify({expression}));"
    done = subprocess.run([NODE, "-e", script], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
