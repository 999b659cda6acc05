"""Human3.6M, the 3-D task: the cameras and both annotation forms on the real samples, Synth3D's people and
labels, MPJPE and PA-MPJPE against closed forms, the 3-D flow, and the single-stage and lifting models trained
and evaluated through the command line."""
import dataclasses
import json
import math
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats

from rlelab.camera import camera_to_pixel, look_at, pixel_to_camera, world_to_camera
from rlelab.topdown import TopDownConfig
from rlelab.tasks.h36m import (DEPTH_RANGE_MM, TopDownH36M, h36m_annotations, h36m_paths, read_3dmppe, read_mmpose,
                              to_image_uvd)
from rlelab.tasks.h36m import LAYOUT as H36M
from rlelab.data.synth3d import ANGLES, NOISE_FACTOR, Synth3DConfig, generate, pose_body, sample_person
from rlelab.tasks.h36m import h36m_scores, mpjpe, pa_mpjpe, procrustes
from rlelab.files import load_numpy_pickle
from rlelab.flows import make_flow

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real-samples" / "h36m"
needs_real = pytest.mark.skipif(not (REAL / "test_h36m_body3d.npz").exists(), reason="no real Human3.6M samples in ../shared")


def random_rotations(n, seed):
    q = np.random.default_rng(seed).normal(size=(n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    w, x, y, z = q.T
    return np.stack([np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
                     np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
                     np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1)], 1)


# --- metrics -----------------------------------------------------------------------------------------------------

def test_mpjpe_and_pa_mpjpe_closed_forms():
    rng = np.random.default_rng(0)
    gt = rng.normal(size=(6, 17, 3)) * 300
    # a similarity transform (rotation, scale 2.5, translation) is undone entirely by Procrustes
    moved = 2.5 * np.einsum("nij,nkj->nki", random_rotations(6, 1), gt) + rng.normal(size=(6, 1, 3)) * 100
    assert pa_mpjpe(moved, gt).max() < 1e-9 * 300
    assert np.abs(procrustes(moved, gt) - gt).max() < 1e-9 * 300
    assert mpjpe(gt + [5.0, -7.0, 11.0], gt).max() < 1e-12 * 300  # root alignment removes a translation
    off = gt.copy()
    off[:, 3, 0] += 17.0  # one joint of 17 off by 17 mm: 1 mm on average
    assert mpjpe(off, gt) == pytest.approx(np.ones(6), abs=1e-12)
    # a mirror image is not a rotation: Procrustes does not undo it
    assert pa_mpjpe(gt * [1, 1, -1], gt).min() > 10
    # PA-MPJPE never exceeds the error after the best translation alone (the mean), nor MPJPE about the means
    noisy = gt + rng.normal(size=gt.shape) * 20
    centred = lambda a: a - a.mean(1, keepdims=True)
    assert (pa_mpjpe(noisy, gt) <= np.linalg.norm(centred(noisy) - centred(gt), axis=-1).mean(1) + 1e-9).all()


def test_camera_round_trip_and_look_at():
    R, t = look_at([4000.0, 1000.0, 1500.0], [0.0, 0.0, 900.0])
    assert np.allclose(R @ R.T, np.eye(3), atol=1e-12) and np.linalg.det(R) == pytest.approx(1.0)
    cam = world_to_camera(np.array([[0.0, 0.0, 900.0], [0.0, 0.0, 1900.0]]), R, t)
    assert np.allclose(cam[0, :2], 0, atol=1e-9)  # the target is on the optical axis
    f, c = np.array([1145.0, 1143.0]), np.array([512.0, 515.0])
    uv = camera_to_pixel(cam, f, c)
    assert uv[1, 1] < uv[0, 1]  # a point 1 m higher is higher in the picture: image y is down
    assert np.allclose(pixel_to_camera(np.concatenate([uv, cam[:, 2:]], 1), f, c), cam, atol=1e-9)


# --- the real samples -----------------------------------------------------------------------------------------------

@needs_real
def test_real_samples_mmpose_form_projects_onto_its_2d_joints():
    images, samples = read_mmpose(str(REAL / "test_h36m_body3d.npz"))
    assert len(samples) == 4 and images[1]["file_name"].startswith("S1/S1_Directions_1.54138969/")
    for s in samples:
        distorted = camera_to_pixel(s["joint_cam"], s["f"], s["c"], s["k"], s["p"])
        assert np.abs(distorted - s["keypoints"][:, :2]).max() < 0.01  # measured 3e-5 px: the same projection
        pinhole = camera_to_pixel(s["joint_cam"], s["f"], s["c"])
        assert np.abs(pinhole - s["keypoints"][:, :2]).max() > 1.0  # Human3.6M's 2-D joints include its distortion
        assert 3000 < s["joint_cam"][0, 2] < 8000  # S is in metres, read as mm


@needs_real
def test_real_samples_in_3dmppe_form_match_the_mmpose_form(tmp_path):
    """The COCO-style JSON of the same frames (world joints in metres) with cameras.pkl (R camera-to-world, T the
    centre) rewritten in 3DMPPE's convention (X_cam = R X + t, mm) reads to the same camera joints and pixels."""
    cams = load_numpy_pickle(REAL / "cameras.pkl")
    coco = json.loads((REAL / "h36m_coco.json").read_text())
    anns = []
    for im, ann in zip(coco["images"], coco["annotations"]):
        subject, cam_id = im["file_name"].split("_")[0], im["file_name"].split(".")[1].split("_")[0]
        cam = cams[(subject, cam_id)]
        R = cam["R"].T
        anns.append({"image_id": im["id"], "bbox": ann["bbox"],
                     "cam_param": {"R": R.tolist(), "t": (-R @ cam["T"][:, 0] * 1000).tolist(),
                                   "f": cam["f"][:, 0].tolist(), "c": cam["c"][:, 0].tolist(),
                                   "k": cam["k"][:, 0].tolist(), "p": cam["p"][:, 0].tolist()},
                     "keypoints_world": (np.asarray(ann["keypoints_3d"]).reshape(17, 4)[:, :3] * 1000).tolist()})
    path = tmp_path / "h36m_val.json"
    path.write_text(json.dumps({"images": coco["images"], "annotations": anns}))
    _, mppe = read_3dmppe(str(path))
    _, mm = read_mmpose(str(REAL / "test_h36m_body3d.npz"))
    for a, b in zip(mppe, mm):
        assert np.abs(a["joint_cam"] - b["joint_cam"]).max() < 0.01  # mm (measured 2e-4)
        assert np.abs(a["keypoints"] - b["keypoints"]).max() < 0.01  # px, projected here with the distortion
        assert np.allclose(a["box"], b["box"], atol=1e-6)  # mmpose's centre and scale are the same square box


@needs_real
def test_real_samples_crop_and_come_back():
    data = TopDownH36M(str(REAL / "test_h36m_body3d.npz"), str(REAL), TopDownConfig(input_size=(256, 256), heatmaps=False))
    for i, s in enumerate(data.samples):
        sample = data[i]
        assert sample["image"].shape == (3, 256, 256)
        back = to_image_uvd(sample["joints"].double(), sample["crop_to_image"], (256, 256)).numpy()
        assert np.abs(back[:, :2] - s["keypoints"][:, :2]).max() < 1e-3
        assert np.abs(back[:, 2] - (s["joint_cam"][:, 2] - s["joint_cam"][0, 2])).max() < 1e-3  # mm (float32 / 2000)
        assert sample["target_weight"].sum() == 17


# --- Synth3D -------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def synth3d(tmp_path_factory):
    return generate(str(tmp_path_factory.mktemp("s3d") / "d"), n_train=6, n_val=2, seed=3,
                    config=Synth3DConfig(size=96, frames=4))


def test_synth3d_both_forms_read_the_same_people(synth3d):
    for split, n in (("train", 24), ("val", 8)):
        ann = h36m_annotations(synth3d, split)
        assert ann.endswith(f"h36m_{split}.json")
        _, a = read_3dmppe(ann)
        _, b = read_mmpose(ann.replace(".json", ".npz"))
        assert len(a) == len(b) == n
        for x, y in zip(a, b):
            assert np.abs(x["joint_cam"] - y["joint_cam"]).max() < 0.01  # world rounded to 1e-3 mm
            assert np.abs(x["keypoints"] - y["keypoints"]).max() < 1e-3
            assert np.allclose(x["f"], y["f"], atol=1e-5) and np.allclose(x["c"], y["c"], atol=1e-5)


def test_synth3d_labels_truth_and_noise(synth3d):
    root = Path(synth3d) / "annotations"
    for split in ("train", "val"):
        data = json.loads((root / f"h36m_{split}.json").read_text())
        truth = json.loads((root / f"truth_{split}.json").read_text())["annotations"]
        _, samples = read_3dmppe(str(root / f"h36m_{split}.json"))
        for ann, t, s in zip(data["annotations"], truth, samples):
            label, clean, noise = (np.asarray(ann["keypoints_world"]), np.asarray(t["joint_world"]),
                                   np.asarray(t["noise_mm"]))
            assert np.abs(label - clean - noise).max() < 1e-3  # rounded to 1e-3 mm
            assert (noise == 0).all() if split == "val" else (noise != 0).all()
            cam = {k: np.asarray(v) for k, v in ann["cam_param"].items()}
            # the 2-D joints are the clean joints projected (what the picture shows), not the noisy label's
            pix = camera_to_pixel(world_to_camera(clean, cam["R"], cam["t"]), cam["f"], cam["c"])
            assert np.abs(pix - s["keypoints"][:, :2]).max() < 0.01
            assert (s["joint_cam"][:, 2] > 1000).all()  # everyone is in front of the camera
        images = data["images"]
        assert all((Path(synth3d) / "images" / split / im["file_name"]).is_file() for im in images)


def test_synth3d_noise_follows_its_student_t_law(tmp_path):
    # 300 sequences x 2 frames x 17 joints x 3 coordinates of standardized noise against Student-t(3): the fraction
    # beyond 3 and the median of |t|, each within 4 binomial standard errors of the law's
    generate(str(tmp_path / "n"), n_train=300, n_val=1, seed=5, config=Synth3DConfig(frames=2, images=False))
    truth = json.loads((tmp_path / "n" / "annotations" / "truth_train.json").read_text())["annotations"]
    z = (np.stack([t["noise_mm"] for t in truth]) / (20.0 * NOISE_FACTOR[None, :, None])).reshape(-1)
    n = len(z)
    p = 2 * stats.t.sf(3, 3)
    assert abs((np.abs(z) > 3).mean() - p) < 4 * math.sqrt(p * (1 - p) / n)
    median = stats.t.ppf(0.75, 3)  # the median of |t|: half of the draws within it
    assert abs((np.abs(z) < median).mean() - 0.5) < 4 * math.sqrt(0.25 / n)


def test_synth3d_skeleton_is_rigid_and_within_its_limits():
    rng = np.random.default_rng(0)
    bones = sample_person(rng)
    J = {name: i for i, name in enumerate(H36M.keypoints)}
    lengths = []
    for _ in range(50):
        angles = {name: rng.uniform(lo, hi) for name, (lo, hi) in ANGLES.items()}
        p = pose_body(angles, bones)
        lengths.append([np.linalg.norm(p[a] - p[b]) for a, b in H36M.skeleton])
        thigh, shin = p[J["left_knee"]] - p[J["left_hip"]], p[J["left_ankle"]] - p[J["left_knee"]]
        bend = math.degrees(math.acos(np.dot(thigh, shin) / np.linalg.norm(thigh) / np.linalg.norm(shin)))
        assert bend == pytest.approx(angles["left_knee"], abs=1e-6)
        assert np.linalg.norm(p[J["left_hip"]] - p[J["right_hip"]]) == pytest.approx(2 * bones["hip"])
        assert p[J["left_hip"], 0] > 0 > p[J["right_hip"], 0]  # x is the person's left
    assert np.ptp(np.asarray(lengths), axis=0).max() < 1e-9  # the same bones in every pose


def test_synth3d_is_deterministic_and_refuses_bad_options(synth3d, tmp_path):
    again = generate(str(tmp_path / "again"), n_train=6, n_val=2, seed=3, config=Synth3DConfig(size=96, frames=4))
    for name in ("h36m_train.json", "h36m_val.npz", "cameras.pkl"):
        assert (Path(again) / "annotations" / name).read_bytes() == (Path(synth3d) / "annotations" / name).read_bytes()
    with pytest.raises(ValueError, match="at least 32 px"):
        generate(str(tmp_path / "bad"), 1, 1, config=Synth3DConfig(size=8))
    with pytest.raises(ValueError, match="not empty"):
        generate(synth3d, 1, 1)


def test_bad_h36m_annotations_are_one_sentence(tmp_path):
    path = tmp_path / "h36m_val.json"
    path.write_text(json.dumps({"images": [{"id": 1, "file_name": "a.jpg"}],
                                "annotations": [{"image_id": 1, "bbox": [0, 0, 1, 1]}]}))
    with pytest.raises(ValueError, match="annotation 0 .* has no cam_param, keypoints_world"):
        read_3dmppe(str(path))
    cam = {"R": np.eye(3).tolist(), "t": [0, 0, 0], "f": [1, 1], "c": [0, 0]}
    path.write_text(json.dumps({"images": [{"id": 1, "file_name": "a.jpg"}], "annotations": [
        {"image_id": 1, "bbox": [0, 0, 1, 1], "cam_param": cam, "keypoints_world": [[0, 0, 1]] * 16}]}))
    with pytest.raises(ValueError, match="keypoints_world must be 17 x 3 finite numbers, got 48 values"):
        read_3dmppe(str(path))
    np.savez(tmp_path / "h36m_train.npz", imgname=np.array(["S1/S1_X.123_000001.jpg"]))
    with pytest.raises(ValueError, match="cameras.pkl: not found"):
        read_mmpose(str(tmp_path / "h36m_train.npz"))
    with pytest.raises(ValueError, match="no annotations/h36m_test.json or .npz"):
        h36m_paths(str(tmp_path), "test")


def npz_case(synth3d, tmp_path, name, edit_npz=None, edit_cameras=None):
    """A copy of Synth3D's val split in mmpose's form with its arrays (a dict) or its cameras edited."""
    folder = tmp_path / name
    folder.mkdir()
    data = dict(np.load(Path(synth3d) / "annotations" / "h36m_val.npz"))
    cams = load_numpy_pickle(Path(synth3d) / "annotations" / "cameras.pkl")
    if edit_npz:
        edit_npz(data)
    if edit_cameras:
        for cam in cams.values():
            edit_cameras(cam)
    np.savez(folder / "h36m_val.npz", **data)
    (folder / "cameras.pkl").write_bytes(pickle.dumps(cams))
    return str(folder / "h36m_val.npz")


def _set(key, index, value):
    def edit(data):
        data[key] = data[key].astype(np.float64)
        data[key][index] = value
    return edit


@pytest.mark.parametrize("name, edit_npz, edit_cameras, message", [
    ("nan_scale", _set("scale", 1, np.nan), None, "entry 1 .*: scale must be 1 finite numbers, got 1 values with a NaN"),
    ("zero_scale", _set("scale", 0, 0.0), None, "entry 0 .*: scale must be positive, got \\[0.0\\]"),
    ("negative_scale", _set("scale", 0, -1.2), None, "entry 0 .*: scale must be positive"),
    ("nan_centre", _set("center", 2, np.nan), None, "entry 2 .*: center must be 2 finite numbers"),
    ("short_scale", lambda d: d.update(scale=d["scale"][:3]), None, "scale must hold one entry per imgname \\(8\\)"),
    ("zero_focal", None, lambda cam: cam.update(f=np.zeros((2, 1))), "cameras.pkl: camera .* f must be positive"),
    ("nan_focal", None, lambda cam: cam.update(f=np.full((2, 1), np.nan)), "camera f must be 2 finite numbers"),
    ("no_focal", None, lambda cam: cam.pop("f"), "camera .* needs f, c, k and p as numbers \\(KeyError"),
])
def test_bad_mmpose_annotations_are_named_at_load(synth3d, tmp_path, name, edit_npz, edit_cameras, message):
    """Before, these read and then trained: 'the model diverged, lower the lr', or a crop turned 180 degrees."""
    path = npz_case(synth3d, tmp_path, name, edit_npz, edit_cameras)
    with pytest.raises(ValueError, match=message):
        read_mmpose(path)


def test_a_corrupt_npz_is_one_sentence(synth3d, tmp_path):
    path = Path(npz_case(synth3d, tmp_path, "corrupt"))
    path.write_bytes(path.read_bytes()[:300])  # a cut download (BadZipFile before)
    with pytest.raises(ValueError, match="h36m_val.npz: not a readable npz file"):
        read_mmpose(str(path))


@pytest.mark.parametrize("edit, message", [
    (lambda a: a.update(bbox=[10, 10, -40, 80]), "bbox width and height must be positive"),
    (lambda a: a.update(keypoints_vis=[2] * 16), "keypoints_vis must hold 17 flags"),
    (lambda a: a["cam_param"].pop("R"), "cam_param must be a mapping with R, t, f and c"),
    (lambda a: a.update(cam_param="abc"), "cam_param must be a mapping with R, t, f and c, got 'abc'"),
    (lambda a: a["cam_param"].update(f=[0, 1145]), "camera f must be positive"),
])
def test_bad_3dmppe_annotations_are_named_at_load(synth3d, tmp_path, edit, message):
    data = json.loads((Path(synth3d) / "annotations" / "h36m_val.json").read_text())
    edit(data["annotations"][3])
    (tmp_path / "h36m_val.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="annotation 3 .*" + message):
        read_3dmppe(str(tmp_path / "h36m_val.json"))


def test_a_3dmppe_image_without_an_id_is_named_at_load(synth3d, tmp_path):
    data = json.loads((Path(synth3d) / "annotations" / "h36m_val.json").read_text())
    del data["images"][2]["id"]  # KeyError 'id' before
    (tmp_path / "h36m_val.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="h36m_val.json: image 2 .* needs an id and a file_name"):
        read_3dmppe(str(tmp_path / "h36m_val.json"))


# --- the single-stage model ------------------------------------------------------------------------------------------

def test_depth_targets_flip_with_their_joints(synth3d):
    path, image_dir = h36m_paths(synth3d, "val")
    cfg = dict(input_size=(64, 64), heatmaps=False)
    plain = TopDownH36M(path, image_dir, TopDownConfig(**cfg))
    flipped = TopDownH36M(path, image_dir, TopDownConfig(**cfg, augment=True, flip_prob=1.0, half_body_prob=0.0,
                                                         rotation_prob=0.0, scale_factor=0.0))[0]
    s, a = plain.samples[0], plain[0]
    depth = (s["joint_cam"][:, 2] - s["joint_cam"][0, 2]) / DEPTH_RANGE_MM
    assert np.abs(a["joints"][:, 2].numpy() - depth).max() < 1e-6
    mirrored = a["joints"].clone()
    mirrored[:, 0] = -mirrored[:, 0] - 1 / 64
    for l, r in H36M.flip_pairs:
        mirrored[[l, r]] = mirrored[[r, l]]
    assert flipped["flipped"] and torch.allclose(flipped["joints"], mirrored, atol=1e-4)


def test_perfect_single_stage_results_score_zero(synth3d):
    data = TopDownH36M(*h36m_paths(synth3d, "val"), TopDownConfig(input_size=(64, 64), heatmaps=False))
    results = []
    for i, s in enumerate(data.samples):
        uvd = np.concatenate([s["keypoints"][:, :2], s["joint_cam"][:, 2:] - s["joint_cam"][0, 2], np.ones((17, 1))], 1)
        results.append({"ann_id": i, "image_id": s["image_id"], "score": 1.0 - 0.01 * i, "keypoints": uvd.reshape(-1).tolist()})
    scores = h36m_scores(results, data)
    # the pixels are stored to 1e-3 px: back-projected at z / f < 7000 mm / 100 px that is at most 0.035 mm
    assert scores["MPJPE"] < 0.05 and scores["PA-MPJPE"] < 0.05
    with pytest.raises(ValueError, match="have no finite prediction"):
        h36m_scores(results[1:], data)


def test_the_3d_flow_uses_the_reference_masks():
    flow = make_flow(3)
    assert flow.masks.tolist() == [[0, 0, 1], [1, 1, 0]] * 3
    assert make_flow(2).masks.tolist() == [[0, 1], [1, 0]] * 3


@pytest.mark.float_sensitive
def test_a_single_stage_model_trains_and_evaluates_through_the_command_line(synth3d, tmp_path):
    from rlelab.checkpoints import load_checkpoint
    from rlelab.config import make_config
    from rlelab.train import train

    cfg = make_config(dict(task="h36m", data=synth3d, input_size=[64, 64], backbone="resnet18", loss="rle",
                           epochs=2, batch_size=8, workers=0, eval_every=1, out=str(tmp_path / "run"), warmup_steps=0))
    history = train(cfg, progress=False)
    assert all(0 < row["MPJPE"] < 2000 and 0 < row["PA-MPJPE"] <= row["MPJPE"] * 1.5 for row in history)
    best = min(history, key=lambda r: r["MPJPE"])  # lower is better: best.pt is the smallest MPJPE
    assert torch.load(tmp_path / "run" / "best.pt", weights_only=True)["epoch"] == best["epoch"]
    model, loaded, _ = load_checkpoint(str(tmp_path / "run" / "best.pt"))
    assert loaded.task == "h36m" and model.fc.out_features == 17 * 6 and model.flow.dim == 3
    args = [sys.executable, "-m", "rlelab", "eval", "--checkpoint", str(tmp_path / "run" / "best.pt"),
            "--results", str(tmp_path / "r.json")]
    if (REAL / "test_h36m_body3d.npz").exists():
        args += ["--ann-file", str(REAL / "test_h36m_body3d.npz"), "--image-dir", str(REAL)]
    out = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    rows = dict(line.split(None, 1) for line in out.stdout.strip().splitlines())
    assert rows["task"].startswith("h36m") and 0 < float(rows["MPJPE"]) < 5000


# --- the lifting model -----------------------------------------------------------------------------------------------

@pytest.mark.float_sensitive
def test_a_lifting_model_trains_saves_and_evaluates_through_the_command_line(tmp_path):
    data = str(tmp_path / "poses")
    out = subprocess.run([sys.executable, "-m", "rlelab", "synth3d", "--out", data, "--n-train", "40", "--n-val", "5",
                          "--no-images"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert not (Path(data) / "images").exists()
    for loss in ("l2", "rle"):
        run = str(tmp_path / loss)
        out = subprocess.run([sys.executable, "-m", "rlelab", "lift", "--data", data, "--loss", loss, "--epochs", "2",
                              "--width", "64", "--out", run, "--quiet"], capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        history = json.loads((Path(run) / "metrics.json").read_text())
        assert len(history) == 2 and all(0 < r["MPJPE"] < 2000 for r in history)
        out = subprocess.run([sys.executable, "-m", "rlelab", "eval", "--checkpoint", f"{run}/lift.pt", "--data", data],
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        rows = dict(line.split(None, 1) for line in out.stdout.strip().splitlines())
        assert float(rows["MPJPE"]) == pytest.approx(history[-1]["MPJPE"], abs=1e-4)  # the saved model, printed to 1e-4
        assert (rows["pearson"] == "nan") == (loss == "l2")  # L2 has no sigma_hat to be confident with
    again = subprocess.run([sys.executable, "-m", "rlelab", "lift", "--data", data, "--epochs", "1", "--out", run],
                           capture_output=True, text=True, timeout=300)
    assert again.returncode != 0 and "holds a run already (lift.pt" in again.stderr and "Traceback" not in again.stderr


def test_lift_claims_its_folder_before_training(tmp_path, monkeypatch):
    """An --out that is a file, or a folder another lift is writing to, is refused before any data is read."""
    from rlelab import lifting
    from rlelab.files import claim_folder

    monkeypatch.setattr(lifting, "read_h36m", lambda *a: pytest.fail("the data were read before the folder was claimed"))
    (tmp_path / "taken").write_text("a file")
    with pytest.raises(ValueError, match="taken is a file; --out names a folder"):
        lifting.train_lifting(lifting.LiftConfig(data=str(tmp_path), out=str(tmp_path / "taken")))
    lock = claim_folder(str(tmp_path / "busy"), lifting.LIFT_FILES, lifting.LIFT_FILES)  # as a running lift holds it
    try:
        with pytest.raises(ValueError, match="another run is writing to this folder"):
            lifting.train_lifting(lifting.LiftConfig(data=str(tmp_path), out=str(tmp_path / "busy")))
    finally:
        lock.close()


def test_an_interrupted_lift_keeps_its_epochs_and_resumes_exactly(synth3d, tmp_path, monkeypatch):
    """lift.pt is written every epoch; a run killed after epoch 2 of 3 goes on with --resume to the same model as a
    run never stopped (same weights, same metrics but the seconds each epoch took); a finished run or other settings
    are refused."""
    from rlelab import lifting

    def cfg(out, **kw):
        return lifting.LiftConfig(data=synth3d, epochs=3, width=32, batch_size=8, out=str(tmp_path / out), **kw)

    _, straight = lifting.train_lifting(cfg("straight"), progress=False)
    scored = lifting.evaluate_lifting
    calls = []

    def killed_in_epoch_3(*args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # as a kill after epoch 2's save
        return scored(*args)

    monkeypatch.setattr(lifting, "evaluate_lifting", killed_in_epoch_3)
    with pytest.raises(KeyboardInterrupt):
        lifting.train_lifting(cfg("resumed"), progress=False)
    monkeypatch.setattr(lifting, "evaluate_lifting", scored)
    kept = torch.load(tmp_path / "resumed" / "lift.pt", weights_only=True)
    assert kept["epoch"] == 2 and len(kept["history"]) == 2 and "optimizer" in kept
    with pytest.raises(ValueError, match="holds a run already .*continue it with --resume"):
        lifting.train_lifting(cfg("resumed"), progress=False)
    with pytest.raises(ValueError, match="was trained with width=32; now width=16. Resume with the same settings"):
        lifting.train_lifting(dataclasses.replace(cfg("resumed"), width=16), progress=False, resume=True)
    _, resumed = lifting.train_lifting(cfg("resumed"), progress=False, resume=True)
    untimed = lambda history: [{k: v for k, v in row.items() if k != "seconds"} for row in history]  # wall clock
    assert untimed(resumed) == untimed(straight) and all("seconds" in row for row in resumed)
    a, b = (torch.load(tmp_path / run / "lift.pt", weights_only=True) for run in ("straight", "resumed"))
    assert "optimizer" not in a and "optimizer" not in b  # a finished lift.pt holds the model alone
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    with pytest.raises(ValueError, match="a finished lifting run .*train a new one"):
        lifting.train_lifting(cfg("resumed"), progress=False, resume=True)


def test_lifting_trains_through_the_image_models_loop_of_steps(synth3d, monkeypatch):
    """train.train_epoch runs the lift's steps: its rows carry the trainer's columns, the lr decays by lr_decay per
    epoch, a last batch of one pose is dropped (batch norm), and a blown-up loss names its poses in one sentence."""
    from rlelab import lifting
    from test_train_start import blow_up_row

    cfg = lifting.LiftConfig(data=synth3d, epochs=2, width=16, batch_size=23, lr=1e-3, lr_decay=0.5, out=None)
    _, history = lifting.train_lifting(cfg, progress=False)  # 24 training poses: one batch of 23, one of 1 dropped
    assert [row["lr"] for row in history] == [1e-3, 5e-4] and [row["step"] for row in history] == [1, 2]
    assert all(k in row for row in history for k in ("loss", "grad_norm_max", "sigma_hat_median", "MPJPE", "pearson"))
    blow_up_row(monkeypatch, 3)
    with pytest.raises(FloatingPointError, match=r"epoch 1, step 1 \(lr 0.001\): the loss is (inf|nan); 1 of 23 people "
                                                 r"blew up \(pose 3 of the batch\)"):
        lifting.train_lifting(cfg, progress=False)


def test_lifting_inputs_are_root_relative_camera_coordinates(synth3d):
    from rlelab.lifting import lifting_arrays

    _, samples = read_3dmppe(h36m_annotations(synth3d, "val"))
    x, y = lifting_arrays(samples)
    assert x.shape == (8, 17, 2) and y.shape == (8, 16, 3)
    assert np.abs(x[:, 0]).max() == 0
    s = samples[0]
    # (u - c) / f of a joint minus the root's: x / z - x_root / z_root of its camera coordinates
    j = s["joint_cam"]
    assert np.allclose(x[0], j[:, :2] / j[:, 2:] - j[0, :2] / j[0, 2], atol=1e-5)  # pixels stored to 1e-3, f ~ 110 px
    assert np.allclose(y[0] * 1000, j[1:] - j[0], atol=1e-9)


def test_coco_joints_become_h36m_joints_and_lift():
    from rlelab.tasks.coco import COCO_KEYPOINTS
    from rlelab.lifting import LiftingModel, error_scale, h36m_from_coco, lift_pose

    coco = np.random.default_rng(0).uniform(0, 200, (17, 3))
    h = h36m_from_coco(coco)
    name = dict(zip(H36M.keypoints, h))
    for joint in ("left_wrist", "right_knee", "left_shoulder", "right_ankle"):
        assert (name[joint] == coco[COCO_KEYPOINTS.index(joint), :2]).all()
    hips = (coco[COCO_KEYPOINTS.index("left_hip"), :2] + coco[COCO_KEYPOINTS.index("right_hip"), :2]) / 2
    assert np.allclose(name["pelvis"], hips)
    model = LiftingModel(width=32, flow=True)
    mu, sigma = lift_pose(model, h, f=np.array([300.0, 300.0]), c=np.array([128.0, 128.0]))
    assert mu.shape == sigma.shape == (17, 3) and (mu[0] == 0).all() and (sigma[1:] > 0).all()

    class Cfg:  # the fields error_scale reads
        loss, variant, q, with_log_s, standardize = "rle", "paper", "laplace", False, True
    assert (error_scale(model, Cfg) == 1).all()  # standardized: sigma_hat is the error's std
    Cfg.standardize = False
    from rlelab.losses import p_phi_moments

    # without log s the flow holds G_phi alone (Q has no phi in it); with log s, the normalized Q G_phi s
    assert np.allclose(error_scale(model, Cfg), p_phi_moments(model.flow, None)[2].detach().double().numpy())
    Cfg.with_log_s = True
    assert np.allclose(error_scale(model, Cfg), p_phi_moments(model.flow, "laplace")[2].detach().double().numpy())
    Cfg.with_log_s = False
    Cfg.loss = "laplace"  # a unit Laplace's std is sqrt 2 (its scale is sigma_hat)
    assert np.allclose(error_scale(LiftingModel(width=32), Cfg), np.sqrt(2))


# --- 2-D people mixed into 3-D training (the paper's MPII + Human3.6M) -----------------------------------------------

REAL_MPII = ROOT.parent / "shared" / "data" / "real-samples" / "mpii"
REAL_COCO = ROOT.parent / "shared" / "data" / "real-samples" / "coco"


@pytest.fixture(scope="module")
def synth_mpii(tmp_path_factory):
    from rlelab.data.synthpose import generate as generate_2d
    return generate_2d(str(tmp_path_factory.mktemp("mpii") / "sp"), n_train=10, n_val=2, seed=5, layout="mpii")


def _mixed_people(h36m, people_2d):
    """Each 2-D person as the mixed set gives it, beside the sample of its own data set."""
    from rlelab.tasks.h36m import MixedH36M
    from rlelab.tasks.h36m import TO_H36M

    mixed = MixedH36M(h36m, people_2d)
    assert len(mixed) == len(h36m) + len(people_2d)
    for i in range(len(people_2d)):
        yield mixed[len(h36m) + i], people_2d[i], TO_H36M[people_2d.layout.name]


def _check_mapped(got, own, sources):
    assert got["joints"].shape == (17, 3) and (got["joints"][:, 2] == 0).all() and (got["depth_weight"] == 0).all()
    assert (got["image"] == own["image"]).all()
    for j, src in enumerate(sources):
        if not src:  # a joint the layout lacks (the spine) is not labelled
            assert got["target_weight"][j] == 0
            continue
        assert torch.allclose(got["joints"][j, :2], own["joints"][list(src)].mean(0), atol=1e-7)
        assert got["target_weight"][j] == own["target_weight"][list(src)].prod()


def test_2d_people_join_h36m_training_as_joints_without_depth(synth3d, synth_mpii):
    from rlelab.tasks.mpii import mpii_paths, TopDownMPII

    cfg = TopDownConfig(input_size=(64, 64), augment=True, heatmaps=False)
    h36m = TopDownH36M(*h36m_paths(synth3d, "train"), cfg, seed=1)
    people = TopDownMPII(*mpii_paths(synth_mpii, "train"), cfg, seed=1)
    for got, own, sources in _mixed_people(h36m, people):
        _check_mapped(got, own, sources)
        names = dict(zip(H36M.keypoints, got["joints"][:, :2]))
        mpii = dict(zip(people.layout.keypoints, own["joints"]))  # by name: a flip has already swapped both sides
        for h, m in (("neck", "upper_neck"), ("head", "head_top"), ("left_wrist", "left_wrist"), ("thorax", "thorax")):
            assert (names[h] == mpii[m]).all()
    from rlelab.tasks.h36m import MixedH36M
    mixed = MixedH36M(h36m, people)
    mixed.epoch = 3  # both parts draw their augmentation from the epoch
    assert h36m.epoch == people.epoch == 3
    first = mixed[0]
    assert (first["depth_weight"] == 1).all() and torch.equal(first["joints"], h36m[0]["joints"])
    with pytest.raises(ValueError, match="cannot be mixed into Human3.6M"):
        MixedH36M(h36m, h36m)


@pytest.mark.skipif(not (REAL_MPII / "test_mpii.json").exists() or not (REAL_COCO / "test_coco.json").exists(),
                    reason="no real MPII / COCO samples in ../shared")
def test_real_mpii_and_coco_people_join_h36m_training(synth3d):
    from rlelab.tasks.coco import TopDownCOCO
    from rlelab.tasks.mpii import TopDownMPII

    cfg = TopDownConfig(input_size=(64, 64), heatmaps=False)
    h36m = TopDownH36M(*h36m_paths(synth3d, "train"), cfg)
    for people in (TopDownMPII(str(REAL_MPII / "test_mpii.json"), str(REAL_MPII), cfg),
                   TopDownCOCO(str(REAL_COCO / "test_coco.json"), str(REAL_COCO), cfg)):
        labelled = 0
        for got, own, sources in _mixed_people(h36m, people):
            _check_mapped(got, own, sources)
            labelled += int(got["target_weight"].sum())
        assert labelled > 0


def _tiny_regression(flow2d=True):
    from torch import nn

    from rlelab.models.regression import RegressionModel
    torch.manual_seed(0)
    return RegressionModel(nn.Conv2d(3, 8, 3), 8, num_joints=17, dim=3, flow=True, flow2d=flow2d, sigma_init=0.2)


def test_joints_without_depth_train_through_the_2d_flow():
    """A 2-D-only joint's loss is Eq. 8 over (u, v) with the 2-D flow: its depth output, the 3-D flow and the
    other people's joints get nothing from it."""
    from rlelab.config import TrainConfig
    from rlelab.losses import rle_loss
    from rlelab.train import per_joint_loss

    model = _tiny_regression()
    cfg = TrainConfig(task="h36m", loss="rle", standardize=False, mix_2d="x")
    g = torch.Generator().manual_seed(1)
    batch = {"image": torch.rand(2, 3, 16, 16, generator=g), "joints": 0.1 * torch.randn(2, 17, 3, generator=g),
             "target_weight": torch.ones(2, 17), "depth_weight": torch.tensor([1.0, 0.0])[:, None].expand(2, 17)}
    per_joint, _, out = per_joint_loss(model, batch, cfg)
    out["mu_hat"].retain_grad()
    mu, sigma, y = out["mu_hat"], out["sigma_hat"], batch["joints"]
    assert torch.equal(per_joint[0], rle_loss(mu[0], sigma[0], y[0], flow=model.flow).per_joint)
    assert torch.equal(per_joint[1], rle_loss(mu[1, :, :2], sigma[1, :, :2], y[1, :, :2], flow=model.flow2d).per_joint)
    per_joint[1].sum().backward()
    assert (mu.grad[1, :, :2] != 0).all() and (mu.grad[1, :, 2] == 0).all() and (mu.grad[0] == 0).all()
    assert all(p.grad is None or (p.grad == 0).all() for p in model.flow.parameters())
    assert any(p.grad is not None and (p.grad != 0).any() for p in model.flow2d.parameters())
    l1 = TrainConfig(task="h36m", loss="l1", mix_2d="x")  # any loss: L1 over (u, v) alone
    per_joint, _, out = per_joint_loss(model, batch, l1)
    assert torch.allclose(per_joint[1], (out["mu_hat"][1, :, :2] - y[1, :, :2]).abs().sum(-1))


@pytest.mark.parametrize("head", ["regression", "integral"])  # integral: Sun et al.'s volumes, soft-argmaxed in 3-D
def test_a_mixed_model_trains_saves_and_loads(synth3d, synth_mpii, tmp_path, head):
    from rlelab.checkpoints import load_checkpoint
    from rlelab.config import make_config
    from rlelab.train import train

    keys = dict(task="h36m", data=synth3d, input_size=[64, 64], backbone="resnet18", loss="rle", epochs=1,
                batch_size=8, workers=0, eval_every=1, out=str(tmp_path / "run"), warmup_steps=0, mix_2d=synth_mpii,
                head=head)
    history = train(make_config(keys), progress=False)
    assert len(history) == 1 and math.isfinite(history[0]["loss"]) and history[0]["MPJPE"] > 0
    assert history[0]["step"] == (24 + 10) // 8  # the 3-D and the 2-D people, one epoch
    model, cfg, _ = load_checkpoint(str(tmp_path / "run" / "best.pt"))
    assert cfg.mix_2d == synth_mpii and model.flow.dim == 3 and model.flow2d.dim == 2
    for bad, says in ((dict(task="mpii"), "mix_2d adds 2-D-only people to a 3-D regression"),
                      (dict(mix_2d_task="h36m"), "mix_2d_task 'h36m' is not a 2-D task; choose one of coco, mpii.")):
        with pytest.raises(ValueError, match=says.replace("(", r"\(").replace(".", r"\.")):
            make_config({**keys, **bad})
