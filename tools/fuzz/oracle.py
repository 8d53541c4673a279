"""What must hold for every input file, checked in-process.

Targets: `pycodec.load`, `pycodec.open` + lazy reads (`info`, `tensor` per name), and the
`dcz verify` command. Each may only succeed or raise a `pycodec.DczError` subclass. The
spec-only decoder (spec_decoder.py) is the differential oracle: it must accept exactly
the files pycodec loads, with the same dtypes, shapes and bytes. Policy-limit rejections
(decoded-size budget) are not compared: the two count intermediates differently.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import traceback
from dataclasses import dataclass, field
from typing import Any

import spec_decoder

import pycodec
from pycodec import cli

#: Decoded-size budget passed to every target (small, so legitimate decodes stay fast).
FUZZ_BUDGET = 1 << 26


@dataclass
class Outcome:
    kind: str  # "ok", "DczError", "exception"
    detail: str = ""  # error class, or exception type and traceback
    policy: bool = False  # rejected for the decoded-size budget
    values: dict[str, tuple[str, tuple[int, ...], str]] = field(default_factory=dict)  # name -> dtype, shape, sha256


@dataclass
class Report:
    outcomes: dict[str, Outcome]
    findings: list[str]  # one line each; empty when every rule held

    def summary(self) -> dict[str, str]:
        return {target: o.detail if o.kind == "DczError" else o.kind for target, o in self.outcomes.items()}


def digest(tensor: Any) -> tuple[str, tuple[int, ...], str]:
    data = tensor.detach().contiguous().reshape(-1).view(__import__("torch").uint8).numpy().tobytes()
    return str(tensor.dtype).removeprefix("torch."), tuple(tensor.shape), hashlib.sha256(data).hexdigest()


def _is_policy(exc: BaseException) -> bool:
    return isinstance(exc, pycodec.LimitExceededError) or "max_decoded_bytes" in str(exc) or "budget" in str(exc)


def guarded(run: Any) -> Outcome:
    """Run a target; classify how it ended."""
    try:
        return Outcome("ok", values=run() or {})
    except pycodec.DczError as exc:
        return Outcome("DczError", type(exc).__name__, policy=_is_policy(exc))
    except Exception as exc:  # noqa: BLE001 - any other exception is what we look for
        return Outcome("exception", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")


def target_load(path: str) -> dict[str, Any]:
    return {name: digest(t) for name, t in pycodec.load(path, max_decoded_bytes=FUZZ_BUDGET).items()}


def target_lazy(path: str) -> dict[str, Any]:
    """Open, then read each tensor on its own (last first). Partial success is allowed:
    a lazy reader may skip sections it does not read, so only readable tensors count."""
    values, errors = {}, []
    with pycodec.open(path, max_decoded_bytes=FUZZ_BUDGET) as file:
        for name in reversed(file.names()):
            try:
                file.info(name)
                values[name] = digest(file.tensor(name))
            except pycodec.DczError as exc:
                errors.append(exc)
    if errors:
        raise errors[0]
    return values


def target_verify(path: str) -> None:
    """`dcz verify` as the CLI runs it; a non-zero status must come from a DczError."""
    argv = ["verify", path]
    if _verify_has_budget_option():
        argv = ["verify", "--max-decoded-bytes", str(FUZZ_BUDGET), path]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main(argv)
    if status != 0:
        raise pycodec.MalformedFileError(err.getvalue().strip())


@functools.cache
def _verify_has_budget_option() -> bool:
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            cli.build_parser().parse_args(["verify", "--max-decoded-bytes", "1", "x"])
        return True
    except SystemExit:
        return False


def spec_outcome(data: bytes) -> Outcome:
    try:
        _, tensors = spec_decoder.decode_bytes(data, FUZZ_BUDGET)
    except spec_decoder.SpecPolicyReject as exc:
        return Outcome("DczError", "SpecPolicyReject", policy=True)
    except spec_decoder.SpecReject as exc:
        return Outcome("DczError", f"SpecReject ({str(exc).split(':')[0]})")
    values = {n: (t.dtype, t.shape, hashlib.sha256(t.data).hexdigest()) for n, t in tensors.items()}
    return Outcome("ok", values=values)


def run_all(path: str, data: bytes) -> Report:
    outcomes = {"load": guarded(lambda: target_load(path)), "lazy": guarded(lambda: target_lazy(path)),
                "spec": spec_outcome(data)}  # fmt: skip
    # verify runs the default budget when the CLI has no option for it: only run it on
    # files the budgeted open accepts, so a declared 64 GiB is not actually decoded.
    if not (outcomes["lazy"].policy or _verify_needs_budget(path)):
        outcomes["verify"] = guarded(lambda: target_verify(path))
    return Report(outcomes, findings(outcomes))


def _verify_needs_budget(path: str) -> bool:
    if _verify_has_budget_option():
        return False
    try:
        pycodec.open(path, max_decoded_bytes=FUZZ_BUDGET).close()
    except pycodec.DczError as exc:
        return _is_policy(exc)
    except Exception:  # noqa: BLE001 - reported by the lazy target already
        return True
    return False


def findings(outcomes: dict[str, Outcome]) -> list[str]:
    out = [f"{t}: {o.detail.splitlines()[0]}" for t, o in outcomes.items() if o.kind == "exception"]
    load, lazy, spec, verify = (outcomes.get(t) for t in ("load", "lazy", "spec", "verify"))
    if load.kind == "ok" and lazy.kind == "ok" and load.values != lazy.values:
        out.append("lazy reads differ from load")
    if load.kind == "ok" and lazy.kind != "ok":
        out.append(f"load accepts, lazy reads reject ({lazy.detail.splitlines()[0]})")
    if verify and "exception" not in (load.kind, verify.kind) and (load.kind == "ok") != (verify.kind == "ok"):
        if not (load.policy or verify.policy):
            out.append(f"load {load.kind} but verify {verify.kind}")
    if "exception" not in (load.kind,) and not (load.policy or spec.policy):
        if (load.kind == "ok") != (spec.kind == "ok"):
            out.append(f"differential: pycodec {load.detail or 'accepts'}, spec decoder {spec.detail or 'accepts'}")
        elif load.kind == "ok" and load.values != spec.values:
            out.append("differential: decoded values differ from the spec decoder")
    return out
