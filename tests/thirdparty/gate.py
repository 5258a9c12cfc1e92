"""Running the kinkcheck gate on third-party optimizer packages (pytorch-optimizer, lion-pytorch).

Each optimizer becomes a ``FAMILY=module:attr`` subject. The family is chosen from the
constructor's signature, conservatively: ``adam`` when it takes lr, a 2-tuple ``betas``, eps and
weight_decay (the adam family's hyperparameters); ``sgd`` when it is an SGD variant taking lr and
weight_decay; ``generic`` (only lr passed, family-independent theorems) otherwise. The theorem
modules run in a subprocess exactly as a user's CI would run them (``pytest --pyargs
theorems.<module> --optimizer ...``), several optimizers per run; a run that times out is split.

Per optimizer and theorem the verdict is one of
    pass      the property held on every generated case (``+oos``: the decay configurations were
              run too and reported out of scope);
    oos       out of scope: the optimizer's own default decay (weight_decay > 0 in its
              param_groups) moves zero-gradient coordinates, outside [GM] Setting 4.1 eq. (58);
    FAIL      a real deviation: with no decay, a coordinate with exactly-zero gradients moved
              (the counterexample is kept);
    raises    the optimizer cannot be driven by plain ``step()`` on small tensors (needs a
              closure with create_graph, a model, 2-D parameters, ...) or produced NaN/Inf;
    vacuous   a non-vacuity check failed (e.g. it built no state or moved no live coordinate);
    timeout   the run did not finish in time.
"""
from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODULES = {"T3": "kinkcheck.theorems.test_frozen_coordinates", "T2": "kinkcheck.theorems.test_inactive_neuron_invariance"}
MAIN_TEST = {"T3": "test_zero_gradient_coordinates_never_move"}


@dataclass
class Candidate:
    name: str  # registry name
    spec: str  # FAMILY=module:attr
    family: str
    package: str
    default_decay: float | None  # the constructor's default weight_decay (None: no such argument)

    @property
    def label(self) -> str:  # the plugin's pytest id for a user subject is the spec itself
        return self.spec


@dataclass
class Verdict:
    candidate: Candidate
    theorem: str
    status: str
    cases: int = 0
    detail: str = ""
    tests: dict = field(default_factory=dict)


def _default(params, name):
    p = params.get(name)
    return None if p is None or p.default is inspect.Parameter.empty else p.default


def family_of(name: str, cls) -> str:
    """The kinkcheck family whose hyperparameters this constructor certainly accepts."""
    try:
        params = inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):
        return "generic"
    betas = _default(params, "betas")
    if {"lr", "betas", "eps", "weight_decay"} <= set(params) and isinstance(betas, tuple) and len(betas) == 2:
        return "adam"
    if "sgd" in name.lower() and {"lr", "weight_decay"} <= set(params) and "betas" not in params:
        return "sgd"
    return "generic"


def pytorch_optimizer_candidates() -> list[Candidate]:
    import pytorch_optimizer as po

    out = []
    for name in po.get_supported_optimizers():
        cls = po.load_optimizer(name)
        if cls.__module__.startswith("torch."):  # torch.optim's own classes: the built-in subjects
            continue
        params = inspect.signature(cls.__init__).parameters
        spec = f"{family_of(name, cls)}={cls.__module__}:{cls.__qualname__}"
        out.append(Candidate(name, spec, spec.split("=")[0], "pytorch-optimizer",
                             _default(params, "weight_decay")))
    return out


def lion_pytorch_candidates() -> list[Candidate]:
    from lion_pytorch import Lion

    params = inspect.signature(Lion.__init__).parameters
    family = family_of("lion", Lion)
    return [Candidate("lion (lion-pytorch)", f"{family}=lion_pytorch:Lion", family, "lion-pytorch",
                      _default(params, "weight_decay"))]


def candidates() -> list[Candidate]:
    return pytorch_optimizer_candidates() + lion_pytorch_candidates()


def packages_available() -> bool:
    try:
        import lion_pytorch  # noqa: F401
        import pytorch_optimizer  # noqa: F401
    except Exception:
        return False
    return True


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in ("torch", "kinkcheck", "pytorch-optimizer", "lion-pytorch", "hypothesis"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "not installed"
    return out


# ----------------------------------------------------------------------------- running
_SECTION = re.compile(r"^_+ (\w+)\[(.+)\] _+$")


def _failure_sections(text: str) -> dict[tuple[str, str], str]:
    """(test function, subject label) -> the failure text pytest printed for it."""
    out, key, buf = {}, None, []
    for line in text.splitlines() + ["="]:
        m = _SECTION.match(line)
        if m or line.startswith("="):
            if key:
                out[key] = "\n".join(buf)
            key, buf = ((m[1], m[2]) if m else None), []
        elif key:
            buf.append(line)
    return out


def run_batch(batch: list[Candidate], theorem: str, *, profile: str = "kinkcheck-selftest", timeout: float = 300,
              workers: int = 0, extra: tuple[str, ...] = ()) -> list[Verdict]:
    """One pytest run of the theorem's module with every candidate of ``batch`` as a subject."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "r.json"
        cmd = [sys.executable, "-m", "pytest", "--pyargs", MODULES[theorem], "--hypothesis-profile", profile,
               "--report-json", str(report), "-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning",
               "-q", "--tb=short", *extra]
        if workers:
            cmd += ["-n", str(workers)]
        for c in batch:
            cmd += ["--optimizer", c.spec]
        env = {k: v for k, v in os.environ.items() if not k.startswith("KINKCHECK_")}
        env.setdefault("OMP_NUM_THREADS", "1")
        try:
            proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            if len(batch) == 1:
                return [Verdict(batch[0], theorem, "timeout", detail=f"no verdict within {timeout:.0f} s")]
            half = len(batch) // 2
            return (run_batch(batch[:half], theorem, profile=profile, timeout=timeout, workers=workers, extra=extra)
                    + run_batch(batch[half:], theorem, profile=profile, timeout=timeout, workers=workers, extra=extra))
        text = proc.stdout + proc.stderr
        if proc.returncode in (3, 4) or not report.exists():  # usage or internal error: one by one
            if len(batch) == 1:
                return [Verdict(batch[0], theorem, "raises", detail=_last_line(text))]
            return [v for c in batch for v in run_batch([c], theorem, profile=profile, timeout=timeout,
                                                        workers=workers, extra=extra)]
        payload = json.loads(report.read_text())
    failures = _failure_sections(text)
    return [classify(c, theorem, payload, failures) for c in batch]


def _last_line(text: str) -> str:
    lines = [l for l in text.splitlines() if l.strip()]
    return lines[-1][:300] if lines else ""


def classify(c: Candidate, theorem: str, payload: dict, failures: dict) -> Verdict:
    tests = [t for t in payload["tests"] if t["subject"] == c.label and t["theorem"] == theorem]
    by_name = {t["nodeid"].split("::")[-1].split("[")[0]: t for t in tests}
    outcomes = {name: t["outcome"] for name, t in by_name.items()}
    cases = sum(t["cases"] for t in tests)
    main = by_name.get(MAIN_TEST.get(theorem, ""), None)
    failed = {name: failures.get((name, c.label), "") for name, t in by_name.items() if t["outcome"] == "failed"}
    if not tests:
        return Verdict(c, theorem, "n/a", detail="no test of this theorem applies", tests=outcomes)
    if failed:
        name, text = next(iter(failed.items()))
        if "raised" in text or "could not be constructed" in text or "non-finite" in text:
            return Verdict(c, theorem, "raises", cases, _error_line(text), outcomes)
        if "non-vacuity" in text:
            return Verdict(c, theorem, "vacuous", cases, _error_line(text), outcomes)
        if "differ bit for bit" in text and name != "test_weight_decay_is_outside_the_hypothesis":
            return Verdict(c, theorem, "FAIL", cases, _counterexample(text), outcomes)
        return Verdict(c, theorem, "failed (other)", cases, _error_line(text), outcomes)
    if main is not None and main["outcome"] == "out-of-scope":
        return Verdict(c, theorem, "oos", cases, main.get("reason", ""), outcomes)
    oos = any(t["outcome"] == "out-of-scope" for t in tests)
    return Verdict(c, theorem, "pass", cases, "+oos" if oos else "", outcomes)


def _error_line(text: str) -> str:
    errors = [l[1:].strip() for l in text.splitlines() if l.startswith("E ")]
    first = next((e for e in errors if "Error" in e or "assert" in e.lower()), errors[0] if errors else "")
    return first[:400]


def _counterexample(text: str) -> str:
    """The assertion message and Hypothesis's falsifying example (the E-lines)."""
    lines = [l[1:].rstrip() for l in text.splitlines() if l.startswith("E ")]
    keep = [l for l in lines if l.strip() and "reproduce" not in l and "@reproduce_failure" not in l]
    return "\n".join(keep[:40])


def run_all(cands: list[Candidate], theorem: str = "T3", *, batch_size: int = 16, **kwargs) -> list[Verdict]:
    out = []
    for i in range(0, len(cands), batch_size):
        out += run_batch(cands[i:i + batch_size], theorem, **kwargs)
    return out
