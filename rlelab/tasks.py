"""A task is what differs between the pose problems one trainer learns: the data set and its batches, the
joints (names, flip pairs, skeleton), the output dimension D, the metric (and whether higher is better), and
how a prediction goes back to the original coordinates (Human3.6M: D = 3, u, v and the depth). ``TASKS`` names
them for configs (``task: mpii``); the trainer, ``evaluate`` and ``predict`` take a ``Task``.
"""
from dataclasses import dataclass
from typing import Callable

from .data.coco import TopDownCOCO, coco_paths, to_image_coordinates
from .data.h36m import TopDownH36M, h36m_paths, to_image_uvd
from .data.keypoints import COCO as COCO_LAYOUT
from .data.keypoints import H36M as H36M_LAYOUT
from .data.keypoints import MPII as MPII_LAYOUT
from .data.keypoints import Layout
from .data.mpii import TopDownMPII, mpii_paths
from .evaluate import coco_scores, h36m_scores, mpii_scores


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
    higher_is_better: bool = True
    to_original: Callable = to_image_coordinates  # (crop joints in [-0.5, 0.5], crop_to_image, input size) -> original

    def better(self, value, best):
        """Whether ``value`` of the metric beats ``best`` (None: nothing yet)."""
        return best is None or (value > best if self.higher_is_better else value < best)


COCO = Task("coco", COCO_LAYOUT, dim=2, paths=coco_paths, dataset=TopDownCOCO, score=coco_scores, metric="AP",
            metrics=("AP", "AP50", "AP75", "APM", "APL", "pearson"))
MPII = Task("mpii", MPII_LAYOUT, dim=2, paths=mpii_paths, dataset=TopDownMPII, score=mpii_scores, metric="PCKh",
            metrics=("PCKh", "PCKh@0.1", "AUC", "pearson"))
H36M = Task("h36m", H36M_LAYOUT, dim=3, paths=h36m_paths, dataset=TopDownH36M, score=h36m_scores, metric="MPJPE",
            metrics=("MPJPE", "PA-MPJPE", "pearson"), higher_is_better=False, to_original=to_image_uvd)
TASKS = {task.name: task for task in (COCO, MPII, H36M)}
