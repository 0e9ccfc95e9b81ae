"""IP-Basic and nearest-neighbour fill: behaviour on simple scenes, protocol, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from nlspn_ros.completion import Completion
from nlspn_ros.completion.ip_basic import IPBasicCompleter, NearestCompleter, fill_in_fast, nearest_fill


def _sample(depth: np.ndarray, density: float, seed: int = 0) -> np.ndarray:
    mask = np.random.default_rng(seed).random(depth.shape) < density
    return np.where(mask, depth, 0).astype(np.float32)


def test_constant_plane_is_recovered_everywhere():
    gt = np.full((60, 120), 12.5, np.float32)
    out = fill_in_fast(_sample(gt, 0.05))
    assert out.shape == gt.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, 12.5, atol=1e-3)


def test_near_object_wins_at_a_depth_edge():
    # A near box (5 m) in front of a far wall (40 m): inversion makes the near side dilate over gaps.
    gt = np.full((80, 160), 40.0, np.float32)
    gt[20:60, 50:110] = 5.0
    out = fill_in_fast(_sample(gt, 0.06, seed=1))
    inside = out[25:55, 55:105]
    outside = out[:, :40]
    assert np.median(np.abs(inside - 5.0)) < 0.05
    assert np.median(np.abs(outside - 40.0)) < 0.05
    # Good on a step edge: most pixels are within 10% of the truth.
    assert np.mean(np.abs(out - gt) / gt < 0.1) > 0.9


def test_extrapolation_fills_to_the_top_only_when_asked():
    gt = np.full((100, 64), 20.0, np.float32)
    sparse = _sample(gt, 0.05)
    sparse[:50] = 0  # no LiDAR returns in the upper half, as above the top beam
    assert (fill_in_fast(sparse, extrapolate=True)[:50] > 0).all()
    assert (fill_in_fast(sparse, extrapolate=False)[:30] == 0).all()


def test_far_measurements_are_clipped_to_max_depth():
    sparse = np.zeros((40, 40), np.float32)
    sparse[::3, ::3] = 150.0
    out = fill_in_fast(sparse, max_depth=100.0)
    assert out.max() <= 100.0 + 1e-4


def test_empty_input_gives_empty_output():
    out = fill_in_fast(np.zeros((30, 50), np.float32))
    assert (out == 0).all()
    assert (nearest_fill(np.zeros((30, 50), np.float32)) == 0).all()


def test_nearest_fill_keeps_measurements_and_takes_the_nearest():
    sparse = np.zeros((7, 9), np.float32)
    sparse[1, 2], sparse[5, 7], sparse[6, 0] = 5.0, 10.0, 3.0
    out = nearest_fill(sparse)
    assert out[1, 2] == 5.0 and out[5, 7] == 10.0 and out[6, 0] == 3.0
    assert out[0, 0] == 5.0 and out[6, 8] == 10.0 and out[6, 1] == 3.0
    ys, xs = np.mgrid[:7, :9]
    points = np.array([[1, 2], [5, 7], [6, 0]])
    dist = (ys[..., None] - points[:, 0]) ** 2 + (xs[..., None] - points[:, 1]) ** 2
    expected = np.array([5.0, 10.0, 3.0])[dist.argmin(-1)]
    ties = np.sort(dist, -1)[..., 0] == np.sort(dist, -1)[..., 1]
    np.testing.assert_array_equal(out[~ties], expected[~ties])


@pytest.mark.parametrize("completer", [IPBasicCompleter(), NearestCompleter()])
def test_completer_protocol(completer):
    rgb = np.zeros((32, 48, 3), np.uint8)
    result = completer.complete(rgb, _sample(np.full((32, 48), 7.0, np.float32), 0.1))
    assert isinstance(result, Completion)
    assert result.confidence is None
    assert result.depth.shape == (32, 48) and result.depth.dtype == np.float32
    assert set(result.timings_ms) == {completer.name}
    assert completer.device == "cpu"


def test_bad_input_is_rejected_clearly():
    completer = IPBasicCompleter()
    with pytest.raises(ValueError, match="sizes differ"):
        completer.complete(np.zeros((10, 10, 3), np.uint8), np.zeros((10, 11), np.float32))
    with pytest.raises(ValueError, match="NaN"):
        fill_in_fast(np.full((10, 10), np.nan, np.float32))
    with pytest.raises(ValueError, match="blur_type"):
        IPBasicCompleter(blur_type="box")
    with pytest.raises(ValueError, match="HxW"):
        nearest_fill(np.zeros((2, 3, 4), np.float32))
