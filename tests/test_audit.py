"""Self-tests of ``kinkcheck audit`` (T1 (c)): the measured table, the pinned file, ``--expect``."""
import json
from pathlib import Path

import pytest
import torch

import kinkcheck
from kinkcheck.harness.audit import jax_kinks as kinks_jax
from kinkcheck.harness.audit import tf_kinks as kinks_tf
from kinkcheck.harness.audit.kinks import ALL_SPELLINGS, MODES, RELATIVES, SPELLINGS, measure
from kinkcheck.harness.audit.command import collect, differences
from kinkcheck.cli import main

CONVENTIONS = Path(kinkcheck.__file__).parent / "conventions"
PINNED = CONVENTIONS / "torch-2.13.0-cpu.json"

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
    return {m.key()[1:4]: m for m in measure(device="cpu", positions=False)}


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
        if m.relative:
            assert m.conforming is None, m
        else:
            assert m.conforming == (m.d_pos == "0.0" and m.d_neg == "0.0"), m


@ON_2_13_CPU
def test_forward_mode_of_fmax_disagrees_with_reverse_mode(table):
    """Reported by the audit: on torch 2.13 CPU, jvp of fmax(x, 0) at 0 is 0 while vjp is 1."""
    jvp, vjp = table[("fmax(x,0)", "float64", "func.jvp")], table[("fmax(x,0)", "float64", "func.vjp")]
    assert (jvp.d_pos, vjp.d_pos) == ("0.0", "1.0")


@ON_2_13_CPU
def test_shipped_pinned_table_matches_this_torch(capsys):
    assert main(["audit", "--frameworks", "torch", "--device", "cpu", "--expect", str(PINNED)]) == 0
    assert "no difference" in capsys.readouterr().out


def test_expect_fails_naming_a_flipped_value(tmp_path, capsys):
    pinned = tmp_path / "pinned.json"
    assert main(["audit", "--dtypes", "float32", "--modes", "eager", "--frameworks", "torch", "--no-positions",
                 "--write-expect", str(pinned)]) == 0
    data = json.loads(pinned.read_text())
    row = next(r for r in data["rows"] if r["spelling"] == "relu")
    row["d_pos"] = "1.0"
    pinned.write_text(json.dumps(data))
    capsys.readouterr()
    assert main(["audit", "--dtypes", "float32", "--modes", "eager", "--frameworks", "torch", "--no-positions",
                 "--expect", str(pinned)]) == 1
    out = capsys.readouterr().out
    assert "DIFF relu [float32, eager]: d_pos pinned '1.0', measured '0.0'" in out


def test_json_and_markdown_outputs(tmp_path, capsys):
    js, md = tmp_path / "a.json", tmp_path / "a.md"
    assert main(["audit", "--dtypes", "float64", "--frameworks", "torch", "--device", "cpu", "--no-positions",
                 "--json", str(js), "--md", str(md)]) == 0
    data = json.loads(js.read_text())
    assert data["torch"] == torch.__version__ and data["device"] == "cpu"
    assert len(data["rows"]) == len(ALL_SPELLINGS) * len(MODES)
    assert "| `clamp(x,min=0)` | float64 | 1.0 !" in md.read_text()
    out = capsys.readouterr().out
    assert "not conforming somewhere:" in out and "clamp(x,min=0)" in out


# THEOREMS.md T1 (c) relatives, measured on torch 2.13.0 CPU: the side whose slope the kink derivative takes.
RELATIVE_SIDES = {"hardsigmoid@-3": "flat", "hardsigmoid@3": "flat", "hardswish@-3": "flat", "hardswish@3": "right",
                  "hardshrink@-0.5": "flat", "hardshrink@0.5": "flat", "softshrink@-0.5": "flat",
                  "softshrink@0.5": "flat"}


def test_relatives_are_reported_without_a_verdict(table):
    assert {s.name for s in RELATIVES} == set(RELATIVE_SIDES)
    for name in RELATIVE_SIDES:
        m = table[(name, "float64", "eager")]
        assert m.relative and m.conforming is None and m.side in ("flat", "left", "right", "mean", "other"), m


@ON_2_13_CPU
def test_relative_sides_on_2_13(table):
    for name, side in RELATIVE_SIDES.items():
        for dt in ("float16", "bfloat16", "float32", "float64"):
            assert table[(name, dt, "eager")].side == side, (name, dt, table[(name, dt, "eager")])


def test_subnormal_and_infinite_probes_give_the_one_sided_slopes_for_relu(table):
    """+-smallest subnormal: 1 and 0 (torch does not flush subnormals on CPU); +-inf: 1 and 0."""
    for dt in ("float16", "bfloat16", "float32", "float64"):
        m = table[("relu", dt, "eager")]
        assert (m.d_up, m.d_down, m.d_pinf, m.d_ninf) == ("1.0", "0.0", "1.0", "0.0"), m
        assert m.notes == "", m


@ON_2_13_CPU
def test_hardtanh_at_plus_inf_is_reported(table):
    """hardtanh(x, 0, inf) passes the gradient only where x < max = inf: derivative 0 at +inf."""
    m = table[("hardtanh(x,0,inf)", "float64", "eager")]
    assert m.conforming and m.d_pinf == "0.0" and "+inf" in m.notes


def test_torchscript_mode_is_measured_or_skipped_with_a_reason(table):
    for s in ALL_SPELLINGS:
        m = table[(s.name, "float32", "jit.script")]
        assert m.status == "ok" or m.status.startswith("skipped: does not script"), m


def test_a_spelling_that_does_not_script_is_skipped_not_failed():
    from kinkcheck.harness.audit.kinks import Spelling, measure_one

    def not_scriptable(x):  # no annotations and a Python closure over a lambda: TorchScript refuses
        return (lambda t: torch.relu(t))(x)

    m = measure_one(Spelling("lambda-relu", not_scriptable), "float32", "jit.script")
    assert m.status.startswith("skipped: does not script") and m.conforming is None, m


def test_position_sweep_reports_every_spelling_stable_on_cpu():
    rows = measure(SPELLINGS[:3] + RELATIVES[:1], ("float32",), ("eager",), "cpu")
    assert all(m.positions == "stable" for m in rows), [m.positions for m in rows]


def test_position_sweep_detects_a_position_dependent_derivative():
    """Mutation: a spelling whose backward at 0 depends on the index (tail elements get 1) is reported."""
    from kinkcheck.harness.audit.kinks import Spelling, position_dependence

    class TailBug(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return torch.relu(x)

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            d = (x > 0).to(g.dtype)
            tail = x.numel() - x.numel() % 8
            d[tail:] = (x[tail:] >= 0).to(g.dtype)  # the "scalar tail" uses >=
            return g * d

    text = position_dependence(Spelling("tail-bug", TailBug.apply), "float32")
    assert text.startswith("varies"), text  # the 4-element reference is all tail (1.0); body entries give 0.0


def test_cuda_column_when_present():
    rows, header = collect(("torch",), ("float32",), ("eager",), positions=False)
    assert {m.device for m in rows} == ({"cpu", "cuda"} if torch.cuda.is_available() else {"cpu"})


def test_missing_framework_is_skipped_with_a_clear_line(monkeypatch, capsys):
    monkeypatch.setattr(kinks_jax, "available", lambda: (False, "jax not installed (test)"))
    monkeypatch.setattr(kinks_tf, "available", lambda: (False, "tensorflow not installed (test)"))
    assert main(["audit", "--dtypes", "float32", "--modes", "eager", "--device", "cpu", "--no-positions"]) == 0
    out = capsys.readouterr().out
    assert "skipped: jax not installed (test)" in out and "skipped: tensorflow not installed (test)" in out


def test_cpu_only_pin_ignores_cuda_and_other_framework_rows():
    rows, _ = collect(("torch",), ("float32",), ("eager",), ["cpu"], positions=False)
    pinned = {"rows": [m.as_dict() for m in rows]}
    extra = [type(rows[0])(**{**rows[0].as_dict(), "device": "cuda"}),
             type(rows[0])(**{**rows[0].as_dict(), "framework": "jax"})]
    assert differences(pinned, rows + extra) == []


@pytest.mark.parametrize("name,adapter", [("jax", kinks_jax), ("tf", kinks_tf)])
def test_optional_framework_matches_its_pinned_table(name, adapter):
    ok, text = adapter.available()
    if not ok:
        pytest.skip(text)
    pinned_file = CONVENTIONS / f"{name}-{adapter.version()}-cpu.json"
    if not pinned_file.exists():
        pytest.skip(f"no pinned table for {text}")
    rows, _ = collect((name,), ("float16", "bfloat16", "float32", "float64"))
    assert differences(json.loads(pinned_file.read_text()), rows) == []


# THEOREMS.md T1 (c), optional frameworks: derivative at the kink.
OPTIONAL_EXPECTED = {"jax.nn.relu": 0.0, "jnp.maximum(x,0)": 0.5, "jax.nn.leaky_relu(x,0)": 1.0,
                     "tf.nn.relu": 0.0, "tf.maximum(x,0)": 1.0, "tf.maximum(0,x)": 0.0}


@pytest.mark.parametrize("name,adapter", [("jax", kinks_jax), ("tf", kinks_tf)])
def test_optional_framework_values_of_theorems_md(name, adapter):
    ok, text = adapter.available()
    if not ok:
        pytest.skip(text)
    rows = adapter.measure(("float32",))
    got = {m.spelling: float(m.d_pos) for m in rows if m.spelling in OPTIONAL_EXPECTED}
    assert got and all(OPTIONAL_EXPECTED[k] == v for k, v in got.items()), got
