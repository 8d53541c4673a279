"""The light CLI as a user runs it: a fresh interpreter for ``dcz verify`` of the 42 KB
``results/lenet_5.dcz`` and ``dcz dump`` of every results file, startup included, beside
``python -c pass`` (the floor). Target: ``dcz verify`` of a small file under 0.5 s wall on
an idle machine; most of it is the interpreter and numpy starting.
Run: python -m pytest benchmarks/bench_cli.py --benchmark-columns=min,median
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SMOKE

REPO = Path(__file__).resolve().parent.parent
RESULTS = sorted(str(p) for p in (REPO / "results").glob("*.dcz"))

COMMANDS = {
    "python -c pass": ["-c", "pass"],
    "dcz verify lenet_5.dcz": ["-m", "pycodec", "verify", str(REPO / "results" / "lenet_5.dcz")],
    "dcz dump results/*.dcz": ["-m", "pycodec", "dump", *RESULTS],
}


def _run(argv: list[str]) -> None:
    subprocess.run([sys.executable, *argv], check=True, stdout=subprocess.DEVNULL, cwd=REPO)


@pytest.mark.parametrize("label", list(COMMANDS))
def test_cli_wall_time(benchmark, label: str) -> None:
    benchmark.group = "cli (fresh interpreter)"
    benchmark.pedantic(_run, args=(COMMANDS[label],), rounds=1 if SMOKE else 10, iterations=1)
