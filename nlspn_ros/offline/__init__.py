"""Offline tools (no ROS graph): evaluation of bags and frames, reports, training.

:mod:`.bag_evaluation` runs a bag through the node's pipeline (``nlspn_ros evaluate``),
:mod:`.bag_report` turns that into tables, JSON and panels (:mod:`.panels`), :mod:`.demo_report`
writes the demo's report; :mod:`.frame_evaluation` scores methods on frames with known targets
(synthetic scenes, KITTI with held-out LiDAR); :mod:`.training` and :mod:`.bag_dataset` train.
"""
