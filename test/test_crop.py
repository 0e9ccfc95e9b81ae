"""The input crop: fixed (``top_left``) or placed in each image (``bottom_center``), and config/kitti.yaml
on every frame of the shared KITTI samples (two drives, two image sizes)."""
from __future__ import annotations

import numpy as np
import pytest

from nlspn_ros.data.sensor_frames import kitti_frames
from nlspn_ros.geometry import CameraModel
from nlspn_ros.paths import REPO_ROOT
from nlspn_ros.pipeline.frame import BadInput, crop_and_scale
from nlspn_ros.pipeline.param_files import settings_from_files
from nlspn_ros.pipeline.settings import NodeSettings


def camera(width: int, height: int) -> CameraModel:
    return CameraModel.pinhole(width, height, fx=500.0, fy=500.0, cx=width / 2, cy=height / 2)


@pytest.mark.parametrize("size", [(1242, 375), (1224, 370), (1216, 352)])
def test_bottom_center_crop_is_placed_in_each_image(size):
    width, height = size
    rgb = np.arange(height * width * 3, dtype=np.uint32).astype(np.uint8).reshape(height, width, 3)
    settings = NodeSettings.defaults().changed({"crop.anchor": "bottom_center", "crop.width": 1216,
                                                "crop.height": 352})
    cropped, model = crop_and_scale(rgb, camera(width, height), settings)
    x = (width - 1216) // 2
    np.testing.assert_array_equal(cropped, rgb[height - 352:, x:x + 1216])
    assert (model.width, model.height) == (1216, 352)
    assert model.k[0, 2] == pytest.approx(width / 2 - x)
    assert model.k[1, 2] == pytest.approx(height / 2 - (height - 352))


def test_bottom_center_crop_larger_than_the_image_is_bad_input_and_offsets_are_refused():
    settings = NodeSettings.defaults().changed({"crop.anchor": "bottom_center", "crop.width": 1216})
    with pytest.raises(BadInput, match="crop 1216x100 is larger than the 1000x100 image"):
        crop_and_scale(np.zeros((100, 1000, 3), np.uint8), camera(1000, 100), settings)
    with pytest.raises(ValueError, match="leave crop.x and crop.y 0"):
        NodeSettings.defaults().changed({"crop.anchor": "bottom_center", "crop.y": 23})


def test_kitti_config_crops_every_shared_frame_to_the_depth_completion_size(kitti_dir):
    settings = settings_from_files(REPO_ROOT / "config" / "kitti.yaml")
    frames = list(kitti_frames(kitti_dir))
    assert len({f.rgb.shape for f in frames}) == 2  # the samples come from two drives
    for frame in frames:
        rgb, model = crop_and_scale(frame.rgb, frame.camera, settings)  # frame 000000 was BadInput
        height, width = frame.rgb.shape[:2]
        x = (width - 1216) // 2
        np.testing.assert_array_equal(rgb, frame.rgb[height - 352:, x:x + 1216])
        assert (model.width, model.height) == (1216, 352)
