"""The emulator network: its untrained form is the QG model, and the ONNX graph written node
by node computes what the torch module computes."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def scales(equilibrated):
    from agentarts.industries.weather.net import field_scales

    return field_scales(equilibrated[np.newaxis])


def test_untrained_network_steps_like_the_numerical_model(equilibrated, scales):
    """Before training, E, S and the Jacobian pairs are the QG operators: one day of the
    network stays close to one day of the 32 x 32 QG model (a plain network would not)."""
    from agentarts.industries.weather.data import ModelPair
    from agentarts.industries.weather.net import build_net

    net = build_net(d_scale=scales).eval()
    with torch.no_grad():
        day = net(torch.from_numpy(equilibrated[np.newaxis]))[0].numpy()
    reference = ModelPair().numerical_forecast(equilibrated.astype(np.float64), 1)[1]
    change = np.sqrt(np.mean((reference - equilibrated) ** 2))
    gap = np.sqrt(np.mean((day - reference) ** 2))
    assert gap < 0.25 * change, (gap, change)


def test_onnx_graph_matches_the_torch_module(tmp_path, equilibrated, scales):
    from agentarts.industries.weather.emulator import OnnxStepper
    from agentarts.industries.weather.net import build_net
    from agentarts.industries.weather.onnx_export import export_onnx

    torch.manual_seed(1)
    net = build_net(d_scale=scales).eval()
    with torch.no_grad():  # move every learned part off its initial value
        net.d_e.normal_(0, 1e-3)
        net.d_s.normal_(0, 1e-2)
        net.out.weight.normal_(0, 0.05)
        net.conv.weight.mul_(1.1)
    path = tmp_path / "qg_emulator" / "1" / "model.onnx"
    export_onnx(net, path)
    x = np.stack([equilibrated, np.roll(equilibrated, 5, axis=-1)])
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).numpy()
    got = OnnxStepper(path).step(x)
    assert np.abs(got - expected).max() < 1e-4 * np.abs(expected).max()
