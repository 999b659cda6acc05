"""Find the people on a photo, offline: MediaPipe's BlazePose, a real pose model whose weights ship inside the
mediapipe wheel (0.10.14, installed with the app's extra on Python <= 3.12; nothing is downloaded).

The app uses it twice: as the person detector of an upload (each found person's box goes to rlelab's top-down
model) and as a reference on the Compare page (a model trained on real photos, beside the models trained here).
BlazePose finds one person per call and gives 33 landmarks, 17 of which are COCO's joints (``BLAZEPOSE_OF_COCO``);
``find_people`` finds several by calling it again with each person found painted over, so it finds the people
BlazePose's own detector sees one at a time (on the real COCO samples: 7 of the 12 annotated people, docs/results/real-photos.md).
"""
import importlib
import threading
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torchvision.ops import box_convert, box_iou

from .tasks.coco import LAYOUT  # the joints of Person.keypoints

# BlazePose's landmark index of each COCO joint (COCO_KEYPOINTS' order): nose, eyes, ears, shoulders, elbows,
# wrists, hips, knees, ankles; its other 16 are the eyes' corners, the mouth, hands and feet.
BLAZEPOSE_OF_COCO = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
MARGIN = 0.1  # the landmarks are joint centres: the box grows by this share of its size on each side
INSTALL = ("MediaPipe is not installed, so the app cannot find people by itself: `pip install -e \".[app]\"` "
           "installs it on Python 3.10-3.12 (mediapipe 0.10.14 has no wheel for 3.13); drag a box instead.")


@dataclass
class Person:
    box: list  # [x, y, w, h] in the picture's pixels, clipped to it
    keypoints: np.ndarray  # (17, 3): x, y in pixels, BlazePose's visibility in [0, 1]; COCO's joint order
    landmarks: np.ndarray  # (33, 3): all of BlazePose's landmarks, same columns


def available():
    """Whether MediaPipe imports here."""
    try:
        importlib.import_module("mediapipe")
    except ImportError:
        return False
    return True


_lock = threading.Lock()  # one BlazePose graph, not safe to call from two threads (Streamlit's sessions) at once
_pose = None


def _estimator():
    global _pose
    if _pose is None:
        import mediapipe as mp

        _pose = mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1, min_detection_confidence=0.5)
    return _pose


def box_of(landmarks, width, height, margin=MARGIN):
    """The person box [x, y, w, h] around ``landmarks`` (N, 2+) in pixels, grown by ``margin`` of its size on each
    side and clipped to the picture; None when nothing of it is inside."""
    lo, hi = landmarks[:, :2].min(0), landmarks[:, :2].max(0)
    pad = margin * (hi - lo)
    x0, y0 = np.maximum(lo - pad, 0)
    x1, y1 = np.minimum(hi + pad, (width, height))
    if x1 - x0 < 1 or y1 - y0 < 1:
        return None
    return [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]


def iou(a, b):
    """Intersection over union of two person boxes [x, y, w, h] (torchvision's ``box_iou``)."""
    boxes = box_convert(torch.tensor([a, b], dtype=torch.float64), "xywh", "xyxy")
    return box_iou(boxes[:1], boxes[1:]).item()


def find_people(image, max_people=6):
    """The people BlazePose finds on ``image`` (H, W, 3 uint8 RGB), most prominent first, at most ``max_people``."""
    if not available():
        raise RuntimeError(INSTALL)
    image = np.ascontiguousarray(image[..., :3], dtype=np.uint8)
    height, width = image.shape[:2]
    work, fill = image.copy(), image.reshape(-1, 3).mean(0).astype(np.uint8)
    people = []
    with _lock:
        for _ in range(max_people):
            with warnings.catch_warnings():  # mediapipe 0.10.14 calls a protobuf function protobuf 4.25 deprecates
                warnings.filterwarnings("ignore", message="SymbolDatabase.GetPrototype", category=UserWarning)
                found = _estimator().process(work).pose_landmarks
            if found is None:
                break
            landmarks = np.array([[p.x * width, p.y * height, p.visibility] for p in found.landmark])
            box = box_of(landmarks, width, height)
            if box is None:
                break
            people.append(Person(box, landmarks[list(BLAZEPOSE_OF_COCO)], landmarks))
            x, y, w, h = (int(round(v)) for v in box)
            work[y:y + h, x:x + w] = fill  # hide this person: the next call finds another
    return people
