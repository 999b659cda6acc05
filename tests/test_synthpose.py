"""SynthPose in both styles (and mixed, the two in turn): determinism, COCO format (pycocotools), visibility vs
occluders, the noise law actually added; the photo style's occluders over joints, its people's pixels and its JPEG
qualities."""
import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from scipy import stats

from rlelab.data import synthpose
from rlelab.data.synthpose import STYLES, SynthPoseConfig, generate, render_image
from rlelab.tasks.coco import COCO_KEYPOINTS


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    """300 train and 20 val pictures (seed 7) per style, drawn once for the module."""
    root, made = tmp_path_factory.mktemp("sp"), {}

    def of(style):
        if style not in made:
            made[style] = Path(generate(str(root / style), n_train=300, n_val=20, seed=7,
                                        config=SynthPoseConfig(style=style)))
        return made[style]
    return of


@pytest.fixture(params=STYLES)
def synth(sets, request):
    return sets(request.param)


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
    other_style = "photo" if style == "flat" else "flat"
    other = digest(Path(generate(str(tmp_path / "o"), 12, 4, seed=3, config=SynthPoseConfig(style=other_style))))
    assert all(a[name] != other[name] for name in a if name.endswith(".jpg"))  # the style draws every picture


def test_the_mixed_style_draws_each_picture_as_its_style_would(tmp_path):
    """mixed: even pictures of a split flat, odd ones photo, each byte for byte the picture that style draws at
    that index (the rng is the picture's own), and the truth file says which."""
    mixed = Path(generate(str(tmp_path / "m"), 4, 3, seed=3, config=SynthPoseConfig(style="mixed")))
    alone = {s: Path(generate(str(tmp_path / s), 4, 3, seed=3, config=SynthPoseConfig(style=s))) for s in STYLES}
    for split, n in (("train", 4), ("val", 3)):
        truth = json.loads((mixed / "annotations" / f"truth_{split}.json").read_text())
        assert [im["style"] for im in truth["images"]] == ["flat", "photo", "flat", "photo"][:n]
        for i, im in enumerate(truth["images"]):
            name = Path("images") / split / f"{im['image_id']:012d}.jpg"
            assert (mixed / name).read_bytes() == (alone[im["style"]] / name).read_bytes(), (split, i)
    with pytest.raises(ValueError, match="unknown SynthPose style 'cartoon'; choose one of flat, photo, mixed."):
        generate(str(tmp_path / "x"), 1, 0, config=SynthPoseConfig(style="cartoon"))


def test_the_flat_style_draws_what_the_shipped_models_learned_from():
    """The flat style's pixels and joints, pinned: the shipped models learned from them (the ResNet-18 pair alone,
    the Lite0 models half their pictures) and the labs' numbers were measured on them, so a change to the drawing
    code that moves them must be a decision (retrain, re-measure, update this hash)."""
    h = hashlib.sha256()
    for i in range(4):
        img, people, _, quality = render_image(np.random.default_rng([0, 0, i]), SynthPoseConfig(height=64, width=48))
        h.update(np.asarray(img).tobytes())
        for p in people:
            h.update(np.round(p["k"], 4).tobytes())
            h.update(p["v"].astype(np.int8).tobytes())
        assert quality == 90
    assert h.hexdigest() == "4742845cb3b2b0518c2a7e37a5bc0e0c95b39c3c2c51b8943109e514068eacf7"


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


def inside(o, xy, grow=0.0):
    """Which points xy (N, 2) lie inside occluder o (as truth_*.json records it), its outline moved out by grow px?"""
    x, y = np.asarray(xy, dtype=float).reshape(-1, 2).T
    x0, y0, x1, y1 = o["box"]
    if o["shape"] == "rectangle":
        return (x0 - grow <= x) & (x <= x1 + grow) & (y0 - grow <= y) & (y <= y1 + grow)
    if o["shape"] == "polygon":
        a = np.array(o["points"])
        ab = np.roll(a, -1, 0) - a  # the edges
        p = np.stack([x, y], 1)[:, None]  # (N, 1, 2) against (E, 2)
        t = np.clip(((p - a) * ab).sum(-1) / np.maximum((ab ** 2).sum(-1), 1e-12), 0, 1)
        depth = np.linalg.norm(a + t[..., None] * ab - p, axis=-1).min(1)  # distance to the outline
        dy = np.where(ab[:, 1] == 0, 1e-12, ab[:, 1])  # (flat edges never cross: the first condition is False)
        crosses = ((a[:, 1] > y[:, None]) != (a[:, 1] + ab[:, 1] > y[:, None])) & \
            (x[:, None] < a[:, 0] + (y[:, None] - a[:, 1]) * ab[:, 0] / dy)
        within = crosses.sum(1) % 2 == 1  # a ray to the right crosses the outline an odd number of times
        return np.where(within, depth >= -grow, depth <= grow)
    cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2 + grow, (y1 - y0) / 2 + grow
    return (rx > 0) & (ry > 0) & (((x - cx) / max(rx, 1e-12)) ** 2 + ((y - cy) / max(ry, 1e-12)) ** 2 <= 1)


def test_inside_knows_a_concave_polygon():
    arrow = {"shape": "polygon", "box": [0, 0, 10, 10], "points": [[0, 0], [10, 5], [0, 10], [4, 5]]}
    pts = np.array([[6, 5], [2, 5], [11, 5], [1, 0.9], [1, 1.5]])  # in, the notch, beyond, a wing, over it
    assert inside(arrow, pts).tolist() == [True, False, False, True, False]
    assert inside(arrow, [[2, 5]], grow=2).tolist() == [True] and not inside(arrow, [[6, 5]], grow=-2)[0]


def test_a_painted_object_stays_within_the_outline_recorded_for_it():
    """What _paint lays (rim, body and highlight, each shrunk toward the centre) lies inside the shape recorded in
    truth_*.json, grown by 2.5 px for PIL's rasterizing (it truncates float corners and fills the far edge's pixels:
    2.25 px at most here); polygons with a gap over pi between their corners went further out (24 of 105 beyond 2.5 px)."""
    rng = np.random.default_rng(5)
    for i in range(300):
        obj = synthpose._object(rng, *rng.uniform(60, 140, 2), *rng.uniform(2, 50, 2))
        layer = Image.new("RGBA", (200, 200), (0, 0, 0, 0))
        synthpose._paint(ImageDraw.Draw(layer), obj)
        painted = np.argwhere(np.asarray(layer)[:, :, 3] > 0)[:, ::-1]
        out = ~inside(synthpose._record(obj), painted, grow=2.5)
        assert not out.any(), f"object {i} ({obj['shape']}): {out.sum()} of {len(painted)} pixels outside its outline"


def test_visibility_agrees_with_occluders_and_borders(synth):
    truth = json.loads((synth / "annotations" / "truth_train.json").read_text())
    coco = json.loads((synth / "annotations" / "person_keypoints_train.json").read_text())
    occluders = {t["image_id"]: t["occluders"] for t in truth["images"]}
    image_of = {a["id"]: a["image_id"] for a in coco["annotations"]}
    counts = {"occluded": 0, "visible": 0, "truncated": 0}
    for t in truth["annotations"]:
        k = np.array(t["keypoints"]).reshape(17, 3)
        here = occluders[image_of[t["id"]]]
        covered = np.zeros(17, bool)
        near_edge = np.zeros(17, bool)  # a pixel-centre test: joints within a pixel of an occluder's edge go either way
        for o in here:
            covered |= inside(o, k[:, :2])
            near_edge |= inside(o, k[:, :2], 1) & ~inside(o, k[:, :2], -1)
        v = k[:, 2]
        assert not (covered & (v == 2) & ~near_edge).any(), "a joint under an occluder is marked visible"
        assert (v[covered & (v > 0) & ~near_edge] == 1).all()
        counts["visible"] += int(((v == 2) & ~near_edge).sum())
        counts["occluded"] += int((covered & (v > 0) & ~near_edge).sum())
        counts["truncated"] += int((v == 0).sum())
    assert min(counts.values()) > 50, counts  # all three cases occur often


def share_hiding_a_joint(root):
    """The share of a set's occluders that hide a labelled joint (v = 1 inside the occluder)."""
    truth = json.loads((root / "annotations" / "truth_train.json").read_text())
    image_of = {a["id"]: a["image_id"] for a in
                json.loads((root / "annotations" / "person_keypoints_train.json").read_text())["annotations"]}
    joints = {}
    for t in truth["annotations"]:
        joints.setdefault(image_of[t["id"]], []).append(np.array(t["keypoints"]).reshape(17, 3))
    hides = [any((inside(o, k[:, :2]) & (k[:, 2] == 1)).any() for k in joints.get(im["image_id"], []))
             for im in truth["images"] for o in im["occluders"]]
    return np.mean(hides), len(hides), {o["shape"] for im in truth["images"] for o in im["occluders"]}


def test_photo_occluders_sit_over_joints(sets):
    """Three in four of the photo style's occluders are put over a joint, so most hide a labelled one; the flat
    style's, put anywhere, hide one far less often in the same 300 pictures (here 0.78 and 0.41)."""
    photo, n, shapes = share_hiding_a_joint(sets("photo"))
    flat, _, _ = share_hiding_a_joint(sets("flat"))
    assert n > 200 and photo > 0.6 and photo > flat + 0.2, (photo, flat)
    assert shapes == {"rectangle", "ellipse", "polygon"}


def test_photo_people_are_drawn_where_their_joints_are():
    """Every joint of a photo-style person lies on the person's own paint (so "seen" is never said of a joint over
    the background), at every size SynthPose draws (15 to 260 px per body height, log-uniform), and the eyes are
    painted on the eye joints unless an arm in front covers them (the hair never does: it is drawn before the face)."""
    eyes, painted_eyes = 0, 0
    for i in range(300):
        rng = np.random.default_rng([11, i])
        pose, look = synthpose.sample_pose(rng), synthpose._photo_look(rng)
        scale = float(np.exp(rng.uniform(np.log(15), np.log(260))))
        to_px = lambda q: np.array([200.0, 200.0]) + scale * np.asarray(q)
        layer = Image.new("RGBA", (400, 400), (0, 0, 0, 0))
        synthpose._photo_draw_person(ImageDraw.Draw(layer), pose, to_px, scale, look)
        rgba, (x, y) = np.asarray(layer), np.round(to_px(pose["k"])).astype(int).T
        assert (rgba[y, x, 3] == 255).all(), f"person {i}: joints off the body {np.nonzero(rgba[y, x, 3] < 255)[0]}"
        for j in (synthpose.J[f"{s}_eye"] for s in ("left", "right") if s != pose["hidden_side"]):
            eyes += 1
            painted_eyes += tuple(rgba[y[j], x[j], :3]) == (30, 25, 25)
    assert eyes > 400 and painted_eyes > 0.9 * eyes, (painted_eyes, eyes)  # 427 of 440 here


def test_each_picture_records_the_jpeg_quality_it_was_saved_at(sets):
    """The photo style draws a JPEG quality per picture (35-95) and the flat style keeps the configured one; the
    truth file records it, and the file's quantization tables are those of that quality."""
    for style in STYLES:
        root = sets(style)
        images = json.loads((root / "annotations" / "truth_val.json").read_text())["images"]
        qualities = [im["jpeg_quality"] for im in images]
        if style == "flat":
            assert set(qualities) == {90}
        else:
            assert all(35 <= q <= 95 for q in qualities) and len(set(qualities)) > 10
        for im in images[:5]:
            reference = io.BytesIO()
            Image.new("RGB", (16, 16)).save(reference, "JPEG", quality=im["jpeg_quality"])
            saved = Image.open(root / "images" / "val" / f"{im['image_id']:012d}.jpg")
            assert saved.quantization == Image.open(reference).quantization


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


def test_the_noise_floor_is_one_without_noise_and_falls_as_the_noise_grows(tmp_path):
    floors = [synthpose.noise_floor(generate(str(tmp_path / f"s{scale}"), n_train=0, n_val=10, seed=3,
                                             config=SynthPoseConfig(noise_scale=scale))) for scale in (0.0, 0.3, 0.6)]
    assert floors[0] == pytest.approx(1.0, abs=1e-6)  # the clean joints are the annotations: OKS 1 for every person
    assert 1.0 > floors[1] > floors[2] > 0.2  # wider label noise, a lower floor (0.3: the shipped sets' scale)
    (tmp_path / "s0.0" / "annotations" / "truth_val.json").unlink()  # a COCO-layout set that is not SynthPose's
    with pytest.raises(ValueError, match="truth_val.json is missing: the noise floor needs a SynthPose set"):
        synthpose.noise_floor(str(tmp_path / "s0.0"))
