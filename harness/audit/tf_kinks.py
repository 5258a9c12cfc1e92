"""The framework audit (T1 (c)) for TensorFlow: derivative of every TF spelling of ReLU at its kink.

Same probes and verdict as ``kinkcheck.harness.audit.kinks``, measured with ``tf.GradientTape`` eagerly and inside
``tf.function``, per dtype. TensorFlow is optional: ``available()`` says why it is not there.
"""
from __future__ import annotations

import os

import torch

from kinkcheck.harness.audit.kinks import Measurement, Spelling, failed, from_values, probe_values

MODES = ("tf.GradientTape", "tf.function")
DTYPES = ("float16", "bfloat16", "float32", "float64")


def _import_tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # no banner on stderr
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # no retracing warnings: one trace per spelling and dtype is the point
    return tf


def available() -> tuple[bool, str]:
    """(True, "tensorflow 2.x") or (False, why it is skipped)."""
    try:
        tf = _import_tf()
    except Exception as exc:  # noqa: BLE001 - missing or broken: skipped with a clear line
        return False, f"tensorflow not installed ({type(exc).__name__}); pip install 'kinkcheck[tf]'"
    return True, f"tensorflow {tf.__version__}"


def spellings() -> tuple[Spelling, ...]:
    tf = _import_tf()

    def sp(name, fn, kink=0.0, left=0.0, right=1.0, **kw):
        return Spelling(name, fn, kink, left, right, framework="tf", **kw)

    return (
        sp("tf.nn.relu", tf.nn.relu),
        sp("tf.maximum(x,0)", lambda x: tf.maximum(x, tf.zeros_like(x))),
        sp("tf.maximum(0,x)", lambda x: tf.maximum(tf.zeros_like(x), x)),
        sp("tf.clip_by_value(x,0,inf)",
           lambda x: tf.clip_by_value(x, tf.zeros_like(x), tf.fill(tf.shape(x), tf.constant(float("inf"), x.dtype)))),
        sp("tf.where(x>0,x,0)", lambda x: tf.where(x > 0, x, tf.zeros_like(x))),
        sp("tf.nn.leaky_relu(x,0)", lambda x: tf.nn.leaky_relu(x, 0.0)),
        sp("tf.nn.relu6@0", tf.nn.relu6, 0.0, 0.0, 1.0, at_inf=(0.0, 0.0)),
        sp("tf.nn.relu6@6", tf.nn.relu6, 6.0, 1.0, 0.0, at_inf=(0.0, 0.0)),
    )


def _derivative(tf, fn, x):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(fn(x))
    return tape.gradient(y, x)


def measure(dtypes=DTYPES, modes=MODES, device="cpu") -> list[Measurement]:
    tf = _import_tf()
    import numpy as np

    rows = []
    for s in spellings():
        traced = tf.function(lambda x, fn=s.fn: _derivative(tf, fn, x))
        for dt in dtypes:
            tdtype = getattr(torch, dt)
            x = tf.cast(tf.constant(np.array(probe_values(s.kink, tdtype), dtype=np.float64)), getattr(tf, dt))
            for mode in modes:
                try:
                    with tf.device("/CPU:0"):
                        g = _derivative(tf, s.fn, x) if mode == "tf.GradientTape" else traced(x)
                    d = [float(v) for v in tf.cast(g, tf.float64).numpy()]
                except Exception as exc:  # noqa: BLE001 - reported in the table, never raised
                    rows.append(failed(s, dt, mode, "cpu", f"error: {type(exc).__name__}"))
                    continue
                rows.append(from_values(s, dt, mode, "cpu", d, tdtype))
    return rows


def version() -> str:
    return _import_tf().__version__
