"""The framework audit (T1 (c)) for JAX: derivative of every JAX spelling of ReLU at its kink.

Same probes and verdict as ``kinkcheck.harness.audit.kinks`` (+-0, the neighbouring floats, +-inf, NaN; conforming
when the kink derivative is the flat side's slope 0), measured with ``jax.grad`` (vmapped),
``jax.jvp`` and ``jax.jit(jax.grad)``, per dtype (float64 with ``jax.enable_x64``). JAX is optional:
``available()`` says why it is not there, and nothing here raises when it is missing.
"""
from __future__ import annotations

import torch

from kinkcheck.harness.audit.kinks import Measurement, Spelling, failed, from_values, probe_values

MODES = ("jax.grad", "jax.jit(grad)")  # jax.jvp (in _derivative) gives the same values; left out for time
DTYPES = ("float16", "bfloat16", "float32", "float64")


def available() -> tuple[bool, str]:
    """(True, "jax 0.x.y") or (False, why it is skipped)."""
    try:
        import jax  # noqa: F401
        import jax.numpy  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - missing or broken: skipped with a clear line
        return False, f"jax not installed ({type(exc).__name__}: {exc}); pip install 'kinkcheck[jax]'"
    return True, f"jax {jax.__version__}"


def spellings() -> tuple[Spelling, ...]:
    import jax
    import jax.numpy as jnp

    def sp(name, fn, kink=0.0, left=0.0, right=1.0, **kw):
        return Spelling(name, fn, kink, left, right, framework="jax", **kw)

    return (
        sp("jax.nn.relu", jax.nn.relu),
        sp("jnp.maximum(x,0)", lambda x: jnp.maximum(x, 0)),
        sp("jnp.maximum(0,x)", lambda x: jnp.maximum(0, x)),
        sp("jnp.clip(x,0)", lambda x: jnp.clip(x, 0)),
        sp("jnp.where(x>0,x,0)", lambda x: jnp.where(x > 0, x, 0)),
        sp("jax.nn.leaky_relu(x,0)", lambda x: jax.nn.leaky_relu(x, 0.0)),
        sp("jax.nn.relu6@0", jax.nn.relu6, 0.0, 0.0, 1.0, at_inf=(0.0, 0.0)),
        sp("jax.nn.relu6@6", jax.nn.relu6, 6.0, 1.0, 0.0, at_inf=(0.0, 0.0)),
        sp("jax.nn.hard_tanh@-1", jax.nn.hard_tanh, -1.0, 0.0, 1.0, relative=True, at_inf=(0.0, 0.0)),
        sp("jax.nn.hard_tanh@1", jax.nn.hard_tanh, 1.0, 1.0, 0.0, relative=True, at_inf=(0.0, 0.0)),
    )


def _derivative(fn, x, mode: str):
    import jax

    if mode == "jax.grad":
        return jax.vmap(jax.grad(fn))(x)
    if mode == "jax.jvp":
        return jax.jvp(fn, (x,), (jax.numpy.ones_like(x),))[1]
    if mode == "jax.jit(grad)":
        return jax.jit(jax.vmap(jax.grad(fn)))(x)
    raise ValueError(f"unknown mode {mode!r}")


def measure(dtypes=DTYPES, modes=MODES, device="cpu") -> list[Measurement]:
    """Every JAX spelling x dtype x mode on JAX's default CPU backend."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    rows = []
    with jax.enable_x64(True):
        for s in spellings():
            for dt in dtypes:
                tdtype = getattr(torch, dt)
                values = probe_values(s.kink, tdtype)  # the neighbours are those of this dtype
                x = jnp.asarray(np.array(values, dtype=np.float64)).astype(getattr(jnp, dt))
                for mode in modes:
                    try:
                        d = [float(v) for v in np.asarray(_derivative(s.fn, x, mode).astype(jnp.float64))]
                    except Exception as exc:  # noqa: BLE001 - reported in the table, never raised
                        rows.append(failed(s, dt, mode, "cpu", f"error: {type(exc).__name__}"))
                        continue
                    rows.append(from_values(s, dt, mode, "cpu", d, tdtype))
    return rows


def version() -> str:
    import jax

    return jax.__version__


__all__ = ["MODES", "available", "measure", "spellings", "version"]
