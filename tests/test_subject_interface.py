"""The subject interface of DESIGN.md: bad input is a clear usage error, never a traceback."""
import re

import pytest

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
