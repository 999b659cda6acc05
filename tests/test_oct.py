"""The OCT task on SynthOCT: determinism, the noise law actually added, the picture agreeing with its truth, the
way from a batch back to the scan's rows (shift and flip included), the metric, and train + eval end to end."""
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats

from rlelab.data.synthoct import SynthOCTConfig, generate
from rlelab.models import swap_pairs, unflip
from rlelab.tasks import TASKS
from rlelab.tasks.oct import (BOUNDARIES, LAYOUT, OCTScans, boundary_errors, column_positions, oct_scores, scan_errors,
                              to_scan_rows)
from rlelab.topdown import TopDownConfig

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def oct_set(tmp_path_factory):
    return Path(generate(str(tmp_path_factory.mktemp("oct") / "synthoct"), n_train=60, n_val=12, seed=5))


def digest(root):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def read(root, name):
    return json.loads((root / "annotations" / name).read_text())


def test_same_seed_same_bytes(tmp_path):
    a = digest(Path(generate(str(tmp_path / "a"), 5, 2, seed=3)))
    b = digest(Path(generate(str(tmp_path / "b"), 5, 2, seed=3)))
    c = digest(Path(generate(str(tmp_path / "c"), 5, 2, seed=4)))
    assert a == b and len(a) == 7 + 4
    assert a != c


def test_boundaries_are_ordered_and_the_noise_is_the_known_law(oct_set):
    labels, truth = read(oct_set, "synthoct_train.json"), read(oct_set, "truth_train.json")
    assert labels["info"]["boundary_names"] == list(BOUNDARIES)
    true = np.array([t["boundaries"] for t in truth["scans"]])  # (N, 8, 16)
    assert (np.diff(true, axis=1) >= 0).all()  # every layer has a thickness, top to bottom
    scale = np.array([t["noise_scale_px"] for t in truth["scans"]])
    hidden = np.array([s["hidden"] for s in labels["scans"]], dtype=bool)
    cfg = SynthOCTConfig()
    assert np.allclose(scale, np.where(hidden, cfg.hidden_factor, 1.0) * cfg.noise_px)
    assert 0.05 < hidden.mean() < 0.5  # fluid and vessels hide some boundaries, not most
    assert not hidden[:, :2].any()  # the ILM and NFL/GCL lie above every pocket and every vessel's shadow
    z = ((np.array([s["boundaries"] for s in labels["scans"]]) - true) / scale).reshape(-1)
    # Student-t, nu = 3: the KS distance of 7680 draws from their law is below 0.02 (its 1 % level) unless wrong
    assert stats.kstest(z, stats.t(3).cdf).statistic < 0.02
    assert stats.kstest(z, stats.norm.cdf).statistic > 0.03  # and a Gaussian of scale 1 is told apart


def test_the_picture_agrees_with_its_truth(oct_set):
    """Above the ILM is the dark vitreous, below it the bright nerve fibre layer: in every scan, at every seen column."""
    from PIL import Image

    labels, truth = read(oct_set, "synthoct_train.json"), read(oct_set, "truth_train.json")
    xs = np.round(column_positions(SynthOCTConfig().width)).astype(int)
    above, below = [], []
    for s, t in zip(labels["scans"], truth["scans"]):
        image = np.asarray(Image.open(oct_set / "images" / "train" / s["file_name"]), dtype=np.float64)
        ilm = np.array(t["boundaries"][0])
        for c in np.flatnonzero(~np.array(s["hidden"][0], dtype=bool)):
            r = int(round(ilm[c]))
            above.append(image[max(r - 4, 0):r - 1, xs[c]].mean())
            below.append(image[r + 1:r + 3, xs[c]].mean())
    assert np.mean(np.array(below) > np.array(above)) > 0.95


def test_hidden_is_in_the_picture(oct_set):
    """Where fluid or a vessel's shadow hides OPL/ONL or ISM/ISE, the step of brightness across it is under 0.6 of
    where it is seen (measured on these 60 scans: 0.43 and 0.44)."""
    from PIL import Image

    labels, truth = read(oct_set, "synthoct_train.json"), read(oct_set, "truth_train.json")
    lo = np.floor(column_positions(SynthOCTConfig().width)).astype(int)
    steps = {(b, hidden): [] for b in (4, 5) for hidden in (True, False)}
    for s, t in zip(labels["scans"], truth["scans"]):
        image = np.asarray(Image.open(oct_set / "images" / "train" / s["file_name"]), dtype=np.float64)
        for b in (4, 5):
            for c in range(16):
                r = int(round(t["boundaries"][b][c]))
                profile = image[:, lo[c]:lo[c] + 2].mean(1)  # the two pixel columns around the labelled one
                steps[b, bool(s["hidden"][b][c])].append(abs(profile[r + 1:r + 3].mean() - profile[r - 2:r].mean()))
    for b in (4, 5):
        assert len(steps[b, True]) > 50 and np.mean(steps[b, True]) < 0.6 * np.mean(steps[b, False]), BOUNDARIES[b]


def test_the_input_picture_shows_each_joint_where_its_label_says(tmp_path):
    """A scan that is one bright slanted line, labelled where the line is: after the shift, the flip and the resize,
    each joint's input row is the line's centre of brightness in the input picture (to 0.05 input pixels)."""
    from PIL import Image

    height, width = 96, 128
    line = 30 + 0.2 * np.arange(width)  # its row in each pixel column, drawn split between two rows: centre exact
    image = np.zeros((height, width))
    top, frac = np.floor(line).astype(int), line - np.floor(line)
    image[top, np.arange(width)] = 255 * (1 - frac)
    image[top + 1, np.arange(width)] = 255 * frac
    Image.fromarray(image.round().astype(np.uint8)).save(tmp_path / "line.png")
    xs = column_positions(width)
    rows = (30 + 0.2 * xs)[None].repeat(8, 0).tolist()
    scans = [{"id": i, "file_name": "line.png", "height": height, "width": width, "boundaries": rows,
              "hidden": [[0] * 16] * 8} for i in range(16)]
    (tmp_path / "scans.json").write_text(json.dumps({"scans": scans}))
    ds = OCTScans(str(tmp_path / "scans.json"), str(tmp_path), TopDownConfig(input_size=(64, width), augment=True,
                                                                           uint8=True))
    lo = np.floor(xs).astype(int)
    seen = set()
    for i in range(16):
        sample = ds[i]
        seen.add((sample["flipped"], float(sample["crop_to_image"][1, 2]) > -0.75))  # flipped; shifted up or down
        picture = sample["image"][0].double().numpy()
        want = (sample["joints"][:16, 0].double().numpy() + 0.5) * 64  # boundary 0: input rows (joint = row / h - 0.5)
        for c in range(16):
            profile = picture[:, lo[c]:lo[c] + 2].mean(1)
            assert abs((profile * np.arange(64)).sum() / profile.sum() - want[c]) < 0.05, (i, c)
    assert len(seen) >= 3  # flipped and not, shifted both ways: each way the test can fail was taken


def test_a_batch_maps_back_to_the_annotated_rows(oct_set):
    """joints -> to_scan_rows gives the labels again, through the resize, and through a shift and a flip."""
    labels = read(oct_set, "synthoct_train.json")["scans"]
    ann, images = TASKS["oct"].paths(str(oct_set), "train")
    for augment, size in ((False, (96, 128)), (False, (64, 96)), (True, (96, 128))):
        ds = OCTScans(ann, images, TopDownConfig(input_size=size, augment=augment))
        batch = torch.utils.data.default_collate([ds[i] for i in range(8)])
        assert batch["image"].shape == (8, 3, *size) and batch["joints"].shape == (8, 128, 1)
        rows = to_scan_rows(batch["joints"].double(), batch["crop_to_image"], size)[..., 0].reshape(8, 8, 16)
        for i in range(8):
            want = np.array(labels[i]["boundaries"])
            if batch["flipped"][i]:
                want = want[:, ::-1]  # the flipped scan's columns run the other way; its rows are the same
            assert np.abs(rows[i].numpy() - want).max() < 1e-3
    assert any(ds[i]["flipped"] for i in range(8))  # the augmented pass did flip some


def test_the_flip_test_mirrors_columns_and_keeps_rows():
    joints = torch.randn(2, 128, 1)
    assert torch.equal(unflip(joints, 128, LAYOUT.flip_pairs, LAYOUT.flip_negates), swap_pairs(joints, LAYOUT.flip_pairs))
    flipped = joints.reshape(2, 8, 16).flip(-1).reshape(2, 128, 1)
    assert torch.equal(swap_pairs(joints, LAYOUT.flip_pairs), flipped)


def test_scores_of_the_labels_themselves(oct_set):
    """Predicting the labels scores MAE 0; against the truth it is the mean |noise| the generator added."""
    ann, images = TASKS["oct"].paths(str(oct_set), "val")
    ds = OCTScans(ann, images)
    results = [{"image_id": s["id"], "keypoints": np.stack([np.array(s["boundaries"]), np.full((8, 16), 0.5)], -1)
                .reshape(-1).tolist(), "score": 0.5} for s in ds.samples]
    scores = oct_scores(results, ds)
    assert scores["MAE"] == 0 and scores["MAE_hidden"] == 0 and scores["MAE_ILM"] == 0
    off = [np.stack([np.array(s["boundaries"]) + np.arange(8)[:, None] + 0.5, np.full((8, 16), 0.5)], -1)
           for s in ds.samples]  # boundary b placed b + 0.5 px too low
    shifted = oct_scores([dict(r, keypoints=k.reshape(-1).tolist()) for r, k in zip(results, off)], ds)
    assert [shifted[f"MAE_{name}"] for name in BOUNDARIES] == pytest.approx(np.arange(8) + 0.5)
    assert shifted["MAE"] == pytest.approx(4.0)
    noise = np.mean([np.abs(np.array(s["boundaries"]) - ds.truth[s["id"]]).mean() for s in ds.samples])
    assert scores["MAE_truth"] == pytest.approx(noise)
    err, hidden, _ = boundary_errors(results, ds, "truth")
    assert err[hidden].mean() > 2 * err[~hidden].mean()  # the annotators' noise is 4x wider where a boundary is hidden


def test_a_missed_scan_or_a_foreign_truth_is_refused(oct_set, tmp_path):
    import shutil

    ann, images = TASKS["oct"].paths(str(oct_set), "val")
    ds = OCTScans(ann, images)
    results = [{"image_id": s["id"], "keypoints": [0.0] * 256, "score": 0.5} for s in ds.samples]
    with pytest.raises(ValueError, match=rf"1 of 12 scans \(ids \[{ds.samples[0]['id']}\]\) have no finite prediction"):
        oct_scores(results[1:], ds)  # a diverged prediction, dropped, must not make the mean smaller
    with pytest.raises(ValueError, match="one scan twice"):
        oct_scores(results + results[:1], ds)
    with pytest.raises(ValueError, match=r"scans it does not hold \(ids \[999\]\)"):
        oct_scores(results + [dict(results[0], image_id=999)], ds)
    with pytest.raises(ValueError, match="without augment"):
        scan_errors(None, None, OCTScans(ann, images, TopDownConfig(input_size=(96, 128), augment=True)))
    shutil.copy(ann, tmp_path / "synthoct_val.json")
    truth = read(oct_set, "truth_val.json")
    truth["scans"] = truth["scans"][1:]
    (tmp_path / "truth_val.json").write_text(json.dumps(truth))
    with pytest.raises(ValueError, match="truth_val.json: not the truth of the scans of"):
        OCTScans(str(tmp_path / "synthoct_val.json"), images)
    (tmp_path / "truth_val.json").write_text(json.dumps(truth["scans"]))  # a list, not a truth file's form
    with pytest.raises(ValueError, match="truth_val.json: not the truth of the scans of"):
        OCTScans(str(tmp_path / "synthoct_val.json"), images)
    shutil.copy(ann, tmp_path / "scans.json")  # another name: no truth is looked for
    assert OCTScans(str(tmp_path / "scans.json"), images).truth is None


def test_bad_annotation_file_is_one_sentence(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"scans": [{"id": 1, "file_name": "x.png", "boundaries": [[0] * 16] * 7}]}))
    with pytest.raises(ValueError, match=r"a.json: scan 0 is not id, file_name, height, width, boundaries \(8 x 16 rows\)"):
        OCTScans(str(tmp_path / "a.json"), str(tmp_path))


def test_only_the_regression_head_predicts_a_row(tmp_path):
    from rlelab.config import load_config

    with pytest.raises(ValueError, match=r"the heatmap head predicts joints of D = 2; task 'oct' has D=1 \(head: regression\)"):
        load_config(str(ROOT / "configs" / "synthoct_mnv3_rle.yaml"), {"head": "heatmap"})


def run(*args, cwd):
    return subprocess.run([sys.executable, "-m", "rlelab", *args], capture_output=True, text=True, cwd=cwd, timeout=600)


def test_generate_train_and_eval_from_the_command_line(tmp_path):
    """The README's commands on a tiny set: synthoct, train (RLE with its 1-D flow), eval."""
    out = run("synthoct", "--out", "oct", "--n-train", "64", "--n-val", "8", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    out = run("train", "--config", str(ROOT / "configs" / "synthoct_mnv3_rle.yaml"), "--data", "oct", "--out", "run",
              "--epochs", "1", "--batch_size=16", "--workers=0", "--eval_every=1", "--quiet", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    ckpt = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    row = ckpt["history"][-1]
    assert {"MAE", "MAE_hidden", "MAE_seen"} <= set(row) and 0 < row["MAE"] < 96
    out = run("eval", "--checkpoint", "run/last.pt", "--data", "oct", "--batch-size", "8", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "MAE_hidden" in out.stdout and "MAE_truth" in out.stdout and "oct (8 scans" in out.stdout
