"""SynthPose in both styles: determinism, COCO format (pycocotools), visibility vs occluders, the noise law actually
added; the photo style's occluders over joints and its people's pixels."""
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from matplotlib.path import Path as Polygon
from PIL import Image, ImageDraw

from rlelab.tasks.coco import COCO_KEYPOINTS
from rlelab.data import synthpose
from rlelab.data.synthpose import STYLES, SynthPoseConfig, generate


@pytest.fixture(scope="module", params=STYLES)
def synth(tmp_path_factory, request):
    return Path(generate(str(tmp_path_factory.mktemp("sp") / "synthpose"), n_train=300, n_val=20, seed=7,
                         config=SynthPoseConfig(style=request.param)))


def digest(root):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("style", STYLES)
def test_same_seed_same_bytes(tmp_path, style):
    cfg = SynthPoseConfig(style=style)
    a = digest(Path(generate(str(tmp_path / "a"), 12, 4, seed=3, config=cfg)))
    b = digest(Path(generate(str(tmp_path / "b"), 12, 4, seed=3, config=cfg)))
    c = digest(Path(generate(str(tmp_path / "c"), 12, 4, seed=4, config=cfg)))
    assert a == b and len(a) == 16 + 6
    assert a != c
    other = digest(Path(generate(str(tmp_path / "o"), 12, 4, seed=3, config=SynthPoseConfig(style=({*STYLES} - {style}).pop()))))
    assert all(a[name] != other[name] for name in a if name.endswith(".jpg"))  # the style draws every picture


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


def inside(o, x, y, grow=0.0):
    """Is (x, y) inside occluder o (as truth_*.json records it), its outline moved out by ``grow`` px?"""
    x0, y0, x1, y1 = o["box"]
    if o["shape"] == "rectangle":
        return x0 - grow <= x <= x1 + grow and y0 - grow <= y <= y1 + grow
    if o["shape"] == "polygon":
        pts = np.array(o["points"])
        a, b = pts, np.roll(pts, -1, 0)  # the edges; the distance to the nearest says how deep inside it is
        t = np.clip(((np.array([x, y]) - a) * (b - a)).sum(1) / ((b - a) ** 2).sum(1), 0, 1)
        depth = np.linalg.norm(a + t[:, None] * (b - a) - (x, y), axis=1).min()
        return depth <= grow if not Polygon(pts).contains_point((x, y)) else depth >= -grow
    cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2 + grow, (y1 - y0) / 2 + grow
    return rx > 0 and ry > 0 and ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1


def test_visibility_agrees_with_occluders_and_borders(synth):
    truth = json.loads((synth / "annotations" / "truth_train.json").read_text())
    coco = json.loads((synth / "annotations" / "person_keypoints_train.json").read_text())
    occluders = {t["image_id"]: t["occluders"] for t in truth["images"]}
    image_of = {a["id"]: a["image_id"] for a in coco["annotations"]}
    counts = {"occluded": 0, "visible": 0, "truncated": 0}
    for t in truth["annotations"]:
        k = np.array(t["keypoints"]).reshape(17, 3)
        for x, y, v in k:
            here = occluders[image_of[t["id"]]]
            covered = [inside(o, x, y) for o in here]
            # a pixel-centre test: allow joints within a pixel of an occluder's edge either way
            near_edge = any(inside(o, x, y, 1) and not inside(o, x, y, -1) for o in here)
            if v == 2 and not near_edge:
                assert not any(covered), "a joint under an occluder is marked visible"
                counts["visible"] += 1
            if any(covered) and v > 0 and not near_edge:
                assert v == 1
                counts["occluded"] += 1
            counts["truncated"] += v == 0
    assert min(counts.values()) > 50, counts  # all three cases occur often


def test_photo_occluders_sit_over_joints(tmp_path):
    """Three in four of the photo style's occluders are put over a joint: most of them hide a labelled one
    (the flat style's, put anywhere, hide one in 0.41 of the same pictures)."""
    root = Path(generate(str(tmp_path / "p"), 300, 0, seed=7, config=SynthPoseConfig(style="photo")))
    truth = json.loads((root / "annotations" / "truth_train.json").read_text())
    image_of = {a["id"]: a["image_id"] for a in
                json.loads((root / "annotations" / "person_keypoints_train.json").read_text())["annotations"]}
    hides = [any(inside(o, x, y) and v == 1 for t in truth["annotations"] if image_of[t["id"]] == im["image_id"]
                 for x, y, v in np.array(t["keypoints"]).reshape(17, 3))
             for im in truth["images"] for o in im["occluders"]]
    assert len(hides) > 200 and np.mean(hides) > 0.5
    assert {o["shape"] for im in truth["images"] for o in im["occluders"]} == {"rectangle", "ellipse", "polygon"}


def test_photo_people_are_drawn_where_their_joints_are():
    """Every joint of a photo-style person lies on the person's own paint (a label never sits on the background),
    and the eyes are painted on the eye joints (unless an arm or the hair covers them), for 300 random people."""
    eyes, painted_eyes = 0, 0
    for i in range(300):
        rng = np.random.default_rng([11, i])
        pose, look = synthpose.sample_pose(rng), synthpose._photo_look(rng)
        to_px = lambda q: np.array([96.0, 110.0]) + 150.0 * np.asarray(q)
        layer = Image.new("RGBA", (192, 256), (0, 0, 0, 0))
        synthpose._photo_draw_person(ImageDraw.Draw(layer), pose, to_px, 150.0, look)
        rgba, (x, y) = np.asarray(layer), np.round(to_px(pose["k"])).astype(int).T
        assert (rgba[y, x, 3] == 255).all(), f"person {i}: joints off the body {np.nonzero(rgba[y, x, 3] < 255)[0]}"
        for j in (synthpose.J[f"{s}_eye"] for s in ("left", "right") if s != pose["hidden_side"]):
            eyes += 1
            painted_eyes += tuple(rgba[y[j], x[j], :3]) == (30, 25, 25)
    assert eyes > 400 and painted_eyes > 0.9 * eyes  # 423 of 440 here


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
    with pytest.raises(ValueError, match="unknown SynthPose style 'anime'; choose one of flat, photo"):
        generate(str(tmp_path / "x"), 1, 1, config=SynthPoseConfig(style="anime"))
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("x")
    with pytest.raises(ValueError, match="exists and is not empty"):
        generate(str(tmp_path / "full"), 1, 1)


def test_the_command_draws_the_style_it_is_asked_for(tmp_path):
    from rlelab.__main__ import main

    main(["synthpose", "--out", str(tmp_path / "sp"), "--n-train", "2", "--n-val", "1", "--size", "64x48", "--style", "photo"])
    truth = json.loads((tmp_path / "sp" / "annotations" / "truth_val.json").read_text())
    assert truth["config"]["style"] == "photo" and truth["config"]["height"] == 64
    flat = generate(str(tmp_path / "flat"), 2, 1, config=SynthPoseConfig(height=64, width=48))
    assert (tmp_path / "sp" / "images" / "val" / "000000000003.jpg").read_bytes() != \
        (Path(flat) / "images" / "val" / "000000000003.jpg").read_bytes()
