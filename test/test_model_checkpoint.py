"""Checkpoints: project format round trip, official format, and refusal of bad files."""
from __future__ import annotations

import argparse
import os
import pickle
import zipfile

import pytest
import torch

from nlspn_ros.model import CheckpointError, NLSPNConfig, NLSPNModel, load_checkpoint, save_checkpoint


def _randomized(model: NLSPNModel, seed: int = 0) -> NLSPNModel:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.copy_(torch.rand(tensor.shape, generator=generator) * 0.2 + 0.9)
    return model.eval()


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_project_checkpoint_round_trip(tmp_path):
    config = NLSPNConfig.small(prop_time=4)
    model = _randomized(NLSPNModel(config))
    path = save_checkpoint(tmp_path / "m.pt", model, config, meta={"trained_on": "synthetic", "epochs": 3})

    raw = torch.load(path, weights_only=True)  # plain types and tensors only
    assert raw["format"] == "nlspn_ros" and raw["version"] == 1
    assert raw["config"] == config.to_dict() and raw["meta"] == {"trained_on": "synthetic", "epochs": 3}

    loaded, loaded_config = load_checkpoint(path)
    assert loaded_config == config and not loaded.training
    assert _same_weights(loaded, model)
    rgb, dep = torch.randn(1, 3, 12, 20), torch.rand(1, 1, 12, 20) * 10
    with torch.inference_mode():
        torch.testing.assert_close(loaded(rgb, dep)["pred"], model(rgb, dep)["pred"])


@pytest.mark.parametrize("prefix", ["", "module."])
def test_official_checkpoint_with_namespace_args(tmp_path, prefix):
    # As the official main.py saves it: {'net': state_dict, 'args': argparse.Namespace}.
    args = argparse.Namespace(network="resnet18", prop_time=6, prop_kernel=3, affinity="TGASS",
                              affinity_gamma=0.5, conf_prop=True, preserve_input=False, legacy=False,
                              from_scratch=False, lr=0.001, betas=(0.9, 0.999), gpus="0,1,2,3",
                              max_depth=90.0, save_dir="../experiments/x")
    official = _randomized(NLSPNModel(NLSPNConfig.from_official_args(args)), seed=3)
    path = tmp_path / "NLSPN_official.pt"
    torch.save({"net": {prefix + k: v for k, v in official.state_dict().items()}, "args": args}, path)
    with pytest.raises(Exception, match="(?i)weights only"):
        torch.load(path)  # torch >= 2.6 refuses the Namespace by default; our loader allows it

    model, config = load_checkpoint(path, overrides={"preserve_input": True, "legacy": True})
    assert (config.network, config.prop_time, config.conf_prop) == ("resnet18", 6, True)
    assert config.preserve_input and config.legacy
    assert _same_weights(model, official) and not model.training


class _Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_and_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    _Exploit.marker = marker
    path = tmp_path / "evil.pt"
    torch.save({"net": {}, "args": _Exploit()}, path)
    with pytest.raises(CheckpointError, match="evil.pt.*refused"):
        load_checkpoint(path)
    assert not marker.exists()
    raw_pickle = tmp_path / "evil.pkl"  # a bare (non-zip) pickle
    raw_pickle.write_bytes(pickle.dumps(_Exploit(), protocol=2))
    with pytest.raises(CheckpointError, match="evil.pkl.*refused"):
        load_checkpoint(raw_pickle)
    assert not marker.exists()


def test_missing_truncated_and_foreign_files(tmp_path):
    with pytest.raises(CheckpointError, match="nothing.pt: file not found"):
        load_checkpoint(tmp_path / "nothing.pt")

    good = save_checkpoint(tmp_path / "good.pt", NLSPNModel(NLSPNConfig.small()))
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated.pt: not a loadable checkpoint"):
        load_checkpoint(truncated)

    text = tmp_path / "notes.pt"
    text.write_text("this is not a checkpoint\n")
    with pytest.raises(CheckpointError, match="notes.pt"):
        load_checkpoint(text)

    other = tmp_path / "other.pt"
    torch.save({"model_state": {"w": torch.zeros(2)}}, other)
    with pytest.raises(CheckpointError, match="other.pt: neither an nlspn_ros checkpoint nor an official"):
        load_checkpoint(other)

    not_dict = tmp_path / "list.pt"
    torch.save([torch.zeros(1)], not_dict)
    with pytest.raises(CheckpointError, match="list.pt: expected a dict"):
        load_checkpoint(not_dict)

    empty_zip = tmp_path / "empty.pt"
    with zipfile.ZipFile(empty_zip, "w"):
        pass
    with pytest.raises(CheckpointError, match="empty.pt"):
        load_checkpoint(empty_zip)


def test_weights_of_another_network_are_rejected(tmp_path):
    small = NLSPNModel(NLSPNConfig.small())
    path = tmp_path / "mismatch.pt"
    args = argparse.Namespace(network="resnet18", conf_prop=True)
    torch.save({"net": small.state_dict(), "args": args}, path)
    with pytest.raises(CheckpointError, match="mismatch.pt: weights do not match the resnet18"):
        load_checkpoint(path)
    bad_config = tmp_path / "badconfig.pt"
    payload = {"format": "nlspn_ros", "version": 1, "config": {"network": "vgg"}, "state_dict": {}}
    torch.save(payload, bad_config)
    with pytest.raises(CheckpointError, match="badconfig.pt: invalid configuration"):
        load_checkpoint(bad_config)
