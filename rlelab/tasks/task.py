"""What a task is: the joints of its data set (``Layout``: names, skeleton, flip pairs, the halves of the body
for half-body augmentation) and everything else that differs between the pose problems one trainer learns
(``Task``: the output dimension D, where its files are, its data set, its metric, the way back to the image).
Each task is one file beside this one (``coco.py``, ``mpii.py``, ``h36m.py``, ``oct.py``) that ends with its ``TASK``.
"""
from dataclasses import dataclass
from typing import Callable

from ..crop import to_image_coordinates


@dataclass(frozen=True)
class Layout:
    """The joints of one data set, 0-based."""
    name: str
    keypoints: tuple  # joint names, in the data set's order
    skeleton: tuple  # pairs of joints drawn as limbs
    flip_pairs: tuple  # (left, right) pairs swapped by a horizontal flip
    upper_body: tuple  # half-body augmentation: the joints of each half
    lower_body: tuple
    flip_negates: tuple = (0,)  # the coordinates a horizontal flip negates: x (none for an OCT boundary's row)

    @property
    def num_joints(self):
        return len(self.keypoints)


@dataclass(frozen=True)
class Task:
    name: str
    layout: Layout  # the joints
    dim: int  # D: coordinates per joint the regression head predicts (K x 2D outputs: mu_hat and sigma_hat)
    paths: Callable  # (root, split) -> (annotation file, image folder)
    dataset: Callable  # (annotation file, image folder, TopDownConfig, detections, seed) -> a TopDown dataset
    score: Callable  # (finite results, dataset) -> dict of metrics
    metric: str  # the metric best.pt is chosen by
    metrics: tuple  # the metrics the trainer records each evaluation
    input_size: tuple  # (height, width): the paper's input for this data set (and the released models')
    photos: str  # its pictures, as a caption names them ("COCO train2017")
    samples: str = "people"  # what one sample is, counted ("scans" for OCT)
    higher_is_better: bool = True
    to_original: Callable = to_image_coordinates  # (crop joints in [-0.5, 0.5], crop_to_image, input size) -> original
    mix: Callable = None  # (training set, TrainConfig, TopDownConfig) -> it with other people added (Human3.6M's 2-D)

    def better(self, value, best):
        """Whether ``value`` of the metric beats ``best`` (None: nothing yet)."""
        return best is None or (value > best if self.higher_is_better else value < best)

    def training_set(self, cfg, data_config):
        """(the training split of ``cfg.data``, augmented per ``data_config``, with the people ``mix`` adds; its
        annotation file)."""
        ann_file, image_dir = self.paths(cfg.data, cfg.train_split)
        dataset = self.dataset(ann_file, image_dir, data_config, seed=cfg.seed)
        return (self.mix(dataset, cfg, data_config) if self.mix else dataset), ann_file
