"""The reference-conditioned crop model: slots, the reference table in the graph, synthesis."""

from __future__ import annotations

import numpy as np
import pytest

from agentarts.industries.rail import PACK
from agentarts.industries.rail.augment import corrupt, local_warp
from agentarts.industries.rail.generator import LAYOUTS, SLOTS, slot_key

MODEL = "rail_fault_classifier"


def test_every_layout_window_has_a_slot():
    assert len(SLOTS) == 192 and len(set(SLOTS)) == 192
    for vc, stations in LAYOUTS.items():
        for frames in stations.values():
            for comps in frames:
                assert all(slot_key(vc, c) in SLOTS for c in comps)


def test_the_graph_holds_the_reference_table():
    import onnx

    model = onnx.load(str(PACK.model_repository_dir() / MODEL / "1" / "model.onnx"))
    inits = {i.name: i for i in model.graph.initializer}
    table = inits["ref_mean_table"]
    assert list(table.dims) == [len(SLOTS), 1, 64, 64]
    assert table.data_type == onnx.TensorProto.FLOAT16
    assert any(n.op_type == "Gather" and "slot" in n.input for n in model.graph.node)
    inputs = {i.name: i.type.tensor_type.elem_type for i in model.graph.input}
    assert inputs == {"image": onnx.TensorProto.FLOAT, "slot": onnx.TensorProto.INT64}


@pytest.mark.parametrize("model", [MODEL, "rail_slot_reference"])
def test_both_models_range_check_the_slot(runtime, model):
    meta = runtime.model_metadata(model)
    slot_input = next(i for i in meta["inputs"] if i["name"] == "slot")
    assert slot_input["parameters"]["valid_range"] == [0, len(SLOTS) - 1]


def test_a_bad_slot_index_is_a_clear_error(runtime):
    from agentarts.runtime.engine.tensors import InvalidInputError

    meta = runtime.model_metadata(MODEL)
    slot_input = next(i for i in meta["inputs"] if i["name"] == "slot")
    assert slot_input["parameters"]["valid_range"] == [0, len(SLOTS) - 1]
    image = np.full((2, 1, 64, 64), 0.4, np.float32)
    ok = runtime.infer(MODEL, {"image": image, "slot": np.array([0, 191], np.int64)})
    assert np.allclose(ok.outputs["probs"].sum(1), 1, atol=1e-4)
    for bad in (192, -1, 10_000):
        with pytest.raises(InvalidInputError, match=r"'slot' value .* outside \[0, 191\]"):
            runtime.infer(MODEL, {"image": image, "slot": np.array([3, bad], np.int64)})
    with pytest.raises(InvalidInputError, match="'slot' must be INT64"):
        runtime.infer(MODEL, {"image": image, "slot": np.array([0.0, 1.0], np.float32)})


def test_onnxruntime_alone_refuses_an_out_of_range_slot():
    import onnxruntime as ort

    path = PACK.model_repository_dir() / MODEL / "1" / "model.onnx"
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    image = np.zeros((1, 1, 64, 64), np.float32)
    with pytest.raises(Exception, match=r"(?i)out of|bounds|indices"):
        session.run(None, {"image": image, "slot": np.array([len(SLOTS)], np.int64)})


def test_registration_undoes_a_frame_shift(runtime):
    """Windows cut with a margin and aligned to the templates of the lookup model: a frame
    shifted by (2, -3) px gives the same aligned crops."""
    from agentarts.industries.rail.generator import make_train
    from agentarts.industries.rail.refnet import align
    from agentarts.industries.rail.slots import padded_windows

    train = make_train(5, cars=1, fault_rate=0.0, kind="freight")
    car, frame = train.cars[0], train.cars[0].frames[0]
    slots = np.array([SLOTS.index(slot_key(car.vehicle_class, c)) for c in frame.components])
    table = np.zeros((len(SLOTS), 64, 64), np.float32)
    table[slots] = runtime.infer("rail_slot_reference", {"slot": slots}).outputs["reference"]
    frame_id = np.zeros(len(slots), np.int64)
    a = align(padded_windows(frame.image, len(slots)), slots, frame_id, table)
    shifted = np.roll(frame.image, (2, -3), axis=(0, 1))
    b = align(padded_windows(shifted, len(slots)), slots, frame_id, table)
    assert np.array_equal(a[:, 4:-4, 4:-4], b[:, 4:-4, 4:-4])


def test_the_slot_changes_the_verdict(runtime):
    """The same crops judged against their own slots' normal look and against other slots':
    the reference in the graph decides (measured on validation crops: 9 % of normal crops
    flagged with their own slot, 91 % with a random one)."""
    from agentarts.industries.rail.generator import make_train
    from agentarts.industries.rail.refnet import align
    from agentarts.industries.rail.slots import padded_windows

    train = make_train(5, cars=1, fault_rate=0.0, kind="freight")
    car = train.cars[0]
    xp, slots, ids = [], [], []
    for n, frame in enumerate(car.frames):
        xp.append(padded_windows(frame.image, len(frame.components)))
        slots += [SLOTS.index(slot_key(car.vehicle_class, c)) for c in frame.components]
        ids += [n] * len(frame.components)
    slots_a = np.array(slots)
    table = np.zeros((len(SLOTS), 64, 64), np.float32)
    used = np.unique(slots_a)
    table[used] = runtime.infer("rail_slot_reference", {"slot": used}).outputs["reference"]
    crops = align(np.concatenate(xp), slots_a, np.array(ids), table)
    image = (crops[:, None] / np.float32(255)).astype(np.float32)
    wrong = (slots_a + 97) % len(SLOTS)  # another vehicle class and component
    right_p = runtime.infer(MODEL, {"image": image, "slot": slots_a}).outputs["probs"][:, 0]
    wrong_p = runtime.infer(MODEL, {"image": image, "slot": wrong}).outputs["probs"][:, 0]
    assert np.median(right_p) > 0.8 and np.median(wrong_p) < 0.3


def test_local_warp_moves_one_region_only():
    rng = np.random.default_rng(3)
    img = np.zeros((64, 64), np.float32)
    img[:, ::4] = 1.0  # stripes show any displacement
    out = local_warp(img, rng)
    changed = np.abs(out - img) > 0.05
    assert changed.any() and changed.mean() < 0.5
    assert out.min() >= 0 and out.max() <= 1


def test_corrupt_makes_one_change_per_crop_of_every_family():
    rng = np.random.default_rng(0)
    x = np.random.default_rng(1).uniform(0.2, 0.6, (40, 64, 64)).astype(np.float32)
    out = corrupt(x, rng)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert (np.abs(out - x).reshape(40, -1).max(1) > 0.01).mean() > 0.9
