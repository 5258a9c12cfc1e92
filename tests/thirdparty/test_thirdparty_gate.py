"""Opt-in: the kinkcheck gate on every optimizer of pytorch-optimizer, lion-pytorch and (when installed)
timm.optim.

Runs only with ``KINKCHECK_THIRDPARTY=1`` and pytorch-optimizer and lion-pytorch installed; timm's
classes join when timm imports (with or without torchvision, tests/thirdparty/timm_import.py):

    pip install pytorch-optimizer==4.1.0 lion-pytorch==0.2.5
    pip install --no-deps timm==1.0.31 && pip install pyyaml huggingface_hub safetensors
    KINKCHECK_THIRDPARTY=1 python -m pytest -m thirdparty tests/thirdparty

T3 ([GM] Lemmas 4.8-4.9: exactly-zero gradients leave a coordinate bit-identical) is run on each
optimizer through ``tests/thirdparty/gate.py`` (subprocesses, as a user's CI runs it); the full
table with counterexamples is ``docs/thirdparty.md`` (``scripts/thirdparty_table.py``).
"""
from __future__ import annotations

import os
import warnings

import pytest

from tests.thirdparty import gate

pytestmark = [
    pytest.mark.thirdparty,
    pytest.mark.skipif(os.environ.get("KINKCHECK_THIRDPARTY") != "1", reason="opt-in: set KINKCHECK_THIRDPARTY=1"),
    pytest.mark.skipif(not gate.packages_available(), reason="pytorch-optimizer / lion-pytorch not installed"),
]

# Real deviations from T3 found with pytorch-optimizer 4.1.0 (docs/thirdparty.md has the
# counterexamples). A deviation not listed here fails the test; one that disappears is reported.
KNOWN_T3_DEVIATIONS = {"adamp", "alice", "amos", "conda", "dash", "focus", "fromage", "ftrl", "gravity", "kron",
                       "nero", "ranger", "ranger21", "scion", "scionlight", "sgdp", "shampoo", "soap",
                       "spectralsphere", "splus", "srmm", "yogi",
                       # timm 1.0.31 (docs/thirdparty.md; bugs reproduced in docs/thirdparty-bugs/)
                       "timm:AdamP", "timm:Kron", "timm:SGDP", "timm:MADGRAD", "timm:RAdamLegacy"}
# outcomes that are a verdict with a reason; "spec error" (the sweep's own spec is a usage error) never is
VERDICTS = ("pass", "oos", "oos (protocol)", "FAIL", "decay law", "raises", "n/s", "n/s (suite)")


@pytest.fixture(scope="module")
def t3_verdicts():
    return gate.run_all(gate.candidates(), "T3", profile="kinkcheck-selftest", timeout=300)


def test_every_optimizer_gets_a_verdict(t3_verdicts):
    assert len(t3_verdicts) == len(gate.candidates())
    unknown = {v.candidate.name: v.status for v in t3_verdicts
               if v.status not in (*VERDICTS, "vacuous", "timeout", "n/a", "spec error")}
    assert not unknown, f"unclassified outcomes (gate.classify needs a rule): {unknown}"
    spec_errors = {v.candidate.name: v.detail for v in t3_verdicts if v.status == "spec error"}
    assert not spec_errors, f"the sweep's specs are usage errors (fix gate.py, not the optimizer): {spec_errors}"
    unexplained = {v.candidate.name: v.detail for v in t3_verdicts if v.status == "failed (other)"}
    assert not unexplained, unexplained


def test_torch_like_optimizers_pass(t3_verdicts):
    """Non-vacuity of the sweep: ordinary elementwise optimizers must come out "pass"."""
    by = {v.candidate.name: v.status for v in t3_verdicts}
    for name in ("adabelief", "adabound", "lamb", "diffgrad", "lion", "lion (lion-pytorch)", "timm:AdaBelief",
                 "timm:Lamb", "timm:Lion", "timm:LaProp", "timm:NAdamW", "timm:SGDW"):
        if name in by:
            assert by[name] == "pass", (name, by[name])


def test_no_new_t3_deviation(t3_verdicts):
    found = {v.candidate.name for v in t3_verdicts if v.status == "FAIL"}
    new = found - KNOWN_T3_DEVIATIONS
    details = "\n\n".join(f"{v.candidate.spec}:\n{v.detail}" for v in t3_verdicts if v.candidate.name in new)
    assert not new, f"new T3 deviations (zero-gradient coordinates moved with no decay):\n{details}"
    fixed = KNOWN_T3_DEVIATIONS - found
    if fixed:
        warnings.warn(f"known T3 deviations no longer seen (update KNOWN_T3_DEVIATIONS): {sorted(fixed)}")
