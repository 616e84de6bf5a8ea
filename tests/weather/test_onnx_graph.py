"""The shipped emulator graph: it computes the network of its kept weights (checked against
an FFT implementation in float64), it is what the export command writes, and it uses standard
ONNX operators only. No torch needed."""

from __future__ import annotations

from pathlib import Path

import numpy as np

SHIPPED = (
    Path(__import__("agentarts.industries.weather", fromlist=["x"]).__file__).parent
    / "models"
    / "qg_emulator"
    / "1"
)


def reference_day(w: dict, x: np.ndarray) -> np.ndarray:
    """One 24 h call of the emulator in float64 numpy with FFTs, straight from the kept
    arrays (``net.Net.rollout``: Lawson-AB3 substeps, the nonlinear part on the full grid)."""
    from agentarts.industries.weather.net import SUBSTEPS, physics_operators

    psi_q = physics_operators(x.shape[-1])["psi_q"]
    e, s = (np.asarray(w[k], np.complex128) for k in ("e", "s"))
    conv_w, conv_b = np.asarray(w["conv_w"], float), np.asarray(w["conv_b"], float)
    out_w = np.asarray(w["out_w"], float)[:, :, 0, 0]
    pairs = conv_w.shape[0] // 2

    def modes(m, v):
        return (m[None] * v[:, None]).sum(axis=2)

    def nonlinear(xh):
        fields = np.fft.ifft2(modes(psi_q, xh)).real  # psi1, psi2, q1, q2
        feats = np.broadcast_to(
            conv_b[None, :, None, None], (len(xh), *conv_b.shape, *xh.shape[-2:])
        )
        feats = feats.copy()
        for dy in range(5):
            for dx in range(5):  # cross-correlation with periodic padding
                shifted = np.roll(fields, (2 - dy, 2 - dx), axis=(-2, -1))
                feats += np.moveaxis(np.tensordot(conv_w[:, :, dy, dx], shifted, (1, 1)), 0, 1)
        prod = feats[:, :pairs] * feats[:, pairs:]
        return modes(s, np.fft.fft2(np.moveaxis(np.tensordot(out_w, prod, (1, 1)), 0, 1)))

    xh = np.fft.fft2(x.astype(np.float64))
    h1 = h2 = None
    for _ in range(SUBSTEPS):
        nl = nonlinear(xh)
        if h1 is None:
            y = xh + nl
        elif h2 is None:
            y = xh + 1.5 * nl - 0.5 * h1
        else:
            y = xh + (23.0 * nl - 16.0 * h1 + 5.0 * h2) / 12.0
        h2 = None if h1 is None else modes(e, h1)
        h1 = modes(e, nl)
        xh = modes(e, y)
    return np.fft.ifft2(xh).real


def test_shipped_graph_computes_the_network_of_its_kept_weights(equilibrated):
    """The shipped ONNX equals a float64 FFT implementation of the network from
    ``weights.npz`` (what ``python -m agentarts.industries.weather.onnx_export`` rebuilds
    it from) to 1e-5 of the field's magnitude, over one call and over five chained calls."""
    from agentarts.industries.weather.emulator import OnnxStepper
    from agentarts.industries.weather.onnx_export import load_weights

    w = load_weights(SHIPPED / "weights.npz")
    x = np.stack([equilibrated, np.roll(equilibrated, 7, axis=-2)])
    stepper = OnnxStepper(SHIPPED / "model.onnx")
    got = stepper.step(x)
    expected = reference_day(w, x)
    assert np.abs(got - expected).max() < 1e-5 * np.abs(expected).max()
    state = x.astype(np.float64)
    for _ in range(5):
        state = reference_day(w, state)
    five = stepper.rollout(x, 5)[-1]
    assert np.abs(five - state).max() < 1e-4 * np.abs(state).max()


def test_shipped_graph_is_what_the_export_command_writes(tmp_path):
    """Rebuilt from the kept weights the graph has the same nodes and initializers; only
    standard ONNX operators (opset 17, no contrib domain) and no denormal constants (they
    make x86 CPUs many times slower)."""
    import onnx
    from onnx import numpy_helper

    from agentarts.industries.weather.onnx_export import export_weights, load_weights

    rebuilt = export_weights(load_weights(SHIPPED / "weights.npz"), tmp_path / "model.onnx")
    shipped = onnx.load(str(SHIPPED / "model.onnx"))
    assert [n.op_type for n in rebuilt.graph.node] == [n.op_type for n in shipped.graph.node]
    assert len(shipped.graph.node) < 200
    ops = {n.op_type for n in shipped.graph.node}
    assert ops <= {"MatMul", "Mul", "ReduceSum", "Reshape", "Concat", "Split", "Conv"}
    assert {n.domain for n in shipped.graph.node} == {""}
    assert [(o.domain, o.version) for o in shipped.opset_import] == [("", 17)]
    for a, b in zip(rebuilt.graph.initializer, shipped.graph.initializer, strict=True):
        va, vb = numpy_helper.to_array(a), numpy_helper.to_array(b)
        assert a.name == b.name and np.allclose(va, vb, rtol=1e-6, atol=0)
        if vb.dtype == np.float32:
            assert not ((np.abs(vb) < np.finfo(np.float32).tiny) & (vb != 0)).any(), b.name
