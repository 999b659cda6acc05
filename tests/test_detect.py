"""rlelab.detect: MediaPipe's BlazePose as the app's person detector and reference pose model, offline."""
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rlelab import detect
from rlelab.tasks.coco import COCO_KEYPOINTS
from rlelab.tasks.coco import matched_oks, oks

ROOT = Path(__file__).resolve().parents[1]
REAL_COCO = ROOT.parent / "shared" / "data" / "real-samples" / "coco"
needs_mediapipe = pytest.mark.skipif(not detect.available(), reason="mediapipe is not installed (Python >= 3.13 has no wheel)")
needs_real = pytest.mark.skipif(not (REAL_COCO / "test_coco.json").exists(), reason="no real COCO samples in ../shared")


@needs_mediapipe
def test_the_17_landmarks_are_cocos_joints_by_name():
    import mediapipe as mp

    names = [mp.solutions.pose.PoseLandmark(i).name.lower() for i in detect.BLAZEPOSE_OF_COCO]
    assert names == list(COCO_KEYPOINTS)


def test_box_of_grows_the_landmarks_box_and_clips_it_to_the_picture():
    landmarks = np.array([[100.0, 50.0, 1.0], [200.0, 250.0, 0.2], [150.0, 100.0, 0.9]])
    assert detect.box_of(landmarks, 640, 480) == pytest.approx([90, 30, 120, 240])  # 10 % of 100 x 200 each side
    assert detect.box_of(landmarks, 205, 260) == pytest.approx([90, 30, 115, 230])  # clipped at the right and bottom
    assert detect.box_of(landmarks + [1000, 0, 0], 640, 480) is None  # nothing of it inside


def test_without_mediapipe_finding_people_is_one_sentence(monkeypatch):
    monkeypatch.setattr(detect, "available", lambda: False)
    with pytest.raises(RuntimeError, match=r"MediaPipe is not installed.*pip install -e \"\.\[app\]\".*drag a box"):
        detect.find_people(np.zeros((10, 10, 3), np.uint8))


def test_iou_of_two_boxes():
    assert detect.iou([0, 0, 10, 10], [5, 0, 10, 10]) == pytest.approx(50 / 150)
    assert detect.iou([0, 0, 10, 10], [20, 20, 5, 5]) == 0.0
    assert detect.iou([1, 2, 3, 4], [1, 2, 3, 4]) == 1.0


def test_matched_oks_takes_each_persons_best_match_and_zero_for_the_unmatched():
    truth = np.array([[10.0 * k, 20.0, 2] for k in range(17)])
    other = truth + [300, 0, 0]
    assert matched_oks([truth[:, :2] + 3, truth[:, :2]], [truth], [1000.0]) == [1.0]  # the exact one wins
    assert matched_oks([truth[:, :2]], [truth, other], [1000.0, 1000.0]) == pytest.approx([1.0, oks(truth, other, 1000.0)])
    assert matched_oks([], [truth], [1000.0]) == [0.0]


@needs_mediapipe
def test_a_blank_picture_has_nobody():
    assert detect.find_people(np.full((300, 400, 3), 128, np.uint8)) == []


@needs_mediapipe
@needs_real
def test_blazepose_finds_the_annotated_people_of_the_real_coco_photos():
    """Measured (benchmarks/real_photos.py): the skier of 785 found with box IoU 0.87 and OKS 0.91; on the five
    people of 197388, three found, each on a different annotated person (IoU 0.68-0.84). The bounds leave room
    for another CPU's arithmetic in TFLite, not for a wrong joint order, a wrong scale or a box in the wrong place."""
    data = json.loads((REAL_COCO / "test_coco.json").read_text())

    def people(image_id):
        image = np.asarray(Image.open(REAL_COCO / f"{image_id:012d}.jpg").convert("RGB"))
        return detect.find_people(image), [a for a in data["annotations"] if a["image_id"] == image_id and a["num_keypoints"] > 0]

    iou = detect.iou
    found, annotated = people(785)
    assert len(found) == 1 and found[0].keypoints.shape == (17, 3) and found[0].landmarks.shape == (33, 3)
    assert iou(found[0].box, annotated[0]["bbox"]) > 0.7
    assert oks(found[0].keypoints, annotated[0]["keypoints"], annotated[0]["area"]) > 0.75
    found, annotated = people(197388)
    assert len(found) >= 2
    best = [max(range(len(annotated)), key=lambda i: iou(p.box, annotated[i]["bbox"])) for p in found]
    assert len(set(best)) == len(found)  # each found person is another annotated one: the painting-over works
    assert all(iou(p.box, annotated[i]["bbox"]) > 0.5 for p, i in zip(found, best))
