"""Training and evaluation data: the synthetic scene generator and dataset readers (ROS-free)."""
