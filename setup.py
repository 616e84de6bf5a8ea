"""Package list for the one `agentarts` distribution.

The repository keeps the SDK core, the CLI, the industry packs and the project templates
in four top-level folders; they ship as `agentarts`, `agentarts.cli`, `agentarts.industries`
and `agentarts.templates`. setuptools' package-dir mapping does this for wheels and for
editable installs; this file only enumerates the sub-packages below each folder so a new
pack or module never needs a pyproject edit.
"""

from setuptools import find_packages, setup

ROOTS = {
    "agentarts": "agentarts",
    "agentarts.cli": "cli",
    "agentarts.industries": "industries",
    "agentarts.templates": "templates",
}

packages: list[str] = []
package_dir: dict[str, str] = {}
for package, folder in ROOTS.items():
    package_dir[package] = folder
    packages.append(package)
    for sub in find_packages(folder, exclude=["*.template", "*.template.*"]):
        packages.append(f"{package}.{sub}")
        package_dir[f"{package}.{sub}"] = f"{folder}/{sub.replace('.', '/')}"

setup(packages=packages, package_dir=package_dir)
