"""Measuring the derivative every spelling of ReLU returns at its kink (T1 (c), the framework audit).

[GM] Lemma 4.11 fixes the convention the theorems use: ReLU'(x) = 1_{x>0}, so ReLU'(0) = 0 -- the
derivative at a kink is the slope of the *flat* side. For each spelling, dtype, device and
execution mode this module measures the derivative

- at the kink approached as +0.0 and as -0.0 (``d_pos``, ``d_neg``; one value for a kink k != 0),
- at the neighbouring floats ``nextafter(k, +-inf)`` (``d_up``, ``d_down``; +-the smallest
  subnormal for k = 0), which must give the one-sided slopes,
- at +-inf (``d_pinf``, ``d_ninf``) and at NaN (``d_nan``, NaN gating: does the backward pass the
  incoming gradient through a NaN input?),

and marks a ReLU spelling *conforming* when both kink derivatives equal the slope of the flat
side (0). Deviations at the neighbours and infinities are reported in ``notes`` (they do not
change the verdict, which is about the convention at the kink).

*Relatives* (hardsigmoid and hardswish at +-3, hardshrink and softshrink at +-lambda, lambda = 0.5)
are not spellings of ReLU: the papers fix no convention for them, so they have no conforming
verdict (``conforming`` is None). For them the audit reports which side's slope the kink
derivative takes (``side``: flat, left, right, mean or other).

Position: ``position_dependence`` places the kink value at indices 0, 7, 15, 31 (and the last) of
tensors of length 1, 8, 33 and 1000 -- the vectorised body and the scalar tail of the kernels --
and reports any spelling whose derivative there differs from the short-tensor measurement.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable, Optional

import torch
import torch.nn.functional as F

DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32, "float64": torch.float64}
MODES = ("eager", "func.grad", "func.vjp", "func.jvp", "jit.script")
COMPILE_MODE = "compile"
SHRINK = 0.5  # lambda of hardshrink/softshrink
LENGTHS = (1, 8, 33, 1000)
INDICES = (0, 7, 15, 31)


@dataclass(frozen=True)
class Spelling:
    name: str
    fn: Callable
    kink: float = 0.0
    left: float = 0.0  # slope just left of the kink
    right: float = 1.0  # slope just right of the kink
    relative: bool = False  # a ReLU relative: no conforming verdict, the side is reported
    framework: str = "torch"
    script: Optional[Callable] = None  # what torch.jit.script gets (default: fn)
    at_inf: tuple = (1.0, 0.0)  # slopes at +inf and -inf
    linear_near: bool = True  # the slope is constant on each side near the kink (not hardswish)

    @property
    def flat(self) -> Optional[float]:
        """The slope of the flat side (the convention's value at the kink), if a side is flat."""
        return 0.0 if 0.0 in (self.left, self.right) else None


# Every spelling is a module-level function with annotations, so that torch.jit.script can read it.
def relu(x: torch.Tensor) -> torch.Tensor:
    return torch.relu(x)


def relu_inplace(x: torch.Tensor) -> torch.Tensor:
    return torch.relu_(x.clone())


def f_relu(x: torch.Tensor) -> torch.Tensor:
    return F.relu(x)


def threshold(x: torch.Tensor) -> torch.Tensor:
    return F.threshold(x, 0.0, 0.0)


def clamp(x: torch.Tensor) -> torch.Tensor:
    return torch.clamp(x, min=0.0)


def clamp_min(x: torch.Tensor) -> torch.Tensor:
    return torch.clamp_min(x, 0.0)


def maximum_x0(x: torch.Tensor) -> torch.Tensor:
    return torch.maximum(x, torch.zeros_like(x))


def maximum_0x(x: torch.Tensor) -> torch.Tensor:
    return torch.maximum(torch.zeros_like(x), x)


def fmax(x: torch.Tensor) -> torch.Tensor:
    return torch.fmax(x, torch.zeros_like(x))


def where(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x > 0, x, torch.zeros_like(x))


def abs_mean(x: torch.Tensor) -> torch.Tensor:
    return (x + x.abs()) / 2


def times_indicator(x: torch.Tensor) -> torch.Tensor:
    return x * (x > 0)


def leaky0(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.0)


def elu0(x: torch.Tensor) -> torch.Tensor:
    return F.elu(x, alpha=0.0)


def hardtanh0inf(x: torch.Tensor) -> torch.Tensor:
    return F.hardtanh(x, 0.0, float("inf"))


def relu6(x: torch.Tensor) -> torch.Tensor:
    return F.relu6(x)


def hardsigmoid(x: torch.Tensor) -> torch.Tensor:
    return F.hardsigmoid(x)


def hardswish(x: torch.Tensor) -> torch.Tensor:
    return F.hardswish(x)


def hardshrink(x: torch.Tensor) -> torch.Tensor:
    return F.hardshrink(x, 0.5)


def softshrink(x: torch.Tensor) -> torch.Tensor:
    return F.softshrink(x, 0.5)


_NN_RELU = torch.nn.ReLU()

SPELLINGS: tuple[Spelling, ...] = (
    Spelling("relu", relu),
    Spelling("relu_", relu_inplace),
    Spelling("F.relu", f_relu),
    Spelling("nn.ReLU", _NN_RELU),
    Spelling("threshold(x,0,0)", threshold),
    Spelling("clamp(x,min=0)", clamp),
    Spelling("clamp_min(x,0)", clamp_min),
    Spelling("maximum(x,0)", maximum_x0),
    Spelling("maximum(0,x)", maximum_0x),
    Spelling("fmax(x,0)", fmax),
    Spelling("where(x>0,x,0)", where),
    Spelling("(x+|x|)/2", abs_mean),
    Spelling("x*(x>0)", times_indicator),
    Spelling("leaky_relu(x,0)", leaky0),
    Spelling("elu(x,0)", elu0),
    Spelling("hardtanh(x,0,inf)", hardtanh0inf),
    Spelling("relu6@0", relu6, 0.0, 0.0, 1.0, at_inf=(0.0, 0.0)),
    Spelling("relu6@6", relu6, 6.0, 1.0, 0.0, at_inf=(0.0, 0.0)),
)

RELATIVES: tuple[Spelling, ...] = (
    Spelling("hardsigmoid@-3", hardsigmoid, -3.0, 0.0, 1 / 6, relative=True, at_inf=(0.0, 0.0)),
    Spelling("hardsigmoid@3", hardsigmoid, 3.0, 1 / 6, 0.0, relative=True, at_inf=(0.0, 0.0)),
    Spelling("hardswish@-3", hardswish, -3.0, 0.0, -0.5, relative=True, linear_near=False),
    Spelling("hardswish@3", hardswish, 3.0, 1.5, 1.0, relative=True, linear_near=False),
    Spelling(f"hardshrink@-{SHRINK}", hardshrink, -SHRINK, 1.0, 0.0, relative=True, at_inf=(1.0, 1.0)),
    Spelling(f"hardshrink@{SHRINK}", hardshrink, SHRINK, 0.0, 1.0, relative=True, at_inf=(1.0, 1.0)),
    Spelling(f"softshrink@-{SHRINK}", softshrink, -SHRINK, 1.0, 0.0, relative=True, at_inf=(1.0, 1.0)),
    Spelling(f"softshrink@{SHRINK}", softshrink, SHRINK, 0.0, 1.0, relative=True, at_inf=(1.0, 1.0)),
)

ALL_SPELLINGS = SPELLINGS + RELATIVES

# The probes, in the order of ``_probe_values``: (field of Measurement, label in notes)
PROBES = (("d_pos", "+0"), ("d_neg", "-0"), ("d_up", "next up"), ("d_down", "next down"),
          ("d_pinf", "+inf"), ("d_ninf", "-inf"), ("d_nan", "NaN"))


@dataclass(frozen=True)
class Measurement:
    spelling: str
    kink: float
    dtype: str
    mode: str
    d_pos: str  # derivative at the kink reached as +0.0 (kink + 0.0 for a kink k != 0), as repr(float)
    d_neg: str  # ... as -0.0 (for a kink k != 0: k itself, there is one zero only)
    d_nan: str  # derivative at NaN input ("nan"/"1.0": the gradient passes; "0.0": gated)
    conforming: Optional[bool]  # ReLU spellings: kink derivative = flat slope (0); relatives: None
    d_up: str = ""  # at nextafter(kink, +inf): +smallest subnormal for the kink 0
    d_down: str = ""  # at nextafter(kink, -inf)
    d_pinf: str = ""
    d_ninf: str = ""
    side: str = ""  # flat | left | right | mean | other: the side whose slope the kink derivative is
    notes: str = ""  # deviations from the one-sided slopes at the neighbours and infinities
    positions: str = ""  # eager rows: "stable" or where the derivative depends on the position
    relative: bool = False
    device: str = "cpu"
    framework: str = "torch"

    def key(self) -> tuple[str, str, str, str, str]:
        return (self.framework, self.spelling, self.dtype, self.mode, self.device)

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def status(self) -> str:
        """ok | skipped: ... | error: ..."""
        return self.d_pos if self.d_pos.startswith(("error", "skipped")) else "ok"


def probe_values(kink: float, dtype: torch.dtype) -> list[float]:
    """+0, -0 (or the kink twice), the two neighbouring floats, +inf, -inf, NaN -- in ``dtype``."""
    k = torch.tensor([kink], dtype=dtype)
    up = float(torch.nextafter(k, torch.tensor([math.inf], dtype=dtype)))
    down = float(torch.nextafter(k, torch.tensor([-math.inf], dtype=dtype)))
    return [kink + 0.0, -0.0 if kink == 0 else kink, up, down, math.inf, -math.inf, math.nan]


def expected_slopes(s: Spelling) -> list[Optional[float]]:
    """What the one-sided slopes predict at each probe (None: no prediction, e.g. the kink itself)."""
    near = (s.right, s.left) if s.linear_near else (None, None)
    return [None, None, *near, *s.at_inf, None]


def _close(value: float, slope: float, dtype: torch.dtype) -> bool:
    if slope == 0.0:
        return value == 0.0
    return math.isclose(value, slope, rel_tol=4 * torch.finfo(dtype).eps)


def classify_side(s: Spelling, d: float, dtype: torch.dtype) -> str:
    sides = []
    if s.flat is not None and d == s.flat:
        return "flat"
    for name, slope in (("left", s.left), ("right", s.right), ("mean", (s.left + s.right) / 2)):
        if _close(d, slope, dtype):
            sides.append(name)
    return sides[0] if sides else "other"


def _scripted(s: Spelling):
    cache = _SCRIPT_CACHE
    if s.fn not in cache:
        try:
            cache[s.fn] = torch.jit.script(s.script or s.fn)
        except Exception as exc:  # noqa: BLE001 - any failure to script is reported, not raised
            cache[s.fn] = exc
    return cache[s.fn]


_SCRIPT_CACHE: dict = {}


class DoesNotScript(Exception):
    pass


def derivative(s: Spelling, x: torch.Tensor, mode: str) -> torch.Tensor:
    """Elementwise derivative of the elementwise ``s.fn`` at every entry of ``x``."""
    fn = s.fn
    if mode == COMPILE_MODE:
        return elementwise_derivative(torch.compile(fn, backend="inductor", dynamic=False), x, "eager")
    if mode == "jit.script":
        fn = _scripted(s)
        if isinstance(fn, Exception):
            raise DoesNotScript(f"{type(fn).__name__}: {str(fn).splitlines()[0][:100]}")
        # TorchScript's profiling executor specialises on the third call: measure that one
        for _ in range(2):
            elementwise_derivative(fn, x, "eager")
        return elementwise_derivative(fn, x, "eager")
    return elementwise_derivative(fn, x, mode)


def elementwise_derivative(fn, x: torch.Tensor, mode: str) -> torch.Tensor:
    """d fn / dx at every entry of ``x`` for an elementwise ``fn``, in one execution mode:
    eager autograd, ``torch.func.grad``, ``torch.func.vjp`` or ``torch.func.jvp``."""
    if mode == "eager":
        leaf = x.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(fn(leaf).sum(), leaf)
        return grad
    if mode == "func.grad":
        return torch.func.grad(lambda z: fn(z).sum())(x)
    if mode == "func.vjp":
        out, pullback = torch.func.vjp(fn, x)
        return pullback(torch.ones_like(out))[0]
    if mode == "func.jvp":
        return torch.func.jvp(fn, (x,), (torch.ones_like(x),))[1]
    raise ValueError(f"unknown mode {mode!r}")


def _text(value: float) -> str:
    return repr(float(value))


def failed(s: Spelling, dtype: str, mode: str, device: str, reason: str) -> Measurement:
    """A cell that could not be measured: errors count as not conforming, skips have no verdict."""
    skipped = reason.startswith("skipped")
    return Measurement(s.name, s.kink, dtype, mode, reason, reason, reason,
                       None if (skipped or s.relative) else False, relative=s.relative, device=str(device),
                       framework=s.framework)


def from_values(s: Spelling, dtype: str, mode: str, device, d: list[float], tdtype) -> Measurement:
    """The Measurement for derivatives ``d`` at ``probe_values`` (shared by every framework adapter)."""
    notes = []
    for (fieldname, label), value, slope in zip(PROBES, d, expected_slopes(s)):
        if slope is not None and not _close(value, slope, tdtype):
            notes.append(f"{label}: {_text(value)} (slope {slope:g})")
    conforming = None if s.relative else (d[0] == 0.0 and d[1] == 0.0)
    side = classify_side(s, d[0], tdtype) if d[0] == d[1] else f"{classify_side(s, d[0], tdtype)}/" \
                                                                f"{classify_side(s, d[1], tdtype)}"
    return Measurement(s.name, s.kink, dtype, mode, _text(d[0]), _text(d[1]), _text(d[6]), conforming,
                       d_up=_text(d[2]), d_down=_text(d[3]), d_pinf=_text(d[4]), d_ninf=_text(d[5]),
                       side=side, notes="; ".join(notes), relative=s.relative, device=str(device),
                       framework=s.framework)


def measure_one(s: Spelling, dtype: str, mode: str, device="cpu") -> Measurement:
    tdtype = DTYPES[dtype]
    x = torch.tensor(probe_values(s.kink, tdtype), dtype=tdtype, device=device)
    try:
        d = [float(v) for v in derivative(s, x, mode).to(torch.float64).cpu()]
    except DoesNotScript as exc:
        return failed(s, dtype, mode, device, f"skipped: does not script ({exc})")
    except Exception as exc:  # noqa: BLE001 - an op without this dtype/mode: reported, not conforming
        return failed(s, dtype, mode, device, f"error: {type(exc).__name__}")
    return from_values(s, dtype, mode, device, d, tdtype)


def position_dependence(s: Spelling, dtype: str, device="cpu") -> str:
    """Eager autograd: the derivative at +-0 (the kink) and at the two neighbouring floats, placed at
    indices 0, 7, 15, 31 and the last of tensors of length 1, 8, 33, 1000 (the other entries are
    kink +- 1.5, alternating). "stable" when every placement gives the short-tensor value."""
    tdtype = DTYPES[dtype]
    probes = probe_values(s.kink, tdtype)[:4]
    reference = [float(v) for v in derivative(s, torch.tensor(probes, dtype=tdtype, device=device), "eager")]
    varies = []
    for length in LENGTHS:
        base = torch.tensor([s.kink + (1.5 if i % 2 else -1.5) for i in range(length)], dtype=tdtype, device=device)
        for index in sorted({i for i in INDICES if i < length} | {length - 1}):
            for value, ref, label in zip(probes, reference, ("+0", "-0", "next up", "next down")):
                x = base.clone()
                x[index] = value
                got = float(derivative(s, x, "eager")[index])
                if got != ref and not (math.isnan(got) and math.isnan(ref)):
                    varies.append(f"{label} at [{index}] of {length}: {got!r}")
    return "stable" if not varies else "varies: " + "; ".join(varies[:6]) + (" ..." if len(varies) > 6 else "")


def measure(spellings=ALL_SPELLINGS, dtypes=tuple(DTYPES), modes=MODES, device="cpu",
            positions: bool = True) -> list[Measurement]:
    rows = []
    for s in spellings:
        for dt in dtypes:
            for mo in modes:
                m = measure_one(s, dt, mo, device)
                if positions and mo == "eager" and m.status == "ok":
                    m = Measurement(**{**m.as_dict(), "positions": position_dependence(s, dt, device)})
                rows.append(m)
    return rows


def devices() -> list[str]:
    """cpu, and cuda when present."""
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def stamp(device="cpu") -> dict:
    return {"torch": torch.__version__, "device": str(device)}
