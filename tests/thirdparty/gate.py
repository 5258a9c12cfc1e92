"""Running the kinkcheck gate on third-party optimizer packages (pytorch-optimizer, lion-pytorch, timm).

Each optimizer becomes a ``FAMILY=module:attr`` subject. The family is chosen from the
constructor's signature, conservatively: ``adam`` when it takes lr, a 2-tuple ``betas``, eps and
weight_decay (the adam family's hyperparameters); ``sgd`` when it is an SGD variant taking lr and
weight_decay; ``generic`` (only lr passed, family-independent theorems) otherwise; timm's classes are
mapped by hand (TIMM). Each spec declares its decay law (``?decay_law=``, read from the source). The theorem
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
    decay law a decay configuration (outside the hypothesis) whose zero-gradient coordinates do not
              follow the declared ``?decay_law=`` (T3/T2's decay tests);
    n/s       the theorem's main test was not supported (the constructor lacks a hyperparameter);
    n/s (suite)  no test of the theorem for the family's parameter shapes (muon: 2-D only; T2 in runs 1-8,
              before T2 trained subjects not declared coordinatewise on real layers);
    n/a       no test of the theorem applies to the family (any other family);
    spec error  the run was a usage error (exit 4): the sweep's spec is wrong, not the optimizer;
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
    "muon": _MUON, "distributedmuon": _MUON, "normuon": _MUON, "adago": _MUON,
    "adamuon": _MUON,
    "spectralsphere": ("muon", "", "2-D parameters only: family muon (T3's row/column test)"),
    "bsam": (None, "num_data=64", "num_data (the data set size) is a required argument"),
    "ranger21": (None, "num_iterations=1000", "num_iterations (the schedule's length) is a required argument"),
    "sara": (None, "threshold=1e9", "only weights with |w| < threshold (default 1e-3) are trained: with the "
             "suite's N(0, 4) weights none is, so the threshold is raised above every weight"),
    "schedulefreeadamw": ("generic", "", "beta1 must lie in (0, 1): the adam family draws beta1 = 0"),
    "mars": (None, "weight_decay_1d=0.0", "1-D parameters go to an AdamW branch with a decay of its own, "
             "weight_decay_1d = 0.1 by default (outside T3's hypothesis under another name): set to 0"),
    "muonclip": ("muon", "rename={'nesterov': None}&matrix_flag='use_muon'",
                 "MuonClip forwards nesterov=... to Muon itself, so the muon family's drawn nesterov would collide "
                 "(TypeError: multiple values for 'nesterov'): the spec withholds it (rename={'nesterov': None}), "
                 "and its own nesterov is used where the claim holds for every value (T2, T3)"),
    "dadaptsgd": ("generic", "", "an SGD variant with memory (the sgd family is memoryless plain SGD); run at its "
                  "published d0 = 1e-6: a float32 case in which nothing moves is replayed in float64"),
    **{name: ("generic", "", "an SGD variant with memory (momentum, averaging, D-adaptation, moment estimates): "
                             "the sgd family is memoryless plain SGD (T2(d)), so only lr is passed")
       for name in ("accsgd", "schedulefreesgd", "sgdsai", "signsgd", "vsgd")},
    "schedulefreeradam": ("generic", "", "beta1 must lie in (0, 1): the adam family draws beta1 = 0"),
}
# optimizers outside the protocol the suite drives; the verdict is "oos (protocol)" only when the run raises
PROTOCOL = {
    "adammini": "takes a model (named_parameters, attention head layout), not parameters",
    "lomo": "takes a model and fuses the update into backward (no optimizer.step protocol)",
    "adalomo": "takes a model and fuses the update into backward (no optimizer.step protocol)",
    "lorarite": "takes LoRA factor pairs (lora_l_dim/lora_r_dim shapes), not arbitrary tensors",
    "demo": "needs einops (not installed) and a distributed process group",
    "distributedmuon": "needs an initialised torch.distributed process group (not a single-process optimizer)",
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
    run: int = 1  # which saved run it comes from (scripts/thirdparty_table.py --from-json a,b)


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


# decay laws read by hand where the weight_decouple rule below is wrong (weight_decouple=True, another law)
DECAY_LAW = {
    "adams": "none",  # adams.py: p *= 1 - lr*wd / sqrt(mean of v) (decay divided by the mean second moment)
    "apollo": "none",  # apollo.py: apply_weight_decay(..., lr=step_size): scaled by the bias-corrected step size
    "prodigy": "none",  # prodigy.py: decay scaled by the adapted d as well as lr
    "radam": "none",  # radam.py: the decoupled decay is applied only on the steps it takes (step_size > 0)
}


def decay_law_of(cls, family: str, name: str = "") -> str | None:
    """The ``?decay_law=`` a pytorch-optimizer subject declares, read from its constructor: the package's
    ``apply_weight_decay`` (pytorch_optimizer/base/optimizer.py) multiplies p by 1 - lr*weight_decay when
    ``weight_decouple`` is true and ``fixed_decay`` false -- the decoupled law. Any other decay (coupled L2
    on a recursion other than the family's reference, fixed decay, a decay of its own) is declared
    ``none``: the suite has no law to compare it with, so the decay configuration is reported out of
    scope with its displacement but not compared. None for families without weight_decay (generic, muon)."""
    if family not in ("adam", "sgd"):
        return None
    if name in DECAY_LAW:
        return DECAY_LAW[name]
    params = inspect.signature(cls.__init__).parameters
    if _default(params, "weight_decouple") is True and _default(params, "fixed_decay") is not True:
        return "decoupled"
    return "none"


def _spec(family: str, target: str, *options: str) -> str:
    options = [o for o in options if o]
    return f"{family}={target}" + ("?" + "&".join(options) if options else "")


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
        law = decay_law_of(cls, family, name)
        spec = _spec(family, f"{cls.__module__}:{cls.__qualname__}", fixed, f"decay_law='{law}'" if law else "")
        out.append(Candidate(name, spec, family, "pytorch-optimizer", _default(params, "weight_decay")))
    return out


def lion_pytorch_candidates() -> list[Candidate]:
    from lion_pytorch import Lion

    params = inspect.signature(Lion.__init__).parameters
    # lion_pytorch/lion_pytorch.py: p.data.mul_(1. - lr * wd) -- decoupled, the lion family's own law
    return [Candidate("lion (lion-pytorch)", "lion=lion_pytorch:Lion", "lion", "lion-pytorch",
                      _default(params, "weight_decay"))]


# timm 1.0.31 (timm/optim/*.py, read by hand): class -> (family, spec options, why). The decay law is read
# from each step(): "decoupled" where a zero-gradient coordinate is multiplied by 1 - lr*weight_decay and
# nothing else; "none" where the decay is another law the suite does not model (coupled L2 inside a
# recursion other than the family reference, a trust ratio, a proximal division, Adafactor's relative step).
TIMM = {
    "AdaBelief": ("adam", "decay_law='decoupled'", "decoupled_decay=True by default: p.mul_(1 - lr*wd)"),
    "Adafactor": ("adafactor",
                  "rename={'beta2_decay': 'decay_rate', 'eps': ('eps', 'eps_scale'), 'd': 'clip_threshold'}"
                  "&decay_law='none'",
                  "torch's beta2_decay is timm's decay_rate (beta2_t = 1 - t^decay_rate), torch's eps pair (eps1, "
                  "eps2) is timm's eps and eps_scale, torch's d is clip_threshold (without the rename the "
                  "published-defaults test passes the pair as timm's float eps: TypeError); its decay is scaled "
                  "by the relative step lr_t = lr*max(eps_scale, RMS(p)), not lr: no modelled law"),
    "AdafactorBigVision": ("generic", "", "decay_rate has the opposite sign convention to torch's beta2_decay "
                           "(beta2 = 1 - t^-decay_rate), momentum stored in bfloat16: only lr is passed"),
    "Adahessian": ("adam", "decay_law='decoupled'", "p.mul_(1 - lr*wd); second order (is_second_order: "
                   "backward(create_graph=True))"),
    "AdamP": ("adam", "decay_law='none'", "decay scaled by wd_ratio where the projection applies"),
    "AdamWLegacy": ("adamw", "", "AdamW (p.mul_(1 - lr*wd), default weight_decay 0.01): the adamw family"),
    "Adan": ("generic", "", "betas is a 3-tuple (beta1, beta2, beta3): the adam family's 2-tuple does not fit; "
             "decay is proximal (p /= 1 + lr*wd)"),
    "Adopt": ("adam", "decay_law='none'", "decoupled=False by default: L2 added to the gradient of the ADOPT "
              "recursion (not Adam's reference)"),
    "Kron": ("generic", "", "PSGD Kron: momentum and a Kronecker-factored preconditioner, no betas"),
    "Lamb": ("adam", "decay_law='none'", "L2 added to the update before the trust ratio (default weight_decay "
             "0.01)"),
    "LaProp": ("adam", "decay_law='decoupled'", "p += -lr*wd*p (wd_scale = lr)"),
    "Lars": ("sgd", "decay_law='none'", "momentum 0 by default (memoryless); L2 inside the trust ratio"),
    "Lion": ("lion", "", "p.mul_(1 - lr*wd): the lion family's decoupled law"),
    "Lookahead": ("adam", "decay_law='none'",
                  "a wrapper: takes an optimizer, not parameters; run as Lookahead(torch.optim.Adam(params, "
                  "**hyperparameters)) through tests/thirdparty/wrappers.py; slow-weight interpolation is no "
                  "modelled decay law"),
    "MADGRAD": ("generic", "", "dual averaging with momentum 0.9, no betas"),
    "Mars": ("adam", "decay_law='decoupled'", "update = p*wd + ...; p -= lr*update"),
    "Muon": ("muon", "", "takes momentum, nesterov, ns_steps under torch's names; matrices orthogonalised"),
    "NAdamLegacy": ("adam", "decay_law='none'", "L2 added to the gradient of Keras-style NAdam (schedule_decay "
                    "momentum schedule), not Adam's reference"),
    "NAdamW": ("adamw", "", "p.mul_(1 - lr*wd), default weight_decay 0.01: decoupled, the adamw family's law"),
    "NvNovoGrad": ("adam", "decay_law='none'", "L2 added to the normalised update (per-tensor second moment)"),
    "RAdamLegacy": ("radam", "decay_law='decoupled'", "p_fp32.add_(p_fp32, alpha=-wd*lr): decoupled"),
    "RMSpropTF": ("rmsprop", "decay_law='none'", "L2 added to the gradient of the TF recursion (eps inside the "
                  "sqrt, square_avg starts at 1), not torch's RMSprop reference"),
    "SGDP": ("sgd", "decay_law='none'", "momentum 0 by default; decay scaled by wd_ratio/(1-momentum)"),
    "SGDW": ("sgd", "decay_law='decoupled'", "momentum 0 by default (memoryless); p.mul_(1 - lr*wd)"),
}
WRAPPED = {"Lookahead": "tests.thirdparty.wrappers:timm_lookahead_adam"}


def timm_classes() -> list[type]:
    """Every torch.optim.Optimizer subclass defined in a timm.optim submodule (torch's own classes that
    timm re-exports are left out), in name order."""
    import importlib
    import pkgutil

    import torch

    from tests.thirdparty import timm_import

    timm_import.install()
    import timm.optim

    found = {}
    for info in pkgutil.iter_modules(timm.optim.__path__):
        if info.name in ("optim_factory",):  # deprecated alias of _param_groups
            continue
        module = importlib.import_module(f"timm.optim.{info.name}")
        for attr, obj in vars(module).items():
            if isinstance(obj, type) and issubclass(obj, torch.optim.Optimizer) and obj.__module__ == module.__name__:
                found[attr] = obj
    return [found[k] for k in sorted(found, key=str.lower)]


def timm_candidates() -> list[Candidate]:
    out = []
    for cls in timm_classes():
        name = cls.__name__
        params = inspect.signature(cls.__init__).parameters
        family, options, _ = TIMM.get(name, (None, "", ""))
        family = family or family_of(name, cls)
        exported = getattr(sys.modules["timm.optim"], name, None) is cls  # Kron is not re-exported by timm.optim
        target = WRAPPED.get(name, f"timm.optim:{name}" if exported else f"{cls.__module__}:{name}")
        out.append(Candidate(f"timm:{name}", _spec(family, target, options), family, "timm",
                             _default(params, "weight_decay")))
    return out


PACKAGES = {"pytorch-optimizer": pytorch_optimizer_candidates, "lion-pytorch": lion_pytorch_candidates,
            "timm": timm_candidates}


def candidates(packages=None) -> list[Candidate]:
    out = []
    for package in packages or [p for p in PACKAGES if package_available(p)]:
        out += PACKAGES[package]()
    return out


def package_available(package: str) -> bool:
    try:
        if package == "timm":
            from tests.thirdparty import timm_import

            timm_import.install()
        else:
            __import__({"pytorch-optimizer": "pytorch_optimizer", "lion-pytorch": "lion_pytorch"}[package])
    except Exception:
        return False
    return True


def packages_available() -> bool:
    return all(package_available(p) for p in ("pytorch-optimizer", "lion-pytorch"))


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in ("torch", "kinkcheck", "pytorch-optimizer", "lion-pytorch", "timm", "hypothesis", "torchvision"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "not installed"
    if out["timm"] != "not installed":
        from tests.thirdparty import timm_import

        try:
            out["timm import"] = timm_import.install()
        except Exception as e:  # pragma: no cover
            out["timm import"] = f"failed: {e}"
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
        if any(c.package == "timm" for c in batch):  # timm.optim without torchvision (timm_import.py)
            cmd += ["-p", "tests.thirdparty.timm_import"]
        for c in batch:
            cmd += ["--optimizer", c.spec]
        env = {k: v for k, v in os.environ.items() if not k.startswith("KINKCHECK_")}
        env.setdefault("OMP_NUM_THREADS", "1")
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [x for x in [env.get("PYTHONPATH")] if x])
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
                if proc.returncode == 4:  # a usage error: the spec (the sweep's) is wrong, not the optimizer
                    return [Verdict(batch[0], theorem, "spec error", detail=_usage_line(text))]
                return [Verdict(batch[0], theorem, "raises", detail=_last_line(text))]
            half = len(batch) // 2  # halves: one bad spec costs log2(n) runs, not n
            return (run_batch(batch[:half], theorem, profile=profile, timeout=timeout, workers=workers, extra=extra)
                    + run_batch(batch[half:], theorem, profile=profile, timeout=timeout, workers=workers, extra=extra))
        payload = json.loads(report.read_text())
    failures = _failure_sections(text)
    return [refine(classify(c, theorem, payload, failures)) for c in batch]


def _usage_line(text: str) -> str:
    lines = [l for l in text.splitlines() if "UsageError" in l or "usage error" in l.lower() or "ERROR:" in l]
    return (lines[0] if lines else _last_line(text))[:400]


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
    # tests of decay configurations (outside T2/T3's hypothesis): since issue #19 the spec declares the decay
    # law (?decay_law=) and these tests check *that* law: a failure is reported ("decay law"), never hidden
    decay_failed = {name: failed.pop(name) for name in list(failed) if name in DECAY_TESTS}
    decay_note = ""
    if not tests:
        return Verdict(c, theorem, "n/a", detail="no test of this theorem applies to family " + c.family,
                       tests=outcomes)
    kinds = {name: by_name[name].get("reason", "") for name in failed}
    if failed:
        name, text = next(iter(failed.items()))
        kind = kinds.get(name, "")
        if kind:  # the plugin's kind of the subject's FAIL (kinkcheck.plugin.blame.failure_kind)
            text = f"FAIL ({kind})\n" + text
        if "raised" in kind or "non-finite" in kind or "not an optimizer" in kind or "hung" in kind:
            if c.name in PROTOCOL:
                return Verdict(c, theorem, "oos (protocol)", cases, PROTOCOL[c.name], outcomes)
            return Verdict(c, theorem, "raises", cases, f"({kind}) " + _error_line(text) + "\n" + _counterexample(text),
                           outcomes)
        if "never reached the regime" in kind:
            capped = "HORIZON_CAP" in text
            return Verdict(c, theorem, "vacuous", cases, ("cap: " if capped else "") + _error_line(text) + "\n"
                           + _counterexample(text), outcomes)
        if "violates the theorem" in kind and "differ bit for bit" in text:
            return Verdict(c, theorem, "FAIL", cases, _counterexample(text), outcomes)
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
    if decay_failed:
        name, text = next(iter(decay_failed.items()))
        kind = by_name[name].get("reason", "")
        return Verdict(c, theorem, "decay law", cases, f"{name} ({kind}): " + _error_line(text), outcomes)
    if main is not None and main["outcome"] == "not-supported":
        return Verdict(c, theorem, "n/s", cases, main.get("reason", ""), outcomes)
    if main is not None and main["outcome"] == "out-of-scope":
        return Verdict(c, theorem, "oos", cases, main.get("reason", "") + decay_note, outcomes)
    oos = any(t["outcome"] == "out-of-scope" for t in tests)
    return Verdict(c, theorem, "pass", cases, ("+oos" if oos else "") + decay_note, outcomes)


def refine(v: Verdict) -> Verdict:
    """Rules applied to a classified verdict (also to saved verdicts when a table is re-rendered):
    - T2(d)'s "no neuron moves after becoming inactive" is a claim about memoryless plain SGD; an SGD
      variant with state (momentum, averaging, D-adaptation) put in family sgd fails it by design: FAIL;
    - a decay configuration (outside the hypothesis) that behaves unlike the family's: oos;
    - an optimizer listed in PROTOCOL that raised or moved nothing within HORIZON_CAP: oos (protocol);
    - no test of the theorem for a muon-family subject (2-D parameters only): n/s (suite), with the reason
      (saved runs 1-8 only: T2 now trains the muon family on real layers, so a new run has a verdict)."""
    if v.status == "failed (other)" and "neurons moved after becoming inactive" in v.detail:
        return dataclasses.replace(v, status="FAIL", detail="T2(d) (plain SGD is memoryless): " + v.detail)
    if v.status == "failed (other)" and "ignores its decay hyperparameter" in v.detail:
        return dataclasses.replace(v, status="oos", detail="decay configuration unlike the family's: " + v.detail)
    if v.status == "n/a" and v.candidate.family == "muon":
        return dataclasses.replace(v, status="n/s (suite)", detail=(
            "no test of this theorem for family muon: its tests use batched 3-D networks, a Muon-style optimizer "
            "orthogonalises 2-D matrices (a gap of the suite; T3's row/column test is the muon family's check)"))
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


def spec_problem(c: Candidate) -> str | None:
    """The usage error the plugin would raise at the start of a run for this spec (parse_optimizer_specs:
    loading, options, construction with the family's defining hyperparameters), checked in-process so that
    one such candidate does not turn a whole batch into a usage error; None when the spec is accepted."""
    from kinkcheck.harness.subjects import specs

    if c.package == "timm":
        from tests.thirdparty import timm_import

        timm_import.install()
    try:
        specs.parse_optimizer_specs([c.spec])
    except specs.SpecError as e:
        return str(e)
    return None


def run_all(cands: list[Candidate], theorem: str = "T3", *, batch_size: int = 16, **kwargs) -> list[Verdict]:
    out, runnable = [], []
    for c in cands:
        problem = spec_problem(c)
        if problem is None:
            runnable.append(c)
        elif c.name in PROTOCOL:  # confirmed: the constructor refuses the protocol's parameters
            out.append(Verdict(c, theorem, "oos (protocol)", detail=f"{PROTOCOL[c.name]} ({problem[:200]})"))
        else:
            out.append(Verdict(c, theorem, "spec error", detail=problem[:400]))
    for i in range(0, len(runnable), batch_size):
        out += run_batch(runnable[i:i + batch_size], theorem, **kwargs)
    order = {c.name: i for i, c in enumerate(cands)}
    return sorted(out, key=lambda v: order[v.candidate.name])
