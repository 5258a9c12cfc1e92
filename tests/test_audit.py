"""Self-tests of ``kinkcheck audit`` (T1 (c)): the measured table, the pinned file, ``--expect``."""
import json
from pathlib import Path

import pytest
import torch

import kinkcheck
from harness.kinks import MODES, SPELLINGS, measure
from kinkcheck.cli import main

PINNED = Path(kinkcheck.__file__).parent / "conventions" / "torch-2.13.0-cpu.json"

# THEOREMS.md T1 (c), "Measured on torch 2.13.0 CPU": derivative at the kink, eager autograd.
THEOREMS_MD = {
    "relu": 0.0, "relu_": 0.0, "F.relu": 0.0, "nn.ReLU": 0.0, "threshold(x,0,0)": 0.0,
    "hardtanh(x,0,inf)": 0.0, "leaky_relu(x,0)": 0.0, "where(x>0,x,0)": 0.0, "x*(x>0)": 0.0,
    "elu(x,0)": 0.0, "relu6@0": 0.0, "relu6@6": 0.0,
    "clamp(x,min=0)": 1.0, "clamp_min(x,0)": 1.0, "fmax(x,0)": 1.0,
    "maximum(x,0)": 0.5, "maximum(0,x)": 0.5, "(x+|x|)/2": 0.5,
}
ON_2_13_CPU = pytest.mark.skipif(not torch.__version__.startswith("2.13.0"),
                                 reason="THEOREMS.md pins these values for torch 2.13.0 CPU")


@pytest.fixture(scope="module")
def table():
    return {m.key(): m for m in measure()}


def test_every_spelling_of_theorems_md_is_audited():
    assert {s.name for s in SPELLINGS} == set(THEOREMS_MD)


@ON_2_13_CPU
@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
@pytest.mark.parametrize("mode", ["eager", "func.grad", "func.vjp"])
def test_measured_kink_derivatives_match_theorems_md(table, dtype, mode):
    for name, expected in THEOREMS_MD.items():
        m = table[(name, dtype, mode)]
        assert float(m.d_pos) == expected and float(m.d_neg) == expected, (name, m)
        assert m.conforming == (expected == 0.0), (name, m)


def test_conforming_means_zero_at_both_zeros(table):
    for m in table.values():
        assert m.conforming == (m.d_pos == "0.0" and m.d_neg == "0.0"), m


@ON_2_13_CPU
def test_forward_mode_of_fmax_disagrees_with_reverse_mode(table):
    """Reported by the audit: on torch 2.13 CPU, jvp of fmax(x, 0) at 0 is 0 while vjp is 1."""
    jvp, vjp = table[("fmax(x,0)", "float64", "func.jvp")], table[("fmax(x,0)", "float64", "func.vjp")]
    assert (jvp.d_pos, vjp.d_pos) == ("0.0", "1.0")


@ON_2_13_CPU
def test_shipped_pinned_table_matches_this_torch(capsys):
    assert main(["audit", "--expect", str(PINNED)]) == 0
    assert "no difference" in capsys.readouterr().out


def test_expect_fails_naming_a_flipped_value(tmp_path, capsys):
    pinned = tmp_path / "pinned.json"
    assert main(["audit", "--dtypes", "float32", "--modes", "eager", "--write-expect", str(pinned)]) == 0
    data = json.loads(pinned.read_text())
    row = next(r for r in data["rows"] if r["spelling"] == "relu")
    row["d_pos"] = "1.0"
    pinned.write_text(json.dumps(data))
    capsys.readouterr()
    assert main(["audit", "--dtypes", "float32", "--modes", "eager", "--expect", str(pinned)]) == 1
    out = capsys.readouterr().out
    assert "DIFF relu [float32, eager]: d_pos pinned '1.0', measured '0.0'" in out


def test_json_and_markdown_outputs(tmp_path, capsys):
    js, md = tmp_path / "a.json", tmp_path / "a.md"
    assert main(["audit", "--dtypes", "float64", "--json", str(js), "--md", str(md)]) == 0
    data = json.loads(js.read_text())
    assert data["torch"] == torch.__version__ and data["device"] == "cpu"
    assert len(data["rows"]) == len(SPELLINGS) * len(MODES)
    assert "| `clamp(x,min=0)` | float64 | 1.0 !" in md.read_text()
    out = capsys.readouterr().out
    assert "not conforming somewhere:" in out and "clamp(x,min=0)" in out
