"""Child process of run.py: checks one input file per request, in a loop.

Protocol (JSON lines, no pickle): the parent writes {"path": ...}; the worker answers
{"summary", "findings", "details", "maxrss_kb"} on the descriptor it was given. A crash
(signal) or hang is seen by the parent, which keeps the input as a reproducer. The
worker runs under RLIMIT_AS when asked, so an oversized allocation fails here instead of
taking the machine down; faulthandler prints the Python stack of a crash to stderr.
"""

from __future__ import annotations

import faulthandler
import json
import os
import resource
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def limit_address_space(megabytes: int) -> None:
    if megabytes > 0:
        limit = megabytes << 20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def main() -> None:
    answer_fd = int(sys.argv[1])
    limit_address_space(int(sys.argv[2]))
    faulthandler.enable(file=sys.stderr, all_threads=True)
    import oracle  # after the limit: importing torch is part of what it covers

    answers = os.fdopen(answer_fd, "w", buffering=1)
    for line in sys.stdin:
        path = json.loads(line)["path"]
        report = oracle.run_all(path, Path(path).read_bytes())
        details = {t: o.detail for t, o in report.outcomes.items() if o.kind == "exception"}
        answer = {"summary": report.summary(), "findings": report.findings, "details": details,
                  "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}  # fmt: skip
        answers.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()
