"""MPII, the second 2-D task: PCKh against cases computed by hand, the loader on the real samples, SynthPose in
MPII's layout, and a model trained, chosen by PCKh and evaluated through the command line."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from rlelab.topdown import TopDownConfig
from rlelab.crop import to_image_coordinates
from rlelab.tasks.mpii import LAYOUT as MPII
from rlelab.tasks.mpii import mpii_paths, TopDownMPII
from rlelab.data.synthpose import MPII_FROM, SynthPoseConfig, generate
from rlelab.tasks.mpii import head_sizes, mpii_scores, pckh

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real-samples" / "mpii"
needs_real = pytest.mark.skipif(not (REAL / "test_mpii.json").exists(), reason="no real MPII samples in ../shared")


def test_pckh_by_hand():
    # one person, head box 30 x 40: head segment 0.6 x 50 = 30 px, so PCKh@0.5 allows 15 px and @0.1 3 px.
    # errors along x: joint 0 14.9 px (in), 1 exactly 15 (in: "at most"), 2 15.1 (out), 9 2.9 (in at 0.1 too),
    # the pelvis (6) 100 and the thorax (7) 0 are not counted, joint 15 is unlabelled (its 1000 px is ignored).
    gt = np.zeros((1, 16, 2))
    pred = gt.copy()
    for j, error in {0: 14.9, 1: 15.0, 2: 15.1, 6: 100.0, 9: 2.9, 15: 1000.0}.items():
        pred[0, j, 0] = error
    labelled = np.ones((1, 16), bool)
    labelled[0, 15] = False
    size = head_sizes(np.zeros((1, 16, 3)), [np.array([0.0, 0.0, 30.0, 40.0])])
    assert size.tolist() == [30.0]
    out = pckh(pred, gt, labelled, size)
    counted = 13  # 16 - the unlabelled wrist - pelvis - thorax
    assert out["PCKh"] == pytest.approx(12 / counted, abs=1e-15)
    assert out["PCKh@0.1"] == pytest.approx(10 / counted, abs=1e-15)  # the 9 exact joints and the head top
    # AUC: t = 0, 0.01, ..., 0.5 (51 values): 9 joints always in, the head top (0.0967) from t = 0.10 (41 values),
    # 14.9 px (0.4967) and 15 px (0.5) at t = 0.5 only
    assert out["AUC"] == pytest.approx((9 * 51 + 41 + 1 + 1) / (51 * counted), abs=1e-15)
    assert out["PCKh_head"] == 1.0 and out["PCKh_ankle"] == 1.0 and out["PCKh_knee"] == 1.0
    assert out["PCKh_hip"] == 0.5 and out["PCKh_wrist"] == 1.0  # the left wrist is unlabelled: the right one alone


def test_head_size_conventions_and_misses():
    kp = np.zeros((3, 16, 3))
    kp[:, 8] = [10, 50, 1]  # upper neck
    kp[:, 9] = [10, 30, 1]  # head top, 20 px above
    kp[2, 9, 2] = 0  # the third person's head top is unlabelled
    sizes = head_sizes(kp, [np.array([0, 0, 6, 8]), None, None])
    assert sizes[0] == pytest.approx(6.0) and sizes[1] == pytest.approx(20.0) and np.isnan(sizes[2])
    gt, labelled = kp[:2, :, :2], np.ones((2, 16), bool)
    pred = gt.copy()
    pred[1] = np.nan  # a diverged prediction is a miss, never a match
    out = pckh(pred, gt, labelled, sizes[:2])
    assert out["PCKh"] == 0.5 and out["AUC"] == 0.5
    with pytest.raises(ValueError, match="no labelled joint"):
        pckh(pred, gt, np.zeros((2, 16), bool), sizes[:2])


def test_mpii_layout_is_symmetric():
    for left, right in MPII.flip_pairs:
        assert MPII.keypoints[left].startswith("right_") or MPII.keypoints[left].startswith("left_")
        assert MPII.keypoints[left].split("_", 1)[1] == MPII.keypoints[right].split("_", 1)[1]
        assert MPII.keypoints[left] != MPII.keypoints[right]
    paired = {j for pair in MPII.flip_pairs for j in pair}
    assert {MPII.keypoints[j] for j in set(range(16)) - paired} == {"pelvis", "thorax", "upper_neck", "head_top"}
    assert sorted(MPII.upper_body + MPII.lower_body) == list(range(16))


@needs_real
def test_real_mpii_samples_load_zero_based_with_simplebaseline_boxes():
    people = json.loads((REAL / "test_mpii.json").read_text())
    data = TopDownMPII(str(REAL / "test_mpii.json"), str(REAL), TopDownConfig(input_size=(256, 256), heatmaps=False))
    assert len(data) == len(people) == 5
    for i, p in enumerate(people):
        sample = data[i]
        s, (cx, cy) = p["scale"], p["center"]
        # the crop: a square of 200 s px around the centre moved down by 15 s px, enlarged by 1.25
        assert sample["size"].tolist() == pytest.approx([200 * s * 1.25] * 2)
        assert sample["center"].tolist() == pytest.approx([cx, cy + 15 * s])
        back = to_image_coordinates(sample["joints"].double(), sample["crop_to_image"], (256, 256))
        vis = np.asarray(p["joints_vis"]) > 0
        assert np.abs(back.numpy() - (np.asarray(p["joints"]) - 1))[vis].max() < 1e-3  # MPII is 1-based
        assert sample["target_weight"].sum() == vis.sum()  # every labelled joint is inside its crop


@needs_real
def test_a_flipped_mpii_crop_names_the_left_joints_right():
    path, cfg = str(REAL / "test_mpii.json"), dict(input_size=(128, 128), heatmaps=False)
    plain = TopDownMPII(path, str(REAL), TopDownConfig(**cfg))[0]
    flipped = TopDownMPII(path, str(REAL), TopDownConfig(**cfg, augment=True, flip_prob=1.0, half_body_prob=0.0,
                                                         rotation_prob=0.0, scale_factor=0.0))[0]
    mirrored = plain["joints"].clone()
    mirrored[:, 0] = -mirrored[:, 0] - 1 / 128  # the crop's pixel x -> 127 - x
    for a, b in MPII.flip_pairs:
        mirrored[[a, b]] = mirrored[[b, a]]
    assert torch.allclose(flipped["joints"], mirrored, atol=1e-4)


def test_bad_mpii_annotations_are_one_sentence(tmp_path):
    path = tmp_path / "mpii.json"
    path.write_text(json.dumps([{"image": "a.jpg", "joints": [[1, 2]] * 15, "joints_vis": [1] * 16, "center": [5, 5],
                                 "scale": 1.0}]))
    with pytest.raises(ValueError, match=r"person 0 \(a.jpg\) has joints of shape \(15, 2\)"):
        TopDownMPII(str(path), str(tmp_path))
    path.write_text(json.dumps([{"image": "a.jpg"}]))
    with pytest.raises(ValueError, match="person 0 has no joints, joints_vis, center, scale"):
        TopDownMPII(str(path), str(tmp_path))
    with pytest.raises(ValueError, match="annotations/mpii_val.json"):
        mpii_paths(str(tmp_path), "val")


GOOD = {"image": "a.jpg", "joints": [[10, 20]] * 16, "joints_vis": [1] * 16, "center": [50, 50], "scale": 1.0}


@pytest.mark.parametrize("change, says", [
    ({"image": 12345}, "person 0 has image 12345; it must be the picture's file name"),
    ({"scale": [1, 2]}, r"person 0 \(a.jpg\) has scale \[1, 2\]; it is one number"),
    ({"joints": []}, r"has joints of shape \(0,\)"),
    ({"joints": [["a", 1]] * 16}, r"person 0 \(a.jpg\) has joints .* which is not an array of numbers"),
    ({"joints": [[1, 2]] * 15 + [[1, 2, 3]]}, r"has joints .* which is not an array of numbers"),
    ({"scale": -1.0}, "has scale -1.0; it is the person's height / 200 px and must be positive"),
])
def test_mpii_records_of_the_wrong_type_are_named(tmp_path, change, says):
    """Each raised a TypeError or numpy's words without the file before."""
    path = tmp_path / "mpii.json"
    path.write_text(json.dumps([GOOD, {**GOOD, **change}][1:]))
    with pytest.raises(ValueError, match=says):
        TopDownMPII(str(path), str(tmp_path))
    path.write_text("[]")
    with pytest.raises(ValueError, match="mpii.json: holds no people"):
        TopDownMPII(str(path), str(tmp_path))


@pytest.fixture(scope="module")
def synth_mpii(tmp_path_factory):
    return generate(str(tmp_path_factory.mktemp("mpii") / "sp"), n_train=16, n_val=6, seed=2, layout="mpii")


def test_synthpose_writes_mpii_with_head_boxes_and_its_truth(synth_mpii, tmp_path):
    root = Path(synth_mpii)
    people = json.loads((root / "annotations" / "mpii_train.json").read_text())
    truth = json.loads((root / "annotations" / "truth_train.json").read_text())["people"]
    assert len(people) == len(truth) > 16  # one to three people per picture
    for p, t in zip(people, truth):
        vis = np.asarray(t["visibility"]) > 0
        assert p["joints_vis"] == vis.astype(int).tolist()
        noisy, clean = np.asarray(p["joints"]) - 1, np.asarray(t["joints"])
        assert np.abs(noisy - clean - np.asarray(t["noise"]))[vis].max() < 0.006  # rounded to 0.01 px
        x1, y1, x2, y2 = np.asarray(p["head_box"]) - 1
        top = clean[9]
        assert x1 - 1e-6 <= top[0] <= x2 + 1e-6 and abs(top[1] - y1) < 0.2 * (y2 - y1) or not vis[9]
    again = generate(str(tmp_path / "again"), n_train=16, n_val=6, seed=2, layout="mpii")
    assert (Path(again) / "annotations" / "mpii_train.json").read_bytes() == (root / "annotations" / "mpii_train.json").read_bytes()
    data = TopDownMPII(*mpii_paths(synth_mpii, "val"), TopDownConfig(input_size=(64, 64), heatmaps=False))
    perfect = [{"ann_id": i, "image_id": s["image_id"], "score": 1.0,
                "keypoints": np.concatenate([s["keypoints"][:, :2], np.ones((16, 1))], 1).reshape(-1).tolist()}
               for i, s in enumerate(data.samples)]
    scores = mpii_scores(perfect, data)
    assert scores["PCKh"] == 1.0 and scores["AUC"] == 1.0 and scores["head_size"] == "box"
    assert mpii_scores(perfect[1:], data)["PCKh"] < 1.0  # a person without a result is missed


def test_synthpose_photo_style_writes_the_same_mpii_layout(tmp_path):
    """The photo style in MPII's layout: a perfect result scores PCKh 1, and every MPII person is a COCO person of
    the same seed's picture, its 12 shared joints and their visibility those COCO's layout gives them."""
    config = SynthPoseConfig(style="photo")
    root = Path(generate(str(tmp_path / "mpii"), n_train=0, n_val=12, seed=2, layout="mpii", config=config))
    data = TopDownMPII(*mpii_paths(str(root), "val"), TopDownConfig(input_size=(64, 64), heatmaps=False))
    perfect = [{"ann_id": i, "image_id": s["image_id"], "score": 1.0,
                "keypoints": np.concatenate([s["keypoints"][:, :2], np.ones((16, 1))], 1).reshape(-1).tolist()}
               for i, s in enumerate(data.samples)]
    assert len(perfect) > 12 and mpii_scores(perfect, data)["PCKh"] == 1.0
    truth = json.loads((root / "annotations" / "truth_val.json").read_text())
    assert truth["config"]["style"] == "photo"

    coco = Path(generate(str(tmp_path / "coco"), n_train=0, n_val=12, seed=2, config=config))
    image_of = {a["id"]: a["image_id"] for a in
                json.loads((coco / "annotations" / "person_keypoints_val.json").read_text())["annotations"]}
    coco_people = {}
    for t in json.loads((coco / "annotations" / "truth_val.json").read_text())["annotations"]:
        coco_people.setdefault(image_of[t["id"]], []).append(np.array(t["keypoints"]).reshape(17, 3))
    shared = [m for m, j in enumerate(MPII_FROM) if isinstance(j, int)]
    coco_of_shared = [MPII_FROM[m] for m in shared]
    people = json.loads((root / "annotations" / "mpii_val.json").read_text())
    for person in truth["people"]:
        image_id = int(people[person["index"]]["image"].split(".")[0])
        joints, v = np.array(person["joints"])[shared], np.array(person["visibility"])[shared]
        assert any(np.allclose(k[coco_of_shared, :2], joints) and (k[coco_of_shared, 2] == v).all()
                   for k in coco_people[image_id]), f"MPII person {person['index']} is no COCO person"
    assert len(truth["people"]) > 12


def test_an_mpii_model_trains_is_chosen_by_pckh_and_evaluates_on_the_real_samples(synth_mpii, tmp_path):
    from rlelab.checkpoints import load_checkpoint
    from rlelab.config import make_config
    from rlelab.train import train

    cfg = make_config(dict(task="mpii", data=synth_mpii, input_size=[64, 64], backbone="resnet18", loss="rle",
                           epochs=2, batch_size=8, workers=0, eval_every=1, out=str(tmp_path / "run"),
                           warmup_steps=0))
    history = train(cfg, progress=False)
    assert all(0 <= row["PCKh"] <= 1 and 0 <= row["AUC"] <= row["PCKh"] + 1e-12 for row in history)
    best = max(history, key=lambda r: r["PCKh"])  # the first of equals: best.pt is replaced only by a better one
    assert torch.load(tmp_path / "run" / "best.pt", weights_only=True)["epoch"] == best["epoch"]
    model, loaded, _ = load_checkpoint(str(tmp_path / "run" / "best.pt"))
    assert loaded.task == "mpii" and model.fc.out_features == 16 * 4
    if not (REAL / "test_mpii.json").exists():
        return
    out = subprocess.run([sys.executable, "-m", "rlelab", "eval", "--checkpoint", str(tmp_path / "run" / "best.pt"),
                          "--ann-file", str(REAL / "test_mpii.json"), "--image-dir", str(REAL),
                          "--results", str(tmp_path / "real.json")], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    rows = dict(line.split(None, 1) for line in out.stdout.strip().splitlines())
    assert rows["people"] == "5" and rows["head_size"] == "neck-to-top"
    assert 0 <= float(rows["PCKh"]) <= 1 and 0 <= float(rows["PCKh@0.1"]) <= float(rows["PCKh"])
    assert len(json.loads((tmp_path / "real.json").read_text())) == 5
