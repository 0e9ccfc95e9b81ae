"""NLSPN model: faithfulness to the official code (golden outputs, direct port), config, shapes."""
from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch
from nlspn_golden_recipe import CASES, load_case, recipe_model

from benchmarks.reference_propagation import official_propagation
from nlspn_ros.model import NLSPNConfig, NLSPNModel
from nlspn_ros.model.propagation import NLSPNPropagation
from nlspn_ros.model.sampling import propagate

OUTPUTS = ("pred", "pred_init", "guidance", "offset", "aff", "confidence")


def rel_error(ours: torch.Tensor, ref: np.ndarray) -> float:
    return float(np.abs(ours.detach().numpy() - ref).max() / np.abs(ref).max())


@pytest.mark.parametrize("case", CASES)
def test_matches_official_golden_outputs(golden_dir, case):
    args, arrays = load_case(golden_dir, case)
    model = recipe_model(args)
    with torch.inference_mode():
        out = model(torch.from_numpy(arrays["rgb"]), torch.from_numpy(arrays["dep"]))
    assert out["pred"].shape == arrays["out_pred"].shape
    for name in OUTPUTS:
        ref = arrays.get(f"out_{name}")
        if ref is None:
            assert not args["conf_prop"] and out[name] is None
            continue
        assert out[name].shape == ref.shape, name
        tolerance = 1e-4 if name == "pred" else 1e-5
        assert rel_error(out[name], ref) <= tolerance, name
    assert len(out["pred_inter"]) == args["prop_time"]


@pytest.mark.parametrize("manifest_name, config", [
    ("resnet18_noconf_k3", NLSPNConfig(network="resnet18", conf_prop=False)),
    ("resnet34_conf_k3", NLSPNConfig(network="resnet34", conf_prop=True)),
])
def test_state_dict_matches_official_manifest(golden_dir, manifest_name, config):
    manifest = json.loads((golden_dir / "state_dict_manifest.json").read_text())[manifest_name]
    state = NLSPNModel(config).state_dict()
    assert {key: list(value.shape) for key, value in state.items()} == manifest


def _random_propagation(config: NLSPNConfig, seed: int) -> NLSPNPropagation:
    torch.manual_seed(seed)
    layer = NLSPNPropagation(config).double()
    num = layer.num
    with torch.no_grad():
        layer.conv_offset_aff.weight.normal_(0.0, 0.3)
        layer.conv_offset_aff.bias[: 2 * num].normal_(0.0, 1.5)  # offsets of a few pixels
        layer.conv_offset_aff.bias[2 * num:].normal_(0.5, 0.5)
    return layer


@pytest.mark.parametrize("affinity", ["AS", "ASS", "TC", "TGASS"])
@pytest.mark.parametrize("kernel", [3, 5])
@pytest.mark.parametrize("conf_prop, legacy", [(True, False), (True, True), (False, True)])
def test_propagation_matches_official_port(affinity, kernel, conf_prop, legacy):
    config = NLSPNConfig(network="resnet18", prop_time=5, prop_kernel=kernel, affinity=affinity,
                         conf_prop=conf_prop, preserve_input=True, legacy=legacy)
    layer = _random_propagation(config, seed=kernel * 7 + len(affinity))
    height, width = 11, 14
    guidance = torch.randn(2, layer.num, height, width, dtype=torch.float64, requires_grad=True)
    confidence = torch.rand(2, 1, height, width, dtype=torch.float64, requires_grad=True)
    feat_init = (10 * torch.rand(2, 1, height, width, dtype=torch.float64)).requires_grad_()
    feat_fix = torch.where(torch.rand(2, 1, height, width) < 0.2, 20.0, 0.0).double()
    inputs = (guidance, confidence, feat_init)

    ours = layer(feat_init, guidance, confidence, feat_fix)
    pred_ref, offset_ref, aff_ref = official_propagation(layer, feat_init, guidance, confidence, feat_fix)
    torch.testing.assert_close(ours["offset"], offset_ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(ours["aff"], aff_ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(ours["pred"], pred_ref, rtol=0, atol=1e-10)

    # Same gradients as the official code (training): w.r.t. inputs and the learned parameters.
    params = [p for p in (layer.conv_offset_aff.weight, layer.aff_scale_const) if p.requires_grad]
    weights = torch.randn_like(pred_ref)
    grads = torch.autograd.grad((ours["pred"] * weights).sum(), inputs + tuple(params), allow_unused=True)
    grads_ref = torch.autograd.grad((pred_ref * weights).sum(), inputs + tuple(params), allow_unused=True)
    for grad, grad_ref in zip(grads, grads_ref, strict=True):
        if grad_ref is None:
            assert grad is None or not grad.any()
        else:
            torch.testing.assert_close(grad, grad_ref, rtol=1e-9, atol=1e-9)


def test_inference_and_partial_gradients_match_the_training_path():
    """Inference (plans reuse per-thread scratch arrays) and a backward that needs only the depth
    gradient (no offset/affinity gradient state) give what the full training path gives."""
    config = NLSPNConfig(network="resnet18", prop_time=4, conf_prop=True, preserve_input=True)
    layer = _random_propagation(config, seed=3)
    height, width = 9, 13
    gen = torch.Generator().manual_seed(5)
    frames = [(torch.randn(2, layer.num, height, width, generator=gen, dtype=torch.float64),
               torch.rand(2, 1, height, width, generator=gen, dtype=torch.float64),
               10 * torch.rand(2, 1, height, width, generator=gen, dtype=torch.float64)) for _ in range(2)]
    feat_fix = torch.where(torch.rand(2, 1, height, width, generator=gen) < 0.2, 20.0, 0.0).double()

    full = []
    for guidance, confidence, feat in frames:
        guidance, feat = guidance.clone().requires_grad_(), feat.clone().requires_grad_()
        pred = layer(feat, guidance, confidence, feat_fix)["pred"]
        (grad_feat,) = torch.autograd.grad(pred.sum(), feat, retain_graph=True)
        full.append((pred.detach(), grad_feat))
    with torch.no_grad():  # frame A, frame B (same size: the scratch arrays are reused), frame A
        inferred = [layer(f, g, c, feat_fix)["pred"] for g, c, f in (frames[0], frames[1], frames[0])]
    for got, (want, _) in zip(inferred, (full[0], full[1], full[0]), strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    assert not torch.equal(inferred[0], inferred[1])

    layer.requires_grad_(False)  # the offsets and affinities need no gradient now
    for (guidance, confidence, feat), (_, grad_want) in zip(frames, full, strict=True):
        feat = feat.clone().requires_grad_()
        (grad_feat,) = torch.autograd.grad(layer(feat, guidance, confidence, feat_fix)["pred"].sum(), feat)
        torch.testing.assert_close(grad_feat, grad_want, rtol=1e-12, atol=1e-12)


def test_propagate_wants_keep_and_fixed_together():
    zeros = torch.zeros(1, 8, 4, 5)
    feat = torch.rand(1, 1, 4, 5)
    with pytest.raises(ValueError, match="keep and fixed"):
        propagate(zeros, zeros, zeros, torch.ones_like(feat), feat, 2, keep=torch.ones_like(feat))


def test_propagate_wants_an_even_number_of_taps():
    """The plan packs the columns of two taps in one int64 (k*k - 1 taps of an odd kernel)."""
    zeros = torch.zeros(1, 3, 4, 5)
    feat = torch.rand(1, 1, 4, 5)
    with pytest.raises(ValueError, match="even number of taps"):
        propagate(zeros, zeros, zeros, torch.ones_like(feat), feat, 2)


def test_non_finite_offsets_sample_outside_the_image():
    """NaN offsets (a CNN overflowing in fp16, a corrupt checkpoint) read zero, as DCNv2's bounds
    test does, instead of indexing memory anywhere (this segfaulted); +-inf are far offsets."""
    gen = torch.Generator().manual_seed(2)
    offset_y, offset_x = (torch.randn(2, 8, 12, 15, generator=gen, dtype=torch.float64) for _ in range(2))
    weight = torch.rand(2, 8, 12, 15, generator=gen, dtype=torch.float64) / 8
    feat = torch.rand(2, 1, 12, 15, generator=gen, dtype=torch.float64)
    bad_y, bad_x = offset_y.clone(), offset_x.clone()
    bad_y[0, 3, 4, 5] = bad_x[1, 6, 11, 0] = float("nan")
    bad_y[1, 0, 2, 2], bad_x[0, 7, 9, 14] = float("inf"), -float("inf")
    far_y, far_x = (bad.nan_to_num(nan=-1e6, posinf=1e6, neginf=-1e6) for bad in (bad_y, bad_x))
    weight.requires_grad_()
    got = propagate(bad_y, bad_x, weight, 1.0 - weight.sum(1, keepdim=True), feat, 4)
    want = propagate(far_y, far_x, weight, 1.0 - weight.sum(1, keepdim=True), feat, 4)
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    assert torch.isfinite(got).all()
    (grad,) = torch.autograd.grad(got.sum(), weight)
    assert torch.isfinite(grad).all()


def test_legacy_without_conf_prop_is_the_normal_sampling():
    normal = NLSPNConfig(network="resnet18", conf_prop=False, legacy=False, prop_time=3)
    layer = _random_propagation(normal, seed=1)
    guidance = torch.randn(1, 8, 9, 10, dtype=torch.float64)
    feat = torch.rand(1, 1, 9, 10, dtype=torch.float64)
    out_normal = layer(feat, guidance)["pred"]
    layer.legacy = True
    torch.testing.assert_close(layer(feat, guidance)["pred"], out_normal)


@pytest.mark.parametrize("height, width", [(1, 1), (5, 7), (33, 18), (16, 32)])
def test_any_input_size(height, width):
    model = NLSPNModel(NLSPNConfig.small(prop_time=2)).eval()
    with torch.inference_mode():
        out = model(torch.randn(2, 3, height, width), torch.rand(2, 1, height, width) * 50)
    k2 = model.config.prop_kernel ** 2
    assert out["pred"].shape == (2, 1, height, width)
    assert out["offset"].shape == (2, 2 * k2, height, width)
    assert out["aff"].shape == (2, k2, height, width)
    assert out["confidence"].shape == (2, 1, height, width)
    assert (out["pred"] >= 0).all() and torch.isfinite(out["pred"]).all()


def test_prop_time_changes_between_calls_without_rebuild():
    torch.manual_seed(0)
    model = NLSPNModel(NLSPNConfig.small(prop_time=6, preserve_input=False)).eval()
    rgb, dep = torch.randn(1, 3, 20, 24), torch.rand(1, 1, 20, 24) * 30
    with torch.inference_mode():
        six = model(rgb, dep)
        model.prop_time = 0
        zero = model(rgb, dep)
        model.prop_time = 6
        again = model(rgb, dep)
    assert model.config.prop_time == 6
    assert len(zero["pred_inter"]) == 0 and len(six["pred_inter"]) == 6
    torch.testing.assert_close(zero["pred"], zero["pred_init"].clamp(min=0))
    torch.testing.assert_close(again["pred"], six["pred"])
    torch.testing.assert_close(six["pred_inter"][-1].clamp(min=0), six["pred"])


def test_config_from_official_args_and_round_trip():
    args = argparse.Namespace(network="resnet18", prop_time=12, prop_kernel=5, affinity="TC",
                              affinity_gamma=0.3, conf_prop=False, preserve_input=True, legacy=False,
                              lr=0.001, max_depth=90.0)
    config = NLSPNConfig.from_official_args(args)
    summary = (config.network, config.prop_time, config.prop_kernel, config.affinity)
    assert summary == ("resnet18", 12, 5, "TC")
    assert config.blocks == (2, 2, 2, 2) and not config.conf_prop and config.preserve_input
    assert NLSPNConfig.from_official_args(vars(args)) == config
    assert NLSPNConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    # Checkpoints from before the legacy option were trained with the legacy behaviour.
    del args.legacy
    assert NLSPNConfig.from_official_args(args).legacy
    small = NLSPNConfig.small()
    assert NLSPNConfig.from_dict(small.to_dict()) == small


@pytest.mark.parametrize("bad", [dict(network="resnet50"), dict(affinity="XY"), dict(prop_kernel=4),
                                 dict(prop_time=-1)])
def test_config_rejects_invalid_options(bad):
    with pytest.raises(ValueError):
        NLSPNConfig(**bad)


def test_prefill_model_starts_from_the_ip_basic_fill_and_keeps_its_checkpoint(tmp_path):
    import numpy as np

    from nlspn_ros.completion.ip_basic import fill_in_fast, nearest_fill
    from nlspn_ros.model import load_checkpoint, save_checkpoint
    from nlspn_ros.model.prefill import prefill_depth

    config = NLSPNConfig.small(prefill="ip_basic", prop_time=2)
    torch.manual_seed(0)
    model = NLSPNModel(config).eval()
    dep = torch.zeros(2, 1, 40, 96)
    dep[:, :, 12::3, ::4] = torch.rand(2, 1, 10, 24) * 30 + 2
    rgb = torch.randn(2, 3, 40, 96)
    with torch.no_grad():
        out = model(rgb, dep)
    for index in range(2):  # the residual head starts at zero: the initial depth is IP-Basic's fill
        expected = fill_in_fast(dep[index, 0].numpy(), 100.0)
        np.testing.assert_allclose(out["pred_init"][index, 0].numpy(), expected, rtol=1e-6, atol=1e-5)
    assert model.conv1_dep[0].in_channels == 2
    # holes wider than IP-Basic's dilations take their nearest measurement, never a depth of 0
    sparse = np.zeros((40, 120), np.float32)
    sparse[30:, :40:3] = 5.0
    sparse[30:, 100::3] = 20.0
    filled = prefill_depth(sparse)
    ip_basic = fill_in_fast(sparse, 100.0)
    assert (ip_basic == 0).any() and (filled > 0).all()
    np.testing.assert_array_equal(filled[ip_basic > 0], ip_basic[ip_basic > 0])
    np.testing.assert_array_equal(filled[ip_basic == 0], nearest_fill(sparse)[ip_basic == 0])
    path = save_checkpoint(tmp_path / "prefill.pt", model, config)
    loaded, loaded_config = load_checkpoint(path)
    assert loaded_config.prefill == "ip_basic"
    with torch.no_grad():
        torch.testing.assert_close(loaded(rgb, dep)["pred"], out["pred"])
    with pytest.raises(ValueError, match="prefill"):
        NLSPNConfig(network="resnet34", prefill="ip_basic")
    with pytest.raises(ValueError, match="prefill"):
        NLSPNConfig.small(prefill="bilinear")
