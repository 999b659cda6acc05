"""Pose data: the COCO keypoint layout, SynthPose (synthetic people in that layout)."""
