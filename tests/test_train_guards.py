"""The trainer and the command line never lie and never lose what a user made: run folders belong
to one run, resume takes any complete saved state, labels and configs are checked when they are read."""
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from rlelab.tasks.coco import coco_paths, TopDownCOCO
from rlelab.data.synthpose import generate
from rlelab.files import TEMP_SUFFIX
from rlelab.config import load_config, make_config
from rlelab.train import claim_run_folder, train

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    return generate(str(tmp_path_factory.mktemp("guards") / "sp"), n_train=8, n_val=4, seed=5)


def tiny(synth, out, **overrides):
    raw = dict(data=synth, input_size=[64, 48], augment=False, backbone="resnet18", loss="rle", epochs=1,
               batch_size=4, max_steps_per_epoch=1, workers=0, eval_every=0, out=str(out), seed=0)
    raw.update(overrides)
    return make_config(raw)


def cli(*args):
    return subprocess.run([sys.executable, "-m", "rlelab", *map(str, args)], capture_output=True, text=True, cwd=ROOT,
                          timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})


def copy_data(synth, tmp_path, edit=None, split="train"):
    """A copy of the SynthPose folder whose ``split`` annotations went through ``edit(coco)``."""
    root = tmp_path / "data"
    shutil.copytree(synth, root)
    path = Path(coco_paths(str(root), split)[0])
    coco = json.loads(path.read_text())
    if edit is not None:
        edit(coco)
    path.write_text(json.dumps(coco))
    return str(root)


# --- run folders ----------------------------------------------------------------------------------

def test_a_fresh_run_into_a_used_folder_refuses_unless_overwrite(synth, tmp_path):
    train(tiny(synth, tmp_path / "run"), progress=False)
    before = (tmp_path / "run" / "last.pt").read_bytes()
    with pytest.raises(ValueError, match=r"holds a run already \(last.pt, metrics.csv\); continue it with --resume"):
        train(tiny(synth, tmp_path / "run", seed=1), progress=False)
    assert (tmp_path / "run" / "last.pt").read_bytes() == before
    train(tiny(synth, tmp_path / "run", seed=1), progress=False, overwrite=True)
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=True)["config"]["seed"] == 1


def test_a_second_trainer_on_a_busy_folder_refuses(synth, tmp_path):
    lock = claim_run_folder(str(tmp_path / "run"))  # as a running trainer holds it
    try:
        with pytest.raises(ValueError, match="another run is writing to this folder"):
            train(tiny(synth, tmp_path / "run"), progress=False)
    finally:
        lock.close()
    train(tiny(synth, tmp_path / "run"), progress=False)  # free again


def test_temp_files_of_an_interrupted_save_are_removed_and_saves_are_readable_by_others(synth, tmp_path):
    (tmp_path / "run").mkdir()
    stale = tmp_path / "run" / f".last.pt.k1ll3d{TEMP_SUFFIX}"
    stale.write_bytes(b"half a checkpoint")
    old = os.umask(0o022)
    try:
        train(tiny(synth, tmp_path / "run"), progress=False)
    finally:
        os.umask(old)
    assert not stale.exists()
    assert stat.S_IMODE(os.stat(tmp_path / "run" / "last.pt").st_mode) == 0o644  # mkstemp alone makes 0600


def test_resume_takes_the_newest_complete_state(synth, tmp_path):
    cfg = tiny(synth, tmp_path / "run", eval_every=1, epochs=1)
    train(cfg, progress=False)
    os.remove(tmp_path / "run" / "last.pt")  # a kill between the epoch's best.pt and its last.pt
    history = train(tiny(synth, tmp_path / "run", eval_every=1, epochs=2), resume=True, progress=False)
    assert [row["epoch"] for row in history] == [1, 2]
    (tmp_path / "run" / "last.pt").write_bytes(b"a torn file")  # unreadable: best.pt (epoch 2) is taken
    (tmp_path / "run" / "best.pt").write_bytes(b"also torn")
    with pytest.raises(ValueError, match="no readable last.pt or best.pt to resume from"):
        train(tiny(synth, tmp_path / "run", epochs=3), resume=True, progress=False)


def test_resume_refuses_another_loss_and_says_when_there_is_nothing_to_do(synth, tmp_path, capsys):
    train(tiny(synth, tmp_path / "run"), progress=False)
    with pytest.raises(ValueError, match=r"was trained with loss='rle'; the config now says loss='l1'"):
        train(tiny(synth, tmp_path / "run", loss="l1", epochs=2), resume=True, progress=False)
    capsys.readouterr()
    train(tiny(synth, tmp_path / "run"), resume=True, progress=False)
    assert "all 1 epochs are trained already" in capsys.readouterr().out


# --- labels ---------------------------------------------------------------------------------------

def test_joints_that_never_fall_inside_their_crops_stop_training(synth, tmp_path):
    def outside(coco):
        for a in coco["annotations"]:
            a["keypoints"] = [v + 10_000 if i % 3 == 0 else v for i, v in enumerate(a["keypoints"])]

    data = copy_data(synth, tmp_path, outside)
    with pytest.raises(ValueError, match="not one labelled joint fell inside its crop"):
        train(tiny(synth, tmp_path / "run", data=data), progress=False)


def test_duplicate_ids_and_shared_images_are_refused(synth, tmp_path):
    def duplicate(coco):
        coco["annotations"][1]["id"] = coco["annotations"][0]["id"]

    data = copy_data(synth, tmp_path, duplicate)
    with pytest.raises(ValueError, match=r"annotation ids \[\d+\] are used more than once"):
        TopDownCOCO(*coco_paths(data, "train"))
    shutil.rmtree(data)
    data = copy_data(synth, tmp_path)
    shutil.copy(coco_paths(data, "train")[0], coco_paths(data, "val")[0])  # val = train, images copied along
    for name in os.listdir(coco_paths(data, "train")[1]):
        shutil.copy(os.path.join(coco_paths(data, "train")[1], name), coco_paths(data, "val")[1])
    with pytest.raises(ValueError, match="images .* are in the training split too"):
        train(tiny(synth, tmp_path / "run", data=data, eval_every=1), progress=False)


def test_missing_and_unreadable_images_are_one_line_even_from_workers(synth, tmp_path):
    data = copy_data(synth, tmp_path)
    ann, images = coco_paths(data, "train")
    first = sorted(os.listdir(images))[0]
    os.remove(os.path.join(images, first))
    with pytest.raises(ValueError, match=f"{first}: cannot read image .*no such file"):
        TopDownCOCO(ann, images)  # found when the annotations are read, not mid-epoch
    Path(images, first).write_bytes(b"not a jpeg")
    cfg = tiny(synth, tmp_path / "run", data=data, workers=1, max_steps_per_epoch=None, batch_size=2)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(vars(cfg)))
    done = cli("train", "--config", tmp_path / "c.yaml", "--quiet")
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [f"error: {os.path.join(images, first)}: cannot read image "
                                                f"{int(first.split('.')[0])} (RuntimeError); check the image folder."]


def test_an_empty_annotation_list_is_named_as_such(synth, tmp_path):
    data = copy_data(synth, tmp_path, lambda coco: coco.update(annotations=[]))
    with pytest.raises(ValueError, match="no person box with a labelled joint; nothing to train on"):
        train(tiny(synth, tmp_path / "run", data=data), progress=False)


# --- configs and the command line -----------------------------------------------------------------

@pytest.mark.parametrize("line, message", [
    ("lr: -0.001", "lr must be a positive number, got -0.001"),
    ("lr: fast", "lr must be float, got 'fast'"),
    ("lr: .nan", "lr must be a positive number, got nan"),
    ("lr_milestones: 5", "lr_milestones must be list, got 5"),
    ("lr_milestones: [200, 170]", "lr_milestones must be increasing epoch numbers"),
    ("q: cauchy", "unknown q 'cauchy'; choose one of gaussian, laplace"),
    ("eval_every: -1", "eval_every must be an integer of at least 0, got -1"),
    ("augment: maybe", "augment must be bool, got 'maybe'"),
])
def test_every_bad_config_value_is_one_sentence_naming_file_and_key(tmp_path, line, message):
    path = tmp_path / "bad.yaml"
    path.write_text(f"loss: rle\n{line}\n")
    with pytest.raises(ValueError, match=f"^{path}: " + message.replace("(", r"\(").replace("[", r"\[")):
        load_config(path)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("lr", ["-1", "nan", "1e6"])
def test_the_toy_refuses_a_learning_rate_it_cannot_train_with(lr):
    done = cli("toy", "--lr", lr, "--steps", "5", "--no-oracle", "--n-eval", "500")
    assert done.returncode != 0 and done.stderr.strip().splitlines() == [
        f"error: lr must be in (0, 1], got {float(lr)!r}; Adam diverges far above 1e-2."]


def test_an_empty_validation_split_is_refused_before_training(synth, tmp_path):
    data = copy_data(synth, tmp_path, edit=lambda coco: coco.update(annotations=[]), split="val")
    with pytest.raises(ValueError, match="the validation split holds no people to score AP on; add some, or train "
                                         "with eval_every: 0"):
        train(tiny(data, tmp_path / "run", eval_every=1), progress=False)
    assert not (tmp_path / "run" / "metrics.csv").exists()  # refused at the start, not after an epoch of training


def test_a_validation_that_fails_keeps_the_trained_epoch(synth, tmp_path, monkeypatch):
    """The scoring fails (bad validation data, not the model): last.pt still holds the epoch, and --resume goes on."""
    import rlelab.train

    scored = rlelab.train._validate
    monkeypatch.setattr(rlelab.train, "_validate", lambda *a: (_ for _ in ()).throw(ValueError("val.json: no head box")))
    cfg = tiny(synth, tmp_path / "run", eval_every=1, epochs=2)
    with pytest.raises(ValueError, match=r"val.json: no head box \(.*last.pt holds epoch 1, trained but not scored: fix "
                                         "that and train on with --resume.\)"):
        train(cfg, progress=False)
    kept = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert kept["epoch"] == 1 and len(kept["history"]) == 1 and not (tmp_path / "run" / "best.pt").exists()
    monkeypatch.setattr(rlelab.train, "_validate", scored)
    history = train(cfg, resume=True, progress=False)
    assert [row["epoch"] for row in history] == [1, 2] and "AP" in history[-1]


def test_export_of_something_else_and_eval_help_are_plain(tmp_path):
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    done = cli("export", "--checkpoint", tmp_path / "junk.pt", "--out", tmp_path / "small.pt")
    assert done.returncode != 0 and done.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'junk.pt'}: not a readable torch checkpoint (UnpicklingError)."]
    assert not (tmp_path / "small.pt").exists()
    help_text = " ".join(cli("eval", "--help").stdout.split())
    assert "(default: None)" not in help_text
    assert "--batch-size BATCH_SIZE boxes per forward pass" in help_text and "--workers WORKERS data loader" in help_text


def test_export_and_eval_refuse_an_existing_file_before_the_work(tmp_path):
    shipped = ROOT / "data" / "synthpose_res18_rle.pt"
    mine = tmp_path / "mine.pt"
    mine.write_bytes(b"a classmate's model")
    done = cli("export", "--checkpoint", shipped, "--out", mine)
    assert done.returncode != 0 and done.stderr.strip().splitlines() == [
        f"error: {mine} exists; choose another --out, or add --overwrite to replace it."]
    assert mine.read_bytes() == b"a classmate's model"
    done = cli("export", "--checkpoint", shipped, "--out", mine, "--overwrite")
    assert done.returncode == 0, done.stderr
    assert torch.load(mine, weights_only=True)["model"].keys() == torch.load(shipped, weights_only=True)["model"].keys()
    results = tmp_path / "results.json"
    results.write_text("[]")
    # refused before the data are read: the annotation file named here does not even exist
    done = cli("eval", "--checkpoint", shipped, "--ann-file", tmp_path / "none.json", "--image-dir", tmp_path,
               "--results", results)
    assert done.returncode != 0 and done.stderr.strip().splitlines() == [
        f"error: {results} exists; choose another --results, or add --overwrite to replace it."]
    assert results.read_text() == "[]"


def test_metrics_csv_shows_the_learning_rate_each_epoch_trained_with(synth, tmp_path):
    def lr_column(out, **overrides):
        train(tiny(synth, tmp_path / out, epochs=2, lr_milestones=[1], **overrides), progress=False)
        rows = (tmp_path / out / "metrics.csv").read_text().splitlines()
        rows = [dict(zip(rows[0].split(","), r.split(","))) for r in rows[1:]]
        return [float(r["lr"]) for r in rows], [int(r["step"]) for r in rows]

    assert lr_column("run", warmup_steps=0)[0] == pytest.approx([1e-3, 1e-4])
    # during a warmup, the rate of each epoch's last step (0-based: the steps done so far minus one)
    lr, done = lr_column("warm", warmup_steps=10)
    assert lr == pytest.approx([base * (0.001 + 0.999 * (n - 1) / 10) for base, n in zip([1e-3, 1e-4], done)])
