"""The top-down COCO loader on the real COCO samples in ../shared and on SynthPose."""
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from rlelab.tasks.coco import TopDownCOCO
from rlelab.topdown import TopDownConfig
from rlelab.crop import apply_affine, to_image_coordinates
from rlelab.tasks.coco import COCO_KEYPOINTS, FLIP_PAIRS
from rlelab.data.synthpose import generate

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real-samples" / "coco"
needs_real = pytest.mark.skipif(not REAL.exists(), reason=f"real COCO samples not found at {REAL} (../shared is absent)")


def real(**overrides):
    return TopDownCOCO(str(REAL / "test_coco.json"), str(REAL), TopDownConfig(**overrides))


@needs_real
def test_keypoints_round_trip_and_land_on_the_same_pixels():
    ds = real()
    assert len(ds) == 12  # 14 people, 2 without any labelled joint
    for i in range(len(ds)):
        s = ds[i]
        kp = ds.samples[i]["keypoints"]
        labelled = kp[:, 2] > 0
        back = to_image_coordinates(s["joints"].double(), s["crop_to_image"], (256, 192)).numpy()
        assert np.abs(back - kp[:, :2])[labelled].max() < 1.0
        # the crop really shows the image there: a crop pixel near each joint equals the original image,
        # bilinearly interpolated (by hand here) at the exact preimage of that pixel
        original = ds.load_image(ds.samples[i]["image_id"]).numpy()
        crop = (s["image"] * torch.tensor([0.229, 0.224, 0.225])[:, None, None]
                + torch.tensor([0.485, 0.456, 0.406])[:, None, None]).numpy()
        pix = ((s["joints"] + 0.5) * torch.tensor([192, 256])).round().numpy()
        for j in np.flatnonzero(labelled & (s["target_weight"].numpy() > 0)):
            x, y = pix[j]
            if not (0 <= x <= 191 and 0 <= y <= 255):
                continue
            ox, oy = apply_affine(s["crop_to_image"].numpy(), np.array([[x, y]]))[0]
            x0, y0 = int(np.floor(ox)), int(np.floor(oy))
            fx, fy = ox - x0, oy - y0
            value = ((1 - fx) * (1 - fy) * original[:, y0, x0] + fx * (1 - fy) * original[:, y0, x0 + 1]
                     + (1 - fx) * fy * original[:, y0 + 1, x0] + fx * fy * original[:, y0 + 1, x0 + 1])
            np.testing.assert_allclose(crop[:, int(y), int(x)], value, atol=1e-4)


@needs_real
def test_box_corners_round_trip():
    ds = real()
    s = ds[0]
    m_inv = s["crop_to_image"].numpy()
    m = np.linalg.inv(np.vstack([m_inv, [0, 0, 1]]))[:2]
    x, y, w, h = ds.samples[0]["box"]
    corners = np.array([[x, y], [x + w, y], [x, y + h], [x + w, y + h]])
    assert np.abs(apply_affine(m_inv, apply_affine(m, corners)) - corners).max() < 1e-6
    crop = apply_affine(m, corners)  # the padded box fits inside the crop
    assert (crop >= -1e-6).all() and (crop[:, 0] <= 191 + 1e-6).all() and (crop[:, 1] <= 255 + 1e-6).all()


@needs_real
def test_flipped_sample_flipped_back_equals_original():
    plain = real()
    flipped = real(augment=True, flip_prob=1.0, scale_factor=0.0, rotation_prob=0.0, half_body_prob=0.0)
    for i in range(len(plain)):
        a, b = plain[i], flipped[i]
        assert torch.allclose(b["image"].flip(-1), a["image"], atol=1e-3)  # float32 sampling grids
        joints = b["joints"].clone()
        joints[:, 0] = -joints[:, 0] - 1 / 192  # pixel x -> 191 - x, in normalized units
        weight = b["target_weight"].clone()
        for l, r in FLIP_PAIRS:
            joints[[l, r]] = joints[[r, l]]
            weight[[l, r]] = weight[[r, l]]
        vis = a["target_weight"] > 0
        assert torch.allclose(joints[vis], a["joints"][vis], atol=1e-5)
        assert torch.equal(weight, a["target_weight"])


def test_every_flip_pair_maps_left_to_right():
    assert len(FLIP_PAIRS) == 8
    for l, r in FLIP_PAIRS:
        assert COCO_KEYPOINTS[l].startswith("left_") and COCO_KEYPOINTS[r] == COCO_KEYPOINTS[l].replace("left_", "right_")
    paired = {j for pair in FLIP_PAIRS for j in pair}
    assert set(range(17)) - paired == {0}  # only the nose has no partner


@needs_real
def test_detections_and_heatmaps():
    ds = TopDownCOCO(str(REAL / "test_coco.json"), str(REAL), detections=str(REAL / "test_coco_det_AP_H_56.json"))
    assert len(ds) > 0 and all(0 < s["score"] <= 1 for s in ds.samples)
    s = real()[0]
    peak = s["heatmaps"].flatten(1).argmax(1)
    hm_xy = torch.stack([peak % 48, peak // 48], 1).float() * 4
    px = (s["joints"] + 0.5) * torch.tensor([192, 256])
    assert ((hm_xy - px).abs()[s["target_weight"] > 0] <= 4).all()


def test_dataloader_with_two_workers_on_synthpose(tmp_path):
    root = Path(generate(str(tmp_path / "sp"), 24, 4, seed=0))
    ds = TopDownCOCO(str(root / "annotations" / "person_keypoints_train.json"), str(root / "images" / "train"),
                     TopDownConfig(input_size=(128, 96), augment=True))
    loader = torch.utils.data.DataLoader(ds, batch_size=8, num_workers=2, shuffle=True)
    batches = list(loader)
    assert sum(len(b["image_id"]) for b in batches) == len(ds)
    b = batches[0]
    assert b["image"].shape == (8, 3, 128, 96) and b["joints"].shape == (8, 17, 2) and b["heatmaps"].shape == (8, 17, 32, 24)
    assert torch.isfinite(b["image"]).all()


def test_bad_input_is_one_clear_sentence(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json: not valid JSON"):
        TopDownCOCO(str(bad), str(tmp_path))
    ann = {"images": [{"id": 1, "file_name": "missing.jpg", "height": 10, "width": 10}],
           "annotations": [{"id": 5, "image_id": 1, "bbox": [0, 0, 5, 5], "keypoints": [1, 1, 2] * 16, "category_id": 1}]}
    (tmp_path / "short.json").write_text(json.dumps(ann))
    with pytest.raises(ValueError, match="annotation 5 has 48 keypoint values"):
        TopDownCOCO(str(tmp_path / "short.json"), str(tmp_path))
    ann["annotations"][0]["keypoints"] = [1, 1, 2] * 17
    (tmp_path / "ok.json").write_text(json.dumps(ann))
    with pytest.raises(ValueError, match="missing.jpg: cannot read image 1"):
        TopDownCOCO(str(tmp_path / "ok.json"), str(tmp_path))[0]
    ann["annotations"][0]["bbox"] = [0, 0, 0, 5]
    (tmp_path / "empty.json").write_text(json.dumps(ann))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert len(TopDownCOCO(str(tmp_path / "empty.json"), str(tmp_path))) == 0
    assert "empty box" in str(caught[0].message)
    with pytest.raises(ValueError, match="not found"):
        TopDownCOCO(str(tmp_path / "nope.json"), str(tmp_path))
    for name, data in (("a_picture.jpg", b"\xff\xd8\xff\xe0" + bytes(range(256))), ("arrays.npz", b"PK\x03\x04\x80\xff")):
        (tmp_path / name).write_bytes(data)  # "'utf-8' codec can't decode" before
        with pytest.raises(ValueError, match=f"{name}: not a text file .*, so not a COCO keypoint annotation file"):
            TopDownCOCO(str(tmp_path / name), str(tmp_path))


def test_non_finite_labels_are_refused_at_load_naming_the_annotation(tmp_path):
    ann = {"images": [{"id": 1, "file_name": "a.jpg", "height": 10, "width": 10}],
           "annotations": [{"id": 7, "image_id": 1, "bbox": [0, 0, 5, 5], "keypoints": [1, 1, 2] * 17, "category_id": 1}]}
    for field, index, value in [("keypoints", 3, float("nan")), ("keypoints", 5, float("inf")), ("bbox", 2, float("nan"))]:
        broken = json.loads(json.dumps(ann))
        broken["annotations"][0][field][index] = value  # json writes NaN / Infinity, as numpy-made files do
        (tmp_path / "nan.json").write_text(json.dumps(broken))
        with pytest.raises(ValueError, match=r"nan.json: annotation 7 \(image 1\) has a keypoint or box value that is not a finite"):
            TopDownCOCO(str(tmp_path / "nan.json"), str(tmp_path))


@pytest.mark.parametrize("detection, message", [
    ({"image_id": 1, "category_id": 1, "bbox": [0, 0, float("nan"), 5], "score": 0.9}, r"detection 0 \(image 1\) has bbox"),
    ({"image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5], "score": float("nan")}, r"detection 0 \(image 1\) has bbox"),
    ({"image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5]}, "detection 0 has no score"),
    ({"image_id": 1, "category_id": 1, "bbox": [5, 5, -3, 4], "score": 0.9}, "box of negative size"),
    ({"image_id": 1, "category_id": 1, "bbox": [0, 0, 5], "score": 0.9}, r"detection 0 \(image 1\) has bbox"),
])
def test_bad_detections_are_one_sentence(tmp_path, detection, message):
    ann = {"images": [{"id": 1, "file_name": "a.jpg", "height": 10, "width": 10}], "annotations": []}
    (tmp_path / "gt.json").write_text(json.dumps(ann))
    (tmp_path / "det.json").write_text(json.dumps([detection]))
    with pytest.raises(ValueError, match=message):
        TopDownCOCO(str(tmp_path / "gt.json"), str(tmp_path), detections=str(tmp_path / "det.json"))
