"""Structure-aware fuzzing of the `.dcz` reader, with a differential oracle.

    python tools/fuzz/run.py --seconds 60 --seed 0 --out build/fuzz
    python tools/fuzz/run.py --runs 500 --seed 1          # a fixed number of inputs
    python tools/fuzz/run.py --replay tools/fuzz/findings/*.dcz

Input i is mutation rng `Random(f"{seed}:{i}")` applied to a seed file, so a run is
reproducible from its seed. Each input goes to a worker process (worker.py) that runs
the oracle (oracle.py). Findings (any exception that is not a DczError, a crash, a hang
over --timeout seconds, a peak RSS over --rss-mb, a disagreement between the targets or
with the spec-only decoder) are saved under OUT/findings as NAME.dcz plus NAME.txt, and
make the exit status 1. A JSON summary is printed and written to OUT/summary.json.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import os
import random
import select
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import dcz_mutator  # noqa: E402


class Worker:
    """A worker process and the pipe its answers come back on."""

    def __init__(self, as_limit_mb: int, log: Path):
        read_fd, write_fd = os.pipe()
        self.log = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "worker.py"), str(write_fd), str(as_limit_mb)],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self.log, pass_fds=(write_fd,), text=True,
        )  # fmt: skip
        os.close(write_fd)
        self.answers = os.fdopen(read_fd, "r")

    def check(self, path: Path, timeout: float) -> dict | str:
        """The worker's answer, or "crash:<status>" / "hang"."""
        try:
            self.proc.stdin.write(json.dumps({"path": str(path)}) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            return f"crash:{self.proc.wait()}"
        ready, _, _ = select.select([self.answers], [], [], timeout)
        if not ready:
            return "hang"
        line = self.answers.readline()
        if not line:
            return f"crash:{self.proc.wait()}"
        return json.loads(line)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.answers.close()
        self.log.close()


class Campaign:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.out = Path(args.out)
        (self.out / "findings").mkdir(parents=True, exist_ok=True)
        self.log = self.out / "worker.log"
        self.log.write_bytes(b"")
        self.worker = Worker(args.as_mb, self.log)
        self.outcomes: collections.Counter[str] = collections.Counter()
        self.findings: dict[str, dict] = {}  # signature -> first reproducer
        self.runs = 0

    def restart(self) -> None:
        self.worker.stop()
        self.worker = Worker(self.args.as_mb, self.log)

    def check(self, data: bytes, origin: str) -> None:
        path = self.out / "input.dcz"
        path.write_bytes(data)
        answer = self.worker.check(path, self.args.timeout)
        self.runs += 1
        if isinstance(answer, str):
            self.outcomes[answer.split(":")[0]] += 1
            self.save(data, origin, [answer], {"log tail": self._log_tail()})
            self.restart()
            return
        for target, result in answer["summary"].items():
            self.outcomes[f"{target}:{result}"] += 1
        problems = list(answer["findings"])
        if answer["maxrss_kb"] > self.args.rss_mb * 1024:
            problems.append(f"peak RSS {answer['maxrss_kb'] // 1024} MiB over {self.args.rss_mb} MiB")
            self.restart()
        if problems:
            self.save(data, origin, problems, answer["details"])

    def _log_tail(self) -> str:
        return self.log.read_bytes()[-6000:].decode("utf-8", "replace")

    def save(self, data: bytes, origin: str, problems: list[str], details: dict) -> None:
        for problem in problems:
            signature = _signature(problem, details)
            if signature in self.findings:
                self.findings[signature]["count"] += 1
                continue
            name = f"{_slug(problem)}-{hashlib.sha1(data).hexdigest()[:10]}"
            (self.out / "findings" / f"{name}.dcz").write_bytes(data)
            text = f"{problem}\norigin: {origin}\n\n" + "\n".join(f"--- {k}\n{v}" for k, v in details.items())
            (self.out / "findings" / f"{name}.txt").write_text(text)
            self.findings[signature] = {"problem": problem, "reproducer": f"{name}.dcz", "count": 1, "origin": origin}
            print(f"FINDING {problem}  ->  {self.out / 'findings' / name}.dcz", flush=True)

    def summary(self, elapsed: float) -> dict:
        return {"runs": self.runs, "seconds": round(elapsed, 1), "runs_per_second": round(self.runs / max(elapsed, 1e-9), 1),
                "outcomes": dict(sorted(self.outcomes.items())), "findings": list(self.findings.values())}  # fmt: skip


def _signature(problem: str, details: dict) -> str:
    """Group findings by what failed and where (the last frame of a traceback)."""
    target = problem.split(":")[0]
    frames = [line for line in details.get(target, "").splitlines() if line.strip().startswith("File ")]
    return problem.split("(")[0][:80] + (frames[-1] if frames else "")


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text[:40]).strip("-").lower()


def fuzz(campaign: Campaign, seeds: list[tuple[str, bytes]], args: argparse.Namespace) -> None:
    families = tuple(args.families.split(",")) if args.families else None
    deadline = time.monotonic() + args.seconds if args.seconds else None
    i = 0
    while (args.runs is None or i < args.runs) and (deadline is None or time.monotonic() < deadline):
        rng = random.Random(f"{args.seed}:{i}")
        name, seed = rng.choice(seeds)
        data, what = dcz_mutator.mutate(seed, rng, families)
        campaign.check(data, f"seed {args.seed} input {i} from {name}: " + "; ".join(what))
        i += 1


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long")
    parser.add_argument("--runs", type=int, default=None, help="stop after this many inputs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="build/fuzz")
    parser.add_argument("--families", default="", help="comma-separated mutation families (default: all)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds before an input counts as a hang")
    parser.add_argument("--rss-mb", type=int, default=2048, help="peak RSS of the worker that counts as a finding")
    parser.add_argument("--as-mb", type=int, default=8192, help="RLIMIT_AS of the worker (0: none, e.g. under ASan)")
    parser.add_argument("--replay", nargs="*", default=None, help="check these files instead of fuzzing")
    args = parser.parse_args(argv)
    if args.replay is None and args.seconds is None and args.runs is None:
        args.seconds = 60.0
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    campaign = Campaign(args)
    start = time.monotonic()
    try:
        if args.replay is not None:
            for path in args.replay:
                campaign.check(Path(path).read_bytes(), f"replay of {path}")
        else:
            import seeds

            named = [(p.name, p.read_bytes()) for p in seeds.committed_seeds() + seeds.write_generated(campaign.out / "seeds")]
            for name, data in named:  # every seed must pass the oracle unmutated
                campaign.check(data, f"seed {name}")
            fuzz(campaign, named, args)
    finally:
        campaign.worker.stop()
    summary = campaign.summary(time.monotonic() - start)
    (campaign.out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    return 1 if campaign.findings else 0


if __name__ == "__main__":
    sys.exit(main())
