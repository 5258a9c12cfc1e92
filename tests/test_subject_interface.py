"""The subject interface of DESIGN.md: bad input is a clear usage error, never a traceback."""
import re

import pytest
import torch

from kinkcheck.harness.subjects.specs import SpecError, builtin_subjects, parse_optimizer_spec, parse_optimizer_specs
from kinkcheck.harness.core.device import placement

MODULE = ("test_frozen_coordinates.py",)


@pytest.mark.parametrize("spec, message", [
    ("adam", "malformed"),
    ("adam=", "malformed"),
    ("=torch.optim:Adam", "malformed"),
    ("adam=torch.optim.Adam", "malformed: expected 'module:attr'"),
    ("bogus=torch.optim:Adam", "unknown family 'bogus'"),
    ("adam=no_such_module_xyz:Adam", "cannot import module 'no_such_module_xyz'"),
    ("adam=torch.optim:NoSuchOptimizer", "has no attribute 'NoSuchOptimizer'"),
    ("adam=torch.optim:__doc__", "is not callable"),
])
def test_malformed_specs_name_the_problem(spec, message):
    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_optimizer_spec(spec)


def test_unknown_family_lists_the_valid_ones():
    with pytest.raises(SpecError) as err:
        parse_optimizer_spec("adamz=torch.optim:Adam")
    assert "sgd, momentum, nesterov" in str(err.value) and "generic" in str(err.value)


def test_duplicate_subjects_are_refused():
    with pytest.raises(SpecError, match="given twice"):
        parse_optimizer_specs(["adam=torch.optim:Adam", "adam=torch.optim:Adam"])


def test_comma_separated_specs_and_readable_labels():
    subjects = parse_optimizer_specs(["adam=torch.optim:Adam,sgd=torch.optim:SGD"])
    assert [s.label for s in subjects] == ["adam=torch.optim:Adam", "sgd=torch.optim:SGD"]


def test_builtin_subjects_cover_every_implementation():
    where = placement("cpu", "float64")
    labels = {s.label for s in builtin_subjects(where.device, where.dtype)}
    assert {"adam[forloop]", "adam[foreach]", "adam[fused]", "amsgrad[fused]", "lbfgs", "muon",
            "rmsprop[foreach]", "nesterov[forloop]"} <= labels


@pytest.mark.parametrize("args, message", [
    (("--optimizer", "adam"), "malformed"),
    (("--optimizer", "bogus=torch.optim:Adam"), "unknown family"),
    (("--optimizer", "adam=no_such_module_xyz:Adam"), "cannot import module"),
    (("--activation", "torch:no_such_relu"), "has no attribute"),
    (("--device", "tpu"), "only cpu and cuda"),
    (("--dtype", "float8"), "choose one of"),
    (("--xfails-file", "/nonexistent/file"), "no such file"),
])
def test_usage_errors_exit_4_without_traceback(run_suite, args, message):
    run = run_suite(*args, modules=MODULE)
    assert run.ret == 4, run.text
    assert message in run.text and "Traceback" not in run.text


def test_environment_variable_selects_subjects(run_suite, monkeypatch):
    monkeypatch.setenv("KINKCHECK_OPTIMIZERS", "adam=torch.optim:Adam")
    run = run_suite("-k", "never_move", modules=MODULE)
    assert run.ret == 0 and "adam=torch.optim:Adam" in run.text and "sgd[" not in run.text


def test_raising_optimizer_fails_the_property_and_the_run_goes_on(run_suite, pytester):
    pytester.makepyfile(raising_optimizer="""
import torch
class Raising(torch.optim.SGD):
    def step(self, closure=None):
        raise RuntimeError("boom")
""")
    run = run_suite("--optimizer", "sgd=raising_optimizer:Raising", "--optimizer", "adam=torch.optim:Adam",
                    modules=MODULE)
    assert run.ret == 1
    assert "optimizer sgd=raising_optimizer:Raising (raising_optimizer:Raising) raised RuntimeError" in run.text
    assert re.search(r"adam=torch.optim:Adam\s+pass", run.text), run.text[-2000:]


def test_expectations_file_marks_known_deviations(run_suite, pytester):
    xf = pytester.makefile(".txt", known="T3::sgd=tests.broken.optimizers:HiddenDecaySGD  # decays on purpose\n"
                                         "T3::adam=torch.optim:Adam  # stale entry\n")
    run = run_suite("--optimizer", "sgd=tests.broken.optimizers:HiddenDecaySGD", "--xfails-file", str(xf),
                    modules=MODULE)
    assert run.ret == 0, run.text[-2000:]
    assert "xfail" in run.text and "match no test: T3::adam=torch.optim:Adam" in run.text


# --- fixed constructor arguments in the spec: FAMILY=module:attr?name=value&name=value (#11 item 3)

def test_fixed_arguments_are_parsed_as_literals_and_passed():
    s = parse_optimizer_spec("generic=torch.optim:Adam?betas=(0.5, 0.75)&amsgrad=True&eps=1e-3")
    assert dict(s.options) == {"betas": (0.5, 0.75), "amsgrad": True, "eps": 1e-3}
    assert s.label == "generic=torch.optim:Adam?betas=(0.5, 0.75)&amsgrad=True&eps=1e-3"
    p = torch.zeros(2, requires_grad=True)
    opt = s.build([p], lr=0.1)
    assert opt.param_groups[0]["betas"] == (0.5, 0.75) and opt.param_groups[0]["amsgrad"] is True


def test_commas_inside_fixed_arguments_do_not_split_subjects():
    subjects = parse_optimizer_specs(["generic=torch.optim:Adam?betas=(0.5,0.75),sgd=torch.optim:SGD"])
    assert [s.label for s in subjects] == ["generic=torch.optim:Adam?betas=(0.5,0.75)", "sgd=torch.optim:SGD"]


@pytest.mark.parametrize("spec, message", [
    ("generic=torch.optim:Adam?", "nothing after '?'"),
    ("generic=torch.optim:Adam?amsgrad", "'amsgrad' is malformed: expected name=value"),
    ("generic=torch.optim:Adam?amsgrad=yes", "is not a Python literal"),
    ("generic=torch.optim:Adam?1x=2", "not a valid argument name"),
    ("generic=torch.optim:Adam?eps=1&eps=2", "given twice"),
    ("generic=torch.optim:Adam?colour=1", "takes no argument 'colour'"),
    ("adam=torch.optim:Adam?betas=(0.9,0.99)", "'betas' is passed by the suite for family 'adam'"),
    ("sgd=torch.optim:SGD?weight_decay=0.1", "'weight_decay' is passed by the suite for family 'sgd'"),
    ("generic=torch.optim:Adam?lr=1", "'lr' is passed by the suite"),
    ("muon=torch.optim:Muon?matrix_flag=use_muon", "is not a Python literal"),
    ("muon=torch.optim:Muon?matrix_flag=1", "matrix_flag must be a quoted group key"),
])
def test_malformed_fixed_arguments_name_the_problem(spec, message):
    with pytest.raises(SpecError, match=re.escape(message)):
        parse_optimizer_spec(spec)


def test_malformed_fixed_argument_is_a_usage_error(run_suite):
    run = run_suite("--optimizer", "generic=torch.optim:Adam?amsgrad=yes", modules=MODULE)
    assert run.ret == 4 and "is not a Python literal" in run.text and "Traceback" not in run.text, run.text


def test_matrix_flag_passes_flagged_parameter_groups():
    s = parse_optimizer_spec("generic=torch.optim:SGD?matrix_flag='use_muon'")
    w, b = torch.zeros(2, 3, requires_grad=True), torch.zeros(3, requires_grad=True)
    groups = s.build([w, b], lr=0.1).param_groups
    assert [(g["use_muon"], [p.shape for p in g["params"]]) for g in groups] == [
        (True, [torch.Size([2, 3])]), (False, [torch.Size([3])])]
    assert "matrix_flag" not in groups[0]


# --- driving: closure, second-order information, horizon (harness/core/training.py)

DRIVEN = """
import torch


class SAM(torch.optim.Optimizer):
    '''Sharpness-aware minimisation (Foret et al. 2021, Alg. 1) over SGD: step needs the closure.'''

    def __init__(self, params, lr=0.01, rho=0.05, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, rho=rho, weight_decay=weight_decay))

    def perturbation(self, g, norm, rho):
        return g * (rho / (norm + 1e-12))

    def step(self, closure=None):
        if closure is None:
            raise RuntimeError("SAM requires a closure")
        params = [p for group in self.param_groups for p in group["params"] if p.grad is not None]
        with torch.no_grad():
            norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params]))
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        self.state[p]["e"] = self.perturbation(p.grad, norm, group["rho"])
                        p.add_(self.state[p]["e"])
        with torch.enable_grad():
            loss = closure()  # the gradient at the perturbed point
        with torch.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        p.sub_(self.state[p]["e"]).add_(p.grad, alpha=-group["lr"])  # back to w, then SGD
        return loss


class SignSAM(SAM):
    '''One-line bug: the sign of the gradient written as g / |g| (0 / 0 = NaN at a zero gradient).'''

    def perturbation(self, g, norm, rho):
        return rho * g / g.abs()


class HutchinsonSGD(torch.optim.Optimizer):
    '''SGD preconditioned by |diag H| from one Hessian-vector product: needs backward(create_graph=True).'''
    create_graph = True

    def __init__(self, params, lr=0.01, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay))

    def step(self, closure=None):
        params = [p for group in self.param_groups for p in group["params"] if p.grad is not None]
        zs = [torch.ones_like(p) for p in params]
        hz = torch.autograd.grad([p.grad for p in params], params, zs, allow_unused=True)
        with torch.no_grad():
            for group in self.param_groups:
                for p, z, h in zip(params, zs, hz):
                    d = torch.zeros_like(p) if h is None else (z * h).abs()
                    p.sub_(group["lr"] * p.grad / (1 + d))


class WarmupSGD(torch.optim.SGD):
    '''SGD whose first 5 steps are no-ops by design (a warm-up that only counts).'''

    def __init__(self, params, lr=0.01, **kwargs):
        super().__init__(params, lr=lr, **kwargs)
        self.t = 0

    def step(self, closure=None):
        self.t += 1
        if self.t <= 5:
            return None
        return super().step(closure)


class StuckWarmupSGD(WarmupSGD):
    '''One-line bug: the warm-up counter is advanced after the early return, so it never leaves warm-up.'''

    def step(self, closure=None):
        if self.t < 5:
            return None
        self.t += 1
        return super(WarmupSGD, self).step(closure)
"""
T2_T3 = ("test_frozen_coordinates.py", "test_inactive_neuron_invariance.py")


def test_closure_and_hessian_vector_optimizers_are_driven_and_pass(run_suite, pytester):
    """SAM is driven with a closure, HutchinsonSGD with create_graph: both pass T2 and T3 (one run, a row each)."""
    pytester.makepyfile(driven=DRIVEN)
    run = run_suite("--optimizer", "generic=driven:SAM", "--optimizer", "generic=driven:HutchinsonSGD", modules=T2_T3)
    assert run.ret == 0 and not run.failed_theorems(), run.text[-3000:]
    assert {"generic=driven:SAM", "generic=driven:HutchinsonSGD"} <= set(run.cells()), run.cells()  # both ran


def test_closure_based_optimizer_bug_is_caught_once_driven(run_suite, pytester):
    """SignSAM cannot be driven by a plain step(); driven with a closure, T3 sees its NaN perturbation
    of the frozen coordinates (a failure of the property, not 'raised: requires a closure')."""
    pytester.makepyfile(driven=DRIVEN)
    run = run_suite("--optimizer", "generic=driven:SignSAM", modules=("test_frozen_coordinates.py",))
    assert run.ret == 1 and "T3" in run.failed_theorems(), run.text[-3000:]
    assert "produced non-finite parameters" in run.text and "requires a closure" not in run.text


def test_warm_up_optimizer_gets_its_horizon_extended_and_passes(run_suite, pytester):
    """T3 draws 1-40 steps; without the horizon rule every case with fewer than 6 steps would be vacuous."""
    pytester.makepyfile(driven=DRIVEN)
    run = run_suite("--optimizer", "sgd=driven:WarmupSGD", "-k", "never_move", modules=T2_T3)
    assert run.ret == 0 and not run.failed_theorems(), run.text[-3000:]


def test_optimizer_that_never_moves_hits_the_cap_and_the_verdict_says_so(run_suite, pytester):
    pytester.makepyfile(driven=DRIVEN)
    run = run_suite("--optimizer", "sgd=driven:StuckWarmupSGD", "-k", "zero_gradient_coordinates_never_move",
                    modules=("test_frozen_coordinates.py",))
    assert run.ret == 1 and "T3" in run.failed_theorems(), run.text[-3000:]
    assert "non-vacuity" in run.text and "HORIZON_CAP" in run.text, run.text[-3000:]


def test_driving_rules_in_process():
    """The closure is called by step() and its first call reuses the step's gradients; create_graph is
    detected from the attribute or a ``hessian`` parameter of step; the horizon stops at the cap."""
    from kinkcheck.harness.core import training

    calls = []

    class Counting(torch.optim.SGD):
        def step(self, closure=None):
            calls.append(closure is not None)
            return super().step(closure)

    subject = parse_optimizer_spec("sgd=torch.optim:SGD")
    subject = type(subject)("sgd", "sgd=counting", "counting", Counting)
    p = torch.ones(3, requires_grad=True)
    training.inject_gradients([p], lambda k: [torch.full((3,), float(k))], subject, {"lr": 0.5}, 3)
    assert calls == [True, True, True] and torch.equal(p.detach(), torch.tensor([-2.0] * 3))  # 1 - 0.5*(1+2+3)

    class WithHessian(torch.optim.SGD):
        def step(self, closure=None, hessian=None):
            return super().step(closure)

    assert training.needs_second_order(WithHessian([p], lr=0.1))
    assert not training.needs_second_order(torch.optim.SGD([p], lr=0.1))

    class Never(torch.optim.SGD):
        def step(self, closure=None):
            return None

    q = torch.ones(2, requires_grad=True)
    opt = training.inject_gradients([q], lambda k: [torch.ones(2)], type(subject)("sgd", "never", "never", Never),
                                    {"lr": 0.5}, 2)
    assert opt.kinkcheck_horizon[:2] == (training.HORIZON_CAP, True) and "HORIZON_CAP" in opt.kinkcheck_horizon[2]
