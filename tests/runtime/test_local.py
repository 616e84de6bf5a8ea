"""LocalRuntime: repository, validation, placement and out-of-memory, concurrency."""

from __future__ import annotations

import threading

import numpy as np
import onnxruntime as ort
import pytest

from agentarts.errors import (
    ConfigError,
    DeviceOutOfMemoryError,
    InvalidInputError,
    ModelError,
    NotFoundError,
)
from agentarts.runtime.devices.profiles import DeviceProfile, parse_devices
from agentarts.runtime.local import LocalRuntime
from agentarts.runtime.protocol import Runtime


def reference(repo, name, x, version="1"):
    session = ort.InferenceSession(
        str(repo / name / version / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    return session.run(None, {"x": x})[0]


def test_is_a_runtime(runtime):
    assert isinstance(runtime, Runtime)


def test_infer_matches_onnxruntime_and_reports_times(runtime, repo):
    x = np.random.default_rng(0).standard_normal((5, 64)).astype(np.float32)
    result = runtime.infer("mlp", {"x": x})
    np.testing.assert_allclose(result["y"], reference(repo, "mlp", x, "2"), rtol=1e-5)
    assert result.version == "2"  # latest by default
    assert result.device_time_us > 0 and result.host_time_us > 0
    assert result.batch_size == 5


def test_specific_version(runtime, repo):
    x = np.ones((1, 64), np.float32)
    result = runtime.infer("mlp", {"x": x}, version="1")
    np.testing.assert_allclose(result["y"], reference(repo, "mlp", x, "1"), rtol=1e-5)


def test_unknown_model_and_version(runtime):
    with pytest.raises(NotFoundError, match="unknown model 'nope'"):
        runtime.infer("nope", {})
    with pytest.raises(NotFoundError, match="no version '9'"):
        runtime.infer("mlp", {"x": np.ones((1, 64), np.float32)}, version="9")


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"z": np.ones((1, 64), np.float32)}, "do not match"),
        ({"x": np.ones((1, 63), np.float32)}, "has shape [1, 63]"),
        ({"x": np.ones((1, 64, 1), np.float32)}, "has shape"),
        ({"x": np.ones((1, 64), np.float64)}, "must be FP32, got FP64"),
        ({"x": np.ones((65, 64), np.float32)}, "batch of 65 rows"),
        ({"x": np.full((2, 64), np.nan, np.float32)}, "NaN or Inf at index [0, 0]"),
        ({"x": np.full((2, 64), np.inf, np.float32)}, "NaN or Inf"),
        ({"x": np.full((1, 64), 1e3, np.float32)}, "outside [-100.0, 100.0]"),
    ],
)
def test_bad_inputs_are_named(runtime, inputs, message):
    with pytest.raises(InvalidInputError) as info:
        runtime.infer("mlp", inputs)
    assert message in str(info.value)


def test_overflowing_but_finite_values_pass_the_nan_check(tmp_path):
    from agentarts.runtime.testing import make_mlp, write_model

    write_model(tmp_path, "m", make_mlp())
    rt = LocalRuntime([tmp_path])
    x = np.full((2, 64), 3e38, np.float32)  # the sum overflows to inf; every value is finite
    assert rt.infer("m", {"x": x})["y"].shape == (2, 8)


def test_clip_instead_of_reject(tmp_path):
    from agentarts.runtime.testing import make_mlp, write_model

    card = '[[inputs]]\nname = "x"\nvalid_range = [0.0, 1.0]\non_invalid = "clip"\n'
    write_model(tmp_path, "m", make_mlp(), card=card)
    rt = LocalRuntime([tmp_path])
    a = rt.infer("m", {"x": np.full((1, 64), 5.0, np.float32)})["y"]
    b = rt.infer("m", {"x": np.full((1, 64), 1.0, np.float32)})["y"]
    np.testing.assert_array_equal(a, b)


def test_fixed_batch_model(runtime):
    result = runtime.infer("fixed", {"x": np.ones((3, 4), np.float32)})
    assert result["y"].shape == (3, 2)
    with pytest.raises(InvalidInputError):
        runtime.infer("fixed", {"x": np.ones((2, 4), np.float32)})
    meta = runtime.model_metadata("fixed")
    assert meta["parameters"]["max_batch_size"] == 0


def test_corrupt_model_is_reported_and_others_serve(runtime):
    with pytest.raises(ModelError, match=r"broken/1: model\.onnx is not a valid ONNX model"):
        runtime.infer("broken", {"x": np.ones((1, 64), np.float32)})
    assert runtime.infer("matmul", {"x": np.ones((1, 256), np.float32)})["y"].shape == (1, 512)
    index = {(r["name"], r["version"]): r for r in runtime.list_models()}
    assert index[("broken", "1")]["state"] == "UNAVAILABLE"
    assert "not a valid ONNX model" in index[("broken", "1")]["reason"]
    assert index[("matmul", "1")]["state"] == "READY"


def test_card_naming_a_tensor_the_graph_lacks(tmp_path):
    from agentarts.runtime.testing import make_mlp, write_model

    write_model(tmp_path, "m", make_mlp(), card='[[inputs]]\nname = "nope"\n')
    rt = LocalRuntime([tmp_path])
    with pytest.raises(ModelError, match="card declares tensor 'nope'"):
        rt.load("m")


def test_metadata_carries_the_card(runtime):
    meta = runtime.model_metadata("mlp")
    assert meta["versions"] == ["1", "2"]
    assert meta["inputs"] == [
        {
            "name": "x",
            "datatype": "FP32",
            "shape": [-1, 64],
            "parameters": {"valid_range": [-100.0, 100.0]},
        }
    ]
    assert meta["parameters"]["preferred_batch_sizes"] == [16, 32, 64]
    assert meta["parameters"]["description"] == "test MLP"


def test_models_spread_over_cards_and_reserve_hbm(runtime):
    runtime.load("mlp")
    runtime.load("matmul")
    cards = runtime.devices_status()
    assert [len(c["models"]) for c in cards] == [1, 1]
    assert all(c["hbm_used_bytes"] > 0 for c in cards)


def test_out_of_memory_names_the_numbers(repo):
    tiny = DeviceProfile(
        "tiny",
        cube_cores=1,
        vector_cores=1,
        clock_ghz=1.0,
        hbm_bytes=200_000,
        hbm_bandwidth_tbs=0.1,
        l2_bytes=1024,
    )
    rt = LocalRuntime([repo], [tiny])
    with pytest.raises(DeviceOutOfMemoryError) as info:
        rt.load("matmul")
    message = str(info.value)
    # fp16 weights (256x512) + live activations at max batch 64 (x: 64x256, y: 64x512)
    need = (256 * 512 + 64 * 256 + 64 * 512) * 2
    assert message.startswith(f"cannot load matmul/1: needs {need / 1000:.2f} kB")
    assert "has 200.00 kB free of 200.00 kB" in message
    assert rt.list_models()  # the runtime still answers


def test_device_specs():
    assert [p.name for p in parse_devices("910B2x2,310P")] == ["910B2", "910B2", "310P"]
    for bad in ["", "H100", "910B2x0", "910B2xx2"]:
        with pytest.raises(ConfigError):
            parse_devices(bad)


def test_user_profile_file(tmp_path):
    from agentarts.runtime.devices.profiles import load_profiles

    path = tmp_path / "p.toml"
    path.write_text('[profiles.my910]\nbase = "910B2"\nhbm_bandwidth_tbs = 1.6\n')
    profile = load_profiles(path)["my910"]
    assert profile.hbm_bandwidth_tbs == 1.6 and profile.cube_cores == 24
    path.write_text('[profiles.x]\nbase = "910B2"\nwarp_drive = 1\n')
    with pytest.raises(ConfigError, match="unknown fields"):
        load_profiles(path)


def test_concurrent_callers_get_their_own_rows_and_are_batched(runtime, repo):
    rng = np.random.default_rng(1)
    rows = [
        rng.standard_normal((int(rng.integers(1, 4)), 64)).astype(np.float32) for _ in range(64)
    ]
    expected = [reference(repo, "mlp", x, "2") for x in rows]
    results: list = [None] * len(rows)
    barrier = threading.Barrier(len(rows))

    def call(i: int) -> None:
        barrier.wait()
        for _ in range(20):
            got = runtime.infer("mlp", {"x": rows[i]})
            np.testing.assert_allclose(got["y"], expected[i], rtol=1e-4, atol=1e-5)
        results[i] = got

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(rows))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert all(r is not None for r in results)
    stats = runtime.load("mlp").batcher.stats
    assert stats.request_success == 64 * 20
    assert stats.exec_count < stats.request_success / 2  # batching happened
    assert max(r.batch_size for r in results) > 1


def test_batching_off_runs_each_request_alone(repo):
    rt = LocalRuntime([repo], batching=False)
    rt.infer("mlp", {"x": np.ones((2, 64), np.float32)})
    stats = rt.load("mlp").batcher.stats
    assert stats.exec_count == stats.request_success == 1
    assert rt.model_metadata("mlp")["parameters"]["dynamic_batching"] is False


def test_compiled_validator_agrees_with_the_full_one(repo):
    import onnx

    from agentarts.runtime.engine.repository import load_card
    from agentarts.runtime.engine.tensors import InputValidator

    card = load_card("m", onnx.load(str(repo / "matmul" / "1" / "model.onnx")), None)
    full = InputValidator(card)
    fast = full.compiled()
    assert fast is not full  # one float input, batch dim dynamic, no range: compiled
    x = np.random.default_rng(0).standard_normal((3, 256)).astype(np.float32)
    (a, rows_a), (b, rows_b) = fast({"x": x}), full({"x": x})
    assert rows_a == rows_b == 3 and a["x"] is b["x"]
    for bad in (
        {"x": x.astype(np.float64)},
        {"x": x[:, :3]},
        {"y": x},
        {"x": np.full((1, 256), np.nan, np.float32)},
        {"x": np.zeros((0, 256), np.float32)},
    ):
        with pytest.raises(InvalidInputError) as fast_error:
            fast(bad)
        with pytest.raises(InvalidInputError) as full_error:
            full(bad)
        assert str(fast_error.value) == str(full_error.value)
    ranged = load_card(
        "mlp", onnx.load(str(repo / "mlp" / "1" / "model.onnx")), repo / "mlp" / "model.toml"
    )
    assert InputValidator(ranged).compiled().__class__ is InputValidator  # ranges: not compiled


def test_first_call_host_time_leaves_out_the_model_load(runtime, monkeypatch):
    """The first infer loads the model; its host time is the inference alone."""
    import time

    real_load = runtime._load

    def slow_load(*args, **kwargs):
        time.sleep(0.3)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(runtime, "_load", slow_load)
    result = runtime.infer("mlp", {"x": np.ones((1, 64), np.float32)})
    assert result.host_time_us < 250_000
