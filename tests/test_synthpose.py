"""SynthPose: determinism, COCO format (pycocotools), visibility vs occluders, the noise law actually added."""
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from rlelab.tasks.coco import COCO_KEYPOINTS
from rlelab.data.synthpose import SynthPoseConfig, generate


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    return Path(generate(str(tmp_path_factory.mktemp("sp") / "synthpose"), n_train=300, n_val=20, seed=7))


def digest(root):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes(tmp_path):
    a = digest(Path(generate(str(tmp_path / "a"), 12, 4, seed=3)))
    b = digest(Path(generate(str(tmp_path / "b"), 12, 4, seed=3)))
    c = digest(Path(generate(str(tmp_path / "c"), 12, 4, seed=4)))
    assert a == b and len(a) == 16 + 6
    assert a != c


def test_pycocotools_loads_annotations_and_detections(synth):
    from pycocotools.coco import COCO

    for split in ("train", "val"):
        coco = COCO(str(synth / "annotations" / f"person_keypoints_{split}.json"))
        assert coco.loadCats(1)[0]["keypoints"] == COCO_KEYPOINTS
        assert len(coco.getImgIds()) == (300 if split == "train" else 20)
        for ann in coco.loadAnns(coco.getAnnIds()):
            k = np.array(ann["keypoints"]).reshape(17, 3)
            assert ann["num_keypoints"] == (k[:, 2] > 0).sum()
            assert set(k[:, 2]) <= {0, 1, 2} and (k[k[:, 2] == 0, :2] == 0).all()
            x, y, w, h = ann["bbox"]
            assert w > 0 and h > 0 and ann["area"] <= w * h + 1e-6 and ann["iscrowd"] == 0
        dets = coco.loadRes(str(synth / "annotations" / f"person_detections_{split}.json"))
        assert len(dets.getAnnIds()) >= len(coco.getAnnIds())


def inside(shape, box, x, y):
    x0, y0, x1, y1 = box
    if shape == "rectangle":
        return x0 <= x <= x1 and y0 <= y <= y1
    cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
    return ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1


def test_visibility_agrees_with_occluders_and_borders(synth):
    truth = json.loads((synth / "annotations" / "truth_train.json").read_text())
    coco = json.loads((synth / "annotations" / "person_keypoints_train.json").read_text())
    occluders = {t["image_id"]: t["occluders"] for t in truth["images"]}
    image_of = {a["id"]: a["image_id"] for a in coco["annotations"]}
    counts = {"occluded": 0, "visible": 0, "truncated": 0}
    for t in truth["annotations"]:
        k = np.array(t["keypoints"]).reshape(17, 3)
        for x, y, v in k:
            covered = [inside(o["shape"], o["box"], x, y) for o in occluders[image_of[t["id"]]]]
            # a pixel-centre test: allow joints within a pixel of an occluder's edge either way
            near_edge = any(inside(o["shape"], [b + d for b, d in zip(o["box"], (-1, -1, 1, 1))], x, y)
                            and not inside(o["shape"], [b + d for b, d in zip(o["box"], (1, 1, -1, -1))], x, y)
                            for o in occluders[image_of[t["id"]]])
            if v == 2 and not near_edge:
                assert not any(covered), "a joint under an occluder is marked visible"
                counts["visible"] += 1
            if any(covered) and v > 0 and not near_edge:
                assert v == 1
                counts["occluded"] += 1
            counts["truncated"] += v == 0
    assert min(counts.values()) > 50, counts  # all three cases occur often


def test_noise_added_follows_the_configured_law(synth):
    truth = json.loads((synth / "annotations" / "truth_train.json").read_text())
    coco = {a["id"]: a for a in json.loads((synth / "annotations" / "person_keypoints_train.json").read_text())["annotations"]}
    standardized = []
    for t in truth["annotations"]:
        k_true = np.array(t["keypoints"]).reshape(17, 3)
        k_label = np.array(coco[t["id"]]["keypoints"]).reshape(17, 3)
        noise = np.array(t["noise"]).reshape(17, 2)
        labelled = k_true[:, 2] > 0
        np.testing.assert_allclose(k_label[labelled, :2], k_true[labelled, :2] + noise[labelled], atol=0.006)
        standardized.append((noise / np.array(t["noise_scale_px"])[:, None])[labelled].reshape(-1))
    z = np.concatenate(standardized)
    assert len(z) > 5000
    assert stats.kstest(z, "t", args=(3,)).pvalue > 0.01  # the configured law (Student-t, nu = 3)
    assert stats.kstest(z, "norm", args=(0, np.sqrt(3))).pvalue < 1e-6  # and the test can tell it from a Gaussian


def test_bad_input_is_one_clear_sentence(tmp_path):
    with pytest.raises(ValueError, match="unknown noise law 'cauchy'"):
        generate(str(tmp_path / "x"), 1, 1, config=SynthPoseConfig(noise_law="cauchy"))
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("x")
    with pytest.raises(ValueError, match="exists and is not empty"):
        generate(str(tmp_path / "full"), 1, 1)
