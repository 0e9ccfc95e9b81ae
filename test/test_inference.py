"""NLSPNCompleter: normalization, outputs, clamp, settings and input validation."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from nlspn_ros import paths
from nlspn_ros.completion import Completion
from nlspn_ros.completion.nlspn import IMAGENET_MEAN, IMAGENET_STD, NLSPNCompleter
from nlspn_ros.model import CheckpointError, NLSPNConfig, NLSPNModel, save_checkpoint

H, W = 24, 40


@pytest.fixture(scope="module")
def model() -> NLSPNModel:
    torch.manual_seed(0)
    net = NLSPNModel(NLSPNConfig.small(prop_time=3))
    with torch.no_grad():  # bias the initial depth so the outputs are positive and non-trivial
        net.id_dec0[0].bias.fill_(5.0)
    return net.eval()


@pytest.fixture()
def frame() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    sparse = np.zeros((H, W), np.float32)
    sparse[rng.random((H, W)) < 0.1] = 12.5
    return rgb, sparse


def test_complete_matches_model_on_normalized_inputs(model, frame):
    rgb, sparse = frame
    completer = NLSPNCompleter.from_model(model, device="cpu")
    result = completer.complete(rgb, sparse)
    assert isinstance(result, Completion)
    assert result.depth.shape == (H, W) and result.depth.dtype == np.float32
    assert result.confidence.shape == (H, W) and 0 <= result.confidence.min() <= result.confidence.max() <= 1
    assert {"preprocess", "model", "postprocess", "total"} <= set(result.timings_ms)

    mean, std = np.array(IMAGENET_MEAN), np.array(IMAGENET_STD)
    normalized = ((rgb / 255.0 - mean) / std).astype(np.float32).transpose(2, 0, 1)[None]
    with torch.inference_mode():
        expected = model(torch.from_numpy(normalized), torch.from_numpy(sparse)[None, None])
    np.testing.assert_allclose(result.depth, expected["pred"][0, 0].numpy(), rtol=1e-5, atol=1e-5)
    assert completer.name == "nlspn" and completer.device == "cpu"
    assert all(p.grad is None for p in model.parameters())


def test_max_depth_clamp_and_prop_time(model, frame):
    rgb, sparse = frame
    completer = NLSPNCompleter.from_model(model, device="cpu", max_depth=6.0)
    depth = completer.complete(rgb, sparse).depth
    assert depth.max() <= 6.0 and (depth == 6.0).any()
    free = NLSPNCompleter.from_model(model, device="cpu").complete(rgb, sparse).depth
    np.testing.assert_array_equal(depth, np.minimum(free, 6.0))

    completer.prop_time = 0
    assert completer.config.prop_time == 0 and model.prop_time == 0
    assert not np.array_equal(completer.complete(rgb, sparse).depth, depth)
    completer.prop_time = 3


def test_invalid_sparse_values_are_empty_and_bad_frames_rejected(model, frame):
    rgb, sparse = frame
    completer = NLSPNCompleter.from_model(model, device="cpu")
    dirty = sparse.copy()
    dirty[0, :3] = [np.nan, np.inf, -4.0]
    clean = sparse.copy()
    clean[0, :3] = 0.0
    np.testing.assert_array_equal(completer.complete(rgb, dirty).depth, completer.complete(rgb, clean).depth)
    with pytest.raises(ValueError, match="uint8"):
        completer.complete(rgb.astype(np.float32), sparse)
    with pytest.raises(ValueError, match="HxW"):
        completer.complete(rgb, sparse[:-1])
    with pytest.raises(ValueError, match="HxWx3"):
        completer.complete(rgb[..., 0], sparse)


def test_settings_validation(model):
    with pytest.raises(ValueError, match="precision"):
        NLSPNCompleter.from_model(model, device="cpu", precision="int8")
    with pytest.raises(ValueError, match="fp16 needs a CUDA"):
        NLSPNCompleter.from_model(model, device="cpu", precision="fp16")
    with pytest.raises(ValueError, match="max_depth"):
        NLSPNCompleter.from_model(model, device="cpu", max_depth=0.0)
    with pytest.raises(ValueError, match="does not describe"):
        NLSPNCompleter.from_model(model, NLSPNConfig(), device="cpu")
    auto = NLSPNCompleter.from_model(model, device="auto")
    assert auto.device.startswith("cuda") == torch.cuda.is_available()
    model.to("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised when CUDA is missing")
def test_cuda_without_gpu_is_a_clear_error(model):
    with pytest.raises(ValueError, match="CUDA is not available"):
        NLSPNCompleter.from_model(model, device="cuda")


def test_bf16_on_cpu_keeps_propagation_in_float32(model, frame):
    rgb, sparse = frame
    fp32 = NLSPNCompleter.from_model(model, device="cpu").complete(rgb, sparse).depth
    bf16 = NLSPNCompleter.from_model(model, device="cpu", precision="bf16").complete(rgb, sparse).depth
    assert bf16.dtype == np.float32
    np.testing.assert_allclose(bf16, fp32, rtol=0.1, atol=0.5)


def test_loads_checkpoint_file_and_default(tmp_path, model, frame):
    rgb, sparse = frame
    path = save_checkpoint(tmp_path / "small.pt", model, model.config)
    completer = NLSPNCompleter(path, device="cpu")
    assert completer.checkpoint == path and completer.warm_up(16, 20) > 0
    expected = NLSPNCompleter.from_model(model, device="cpu").complete(rgb, sparse).depth
    np.testing.assert_array_equal(completer.complete(rgb, sparse).depth, expected)

    if paths.DEFAULT_CHECKPOINT.exists():
        assert NLSPNCompleter(None, device="cpu").checkpoint == paths.DEFAULT_CHECKPOINT
    else:  # not shipped yet: a clear error naming the file
        with pytest.raises(CheckpointError, match="default.pt: file not found"):
            NLSPNCompleter(None, device="cpu")


def test_release_drops_the_model_and_later_frames_fail_clearly(tmp_path, model, frame):
    """A released completer (node cleanup) no longer holds the weights: the model object is freed once
    nothing else refers to it, and a later frame is a clear error, not an AttributeError on None."""
    import gc
    import weakref

    path = save_checkpoint(tmp_path / "small.pt", model, model.config)
    completer = NLSPNCompleter(path, device="cpu")
    completer.complete(*frame)
    loaded = weakref.ref(completer.model)
    completer.release()
    gc.collect()
    assert completer.model is None and loaded() is None
    with pytest.raises(RuntimeError, match="released"):
        completer.complete(*frame)
