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
    raises    the optimizer raised or produced NaN/Inf while driven (a failure of the gate: the
              property failed with the subject's error);
    vacuous   a non-vacuity check failed (e.g. it built no state or moved no live coordinate),
              ``cap`` when it moved nothing within the harness's HORIZON_CAP steps;
    oos (protocol)  the optimizer does not follow the torch.optim protocol the suite drives
              (PROTOCOL: it takes a model, LoRA factor pairs, or a missing dependency), confirmed
              by the run raising;
    n/a       no test of the theorem applies to the family (Muon-style: 2-D parameters only, T2);
    timeout   the run did not finish in time.

The harness (``kinkcheck.harness.core.training``) passes a closure, does ``backward(create_graph=
True)`` for Hessian-vector optimizers and extends the horizon for no-op first steps by itself;
DRIVING below supplies what a user would put in the spec: fixed constructor arguments
(``?num_iterations=1000``), the Muon-style group flag (``?matrix_flag='use_muon'``) and the family.
"""
from __future__ import annotations

import dataclasses
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
MODULES = {"T3": "kinkcheck.theorems.test_frozen_coordinates",
           "T2": "kinkcheck.theorems.test_inactive_neuron_invariance"}
DECAY_TESTS = {"test_weight_decay_is_outside_the_hypothesis", "test_coupled_decay_breaks_inactivity",
               "test_decoupled_decay_preserves_inactivity"}
MAIN_TEST = {"T3": "test_zero_gradient_coordinates_never_move", "T2": "test_inactive_neuron_never_moves"}


# name -> (family, fixed arguments after '?', why): what a user would write in the spec
_MUON = ("muon", "matrix_flag='use_muon'", "Muon-style: matrices flagged use_muon=True, the other tensors go to "
         "its AdamW branch; family muon (2-D parameters, T3's row/column test)")
DRIVING = {
    "muon": _MUON, "distributedmuon": _MUON, "normuon": _MUON, "muonclip": _MUON, "adago": _MUON,
    "adamuon": _MUON,
    "spectralsphere": ("muon", "", "2-D parameters only: family muon (T3's row/column test)"),
    "bsam": (None, "num_data=64", "num_data (the data set size) is a required argument"),
    "ranger21": (None, "num_iterations=1000", "num_iterations (the schedule's length) is a required argument"),
    "sara": (None, "threshold=1e9", "only weights with |w| < threshold (default 1e-3) are trained: with the "
             "suite's N(0, 4) weights none is, so the threshold is raised above every weight"),
    "schedulefreeadamw": ("generic", "", "beta1 must lie in (0, 1): the adam family draws beta1 = 0"),
    "schedulefreeradam": ("generic", "", "beta1 must lie in (0, 1): the adam family draws beta1 = 0"),
}
# optimizers outside the protocol the suite drives; the verdict is "oos (protocol)" only when the run raises
PROTOCOL = {
    "adammini": "takes a model (named_parameters, attention head layout), not parameters",
    "lomo": "takes a model and fuses the update into backward (no optimizer.step protocol)",
    "adalomo": "takes a model and fuses the update into backward (no optimizer.step protocol)",
    "lorarite": "takes LoRA factor pairs (lora_l_dim/lora_r_dim shapes), not arbitrary tensors",
    "demo": "needs einops (not installed) and a distributed process group",
}


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
        family, fixed, _ = DRIVING.get(name, (None, "", ""))
        family = family or family_of(name, cls)
        spec = f"{family}={cls.__module__}:{cls.__qualname__}" + (f"?{fixed}" if fixed else "")
        out.append(Candidate(name, spec, family, "pytorch-optimizer", _default(params, "weight_decay")))
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
                if batch[0].name in PROTOCOL:
                    return [Verdict(batch[0], theorem, "oos (protocol)", detail=PROTOCOL[batch[0].name])]
                return [Verdict(batch[0], theorem, "raises", detail=_last_line(text))]
            return [v for c in batch for v in run_batch([c], theorem, profile=profile, timeout=timeout,
                                                        workers=workers, extra=extra)]
        payload = json.loads(report.read_text())
    failures = _failure_sections(text)
    return [refine(classify(c, theorem, payload, failures)) for c in batch]


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
    # tests of decay configurations (outside T2/T3's hypothesis) that assert the family's own decay behaviour:
    # a third-party optimizer with another decay rule fails them without deviating from the theorem
    decay_failed = {name: failed.pop(name) for name in list(failed) if name in DECAY_TESTS}
    decay_note = ("; decay configuration unlike the family's (outside the hypothesis): "
                  + _error_line(next(iter(decay_failed.values())))[:120]) if decay_failed else ""
    if not tests:
        return Verdict(c, theorem, "n/a", detail="no test of this theorem applies to family " + c.family,
                       tests=outcomes)
    if failed:
        name, text = next(iter(failed.items()))
        if "raised" in text or "could not be constructed" in text or "non-finite" in text:
            if c.name in PROTOCOL:
                return Verdict(c, theorem, "oos (protocol)", cases, PROTOCOL[c.name], outcomes)
            return Verdict(c, theorem, "raises", cases, _error_line(text), outcomes)
        if "non-vacuity" in text:
            capped = "HORIZON_CAP" in text
            return Verdict(c, theorem, "vacuous", cases, ("cap: " if capped else "") + _error_line(text), outcomes)
        if "differ bit for bit" in text and name != "test_weight_decay_is_outside_the_hypothesis":
            return Verdict(c, theorem, "FAIL", cases, _counterexample(text), outcomes)
        return Verdict(c, theorem, "failed (other)", cases, _error_line(text), outcomes)
    if main is not None and main["outcome"] == "out-of-scope":
        return Verdict(c, theorem, "oos", cases, main.get("reason", "") + decay_note, outcomes)
    oos = any(t["outcome"] == "out-of-scope" for t in tests)
    return Verdict(c, theorem, "pass", cases, ("+oos" if oos else "") + decay_note, outcomes)


def refine(v: Verdict) -> Verdict:
    """Rules applied to a classified verdict (also to saved verdicts when a table is re-rendered):
    - T2(d)'s "no neuron moves after becoming inactive" is a claim about memoryless plain SGD; an SGD
      variant with state (momentum, averaging, D-adaptation) put in family sgd fails it by design: FAIL;
    - a decay configuration (outside the hypothesis) that behaves unlike the family's: oos;
    - an optimizer listed in PROTOCOL that raised or moved nothing within HORIZON_CAP: oos (protocol)."""
    if v.status == "failed (other)" and "neurons moved after becoming inactive" in v.detail:
        return dataclasses.replace(v, status="FAIL", detail="T2(d) (plain SGD is memoryless): " + v.detail)
    if v.status == "failed (other)" and "ignores its decay hyperparameter" in v.detail:
        return dataclasses.replace(v, status="oos", detail="decay configuration unlike the family's: " + v.detail)
    if v.status in ("raises", "vacuous") and v.candidate.name in PROTOCOL:
        return dataclasses.replace(v, status="oos (protocol)", detail=PROTOCOL[v.candidate.name])
    return v


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
