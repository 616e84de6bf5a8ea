"""Run the benchmarks: ``python -m bench [NAME ...] [--json FILE]`` (names: cli, ...)."""

from __future__ import annotations

import argparse
import importlib
import json
import time

from bench._common import machine

SUITES = ["cli", "runtime", "agents", "faults", "steel", "rail", "weather", "serve"]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("names", nargs="*", help=f"suites to run (default all): {SUITES}")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    names = args.names or [n for n in SUITES if n != "faults"]  # faults: minutes; ask for it
    unknown = sorted(set(names) - set(SUITES))
    if unknown:
        parser.error(f"unknown suite(s) {unknown}; choose from {SUITES}")
    print(f"# AgentArts benchmarks, {time.strftime('%Y-%m-%d')}, {machine()}")
    results = {}
    for name in names:
        results[name] = importlib.import_module(f"bench.bench_{name}").run()
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"machine": machine(), "results": results}, handle, indent=2)


if __name__ == "__main__":
    main()
