"""The joints of each data set: names, skeleton, flip pairs, the halves of the body for half-body augmentation,
and COCO's per-keypoint OKS sigmas."""
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Layout:
    """The joints of one data set, 0-based."""
    name: str
    keypoints: tuple  # joint names, in the data set's order
    skeleton: tuple  # pairs of joints drawn as limbs
    flip_pairs: tuple  # (left, right) pairs swapped by a horizontal flip
    upper_body: tuple  # half-body augmentation: the joints of each half
    lower_body: tuple

    @property
    def num_joints(self):
        return len(self.keypoints)


COCO_KEYPOINTS = [
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
]
# 1-based, as in COCO's person category
COCO_SKELETON = [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7], [6, 8], [7, 9],
                 [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7]]
FLIP_PAIRS = [(1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)]
# the per-keypoint constants of COCO's OKS (cocoeval), so that noise can follow COCO's annotator spread
OKS_SIGMAS = np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89]) / 10.0
PERSON_CATEGORY = {"supercategory": "person", "id": 1, "name": "person",
                   "keypoints": COCO_KEYPOINTS, "skeleton": COCO_SKELETON}
COCO = Layout("coco", tuple(COCO_KEYPOINTS), tuple((a - 1, b - 1) for a, b in COCO_SKELETON), tuple(FLIP_PAIRS),
              upper_body=tuple(range(11)), lower_body=tuple(range(11, 17)))  # nose ... wrists; hips ... ankles

# MPII's 16 joints in the order of its annotations (and of mmpose's JSON form of them)
MPII_KEYPOINTS = [
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "pelvis", "thorax",
    "upper_neck", "head_top", "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow",
    "left_wrist",
]
MPII = Layout("mpii", tuple(MPII_KEYPOINTS),
              skeleton=((0, 1), (1, 2), (2, 6), (3, 6), (3, 4), (4, 5), (6, 7), (7, 8), (8, 9), (7, 12), (12, 11),
                        (11, 10), (7, 13), (13, 14), (14, 15)),
              flip_pairs=((0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13)),
              upper_body=(7, 8, 9, 10, 11, 12, 13, 14, 15), lower_body=(0, 1, 2, 3, 4, 5, 6))

# Human3.6M's 17 joints in the order of its annotations (3DMPPE's, mmpose's, the RLE code's); 0-based
H36M_KEYPOINTS = [
    "pelvis", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle", "spine", "thorax",
    "neck", "head", "left_shoulder", "left_elbow", "left_wrist", "right_shoulder", "right_elbow", "right_wrist",
]
H36M = Layout("h36m", tuple(H36M_KEYPOINTS),
              skeleton=((0, 1), (1, 2), (2, 3), (0, 4), (4, 5), (5, 6), (0, 7), (7, 8), (8, 9), (9, 10), (8, 11),
                        (11, 12), (12, 13), (8, 14), (14, 15), (15, 16)),
              flip_pairs=((4, 1), (5, 2), (6, 3), (11, 14), (12, 15), (13, 16)),
              upper_body=tuple(range(7, 17)), lower_body=tuple(range(7)))

# Human3.6M's joints from a 2-D layout's, for people with 2-D labels only mixed into 3-D training (the paper mixes
# MPII into Human3.6M): for each Human3.6M joint the source joints whose mean it is, () where the layout has none.
# By position: MPII's thorax (top of the sternum) is Human3.6M's thorax, its upper neck the neck, its head top the
# head; COCO's pelvis and thorax are the means of the hips and of the shoulders (the RLE code's thorax).
TO_H36M = {
    "mpii": ((6,), (2,), (1,), (0,), (3,), (4,), (5,), (), (7,), (8,), (9,), (13,), (14,), (15,), (12,), (11,), (10,)),
    "coco": ((11, 12), (12,), (14,), (16,), (11,), (13,), (15,), (), (5, 6), (), (), (5,), (7,), (9,), (6,), (8,), (10,)),
}
