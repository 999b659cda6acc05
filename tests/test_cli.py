"""The command line, run as a user runs it."""
import subprocess
import sys

import pytest
import torch


def run(*args):
    return subprocess.run([sys.executable, "-m", "rlelab", *args], capture_output=True, text=True, timeout=300)


def test_toy_help_documents_every_option():
    out = run("toy", "--help")
    assert out.returncode == 0
    for option in ("--law", "--dim", "--loss", "--q", "--variant", "--no-log-s", "--steps", "--n-train",
                   "--batch-size", "--lr", "--flow-lr", "--seed", "--n-eval", "--no-oracle", "--save"):
        assert option in out.stdout


def test_toy_fit_prints_summary_and_saves(tmp_path):
    path = tmp_path / "rle.pt"
    out = run("toy", "--law", "student_t", "--loss", "rle", "--steps", "40", "--n-eval", "2000", "--save", str(path))
    assert out.returncode == 0, out.stderr
    for field in ("KL(true || learned)", "RMSE of mu_hat", "oracle RMSE", "RMSE / oracle", "saved to"):
        assert field in out.stdout
    assert torch.load(path, weights_only=True)["config"]["loss"] == "rle"


def test_bad_option_is_one_clear_sentence():
    out = run("toy", "--law", "correlated", "--dim", "1", "--steps", "5")
    assert out.returncode != 0
    assert "error: the 'correlated' law is 2-D: use dim=2." in out.stderr
    assert "Traceback" not in out.stderr


LIFT_PT = __import__("pathlib").Path(__file__).resolve().parents[1] / "data" / "synth3d_lift_rle.pt"
CONFIG = LIFT_PT.parents[1] / "configs" / "synthpose_res18_rle.yaml"


@pytest.mark.parametrize("argv, says", [
    (["import-weights", "empty.pth", "--format", "official", "--out", "o.pt"],
     "error: empty.pth: not a readable torch file (EOFError); it may be truncated: download it again."),
    (["synth3d", "--out", "s3", "--n-train", "-3", "--no-images"],
     "error: synth3d: -3 train and 40 val sequences; each count must be 0 or more, and one of them at least 1."),
    (["synth3d", "--out", "s3", "--noise-mm", "inf", "--no-images"], "and the noise a finite scale >= 0."),
    (["synth3d", "--out", "a_file", "--n-train", "1", "--n-val", "1", "--no-images"],
     "error: a_file is a file; --out names the folder to write to."),
    (["synthpose", "--out", "sp", "--n-train", "-3"], "each count must be 0 or more, and one of them at least 1."),
    (["train", "--config", "a_folder"], "error: a_folder is a folder; --config names a YAML file"),
    (["export", "--checkpoint", str(LIFT_PT), "--out="], "error: --out is empty; give a file name."),
    (["export", "--checkpoint", str(LIFT_PT), "--out", "small.pt"], "export is for image models."),
    (["train", "--config", str(CONFIG), "--workers=1000000", "--data=sp", "--out=run"], "workers must be at most"),
    (["lift", "--width", "0", "--out", "l"], "error: lift: width 0, blocks 2, dropout 0.5; they need width >= 1"),
])
def test_impossible_inputs_are_one_sentence_before_any_work(tmp_path, monkeypatch, argv, says):
    from rlelab.__main__ import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty.pth").write_bytes(b"")
    (tmp_path / "a_file").write_text("a user's file")
    (tmp_path / "a_folder").mkdir()
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert says in str(done.value.code) and "\n" not in str(done.value.code), done.value.code
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "a_folder", "empty.pth"]  # nothing written
    assert (tmp_path / "a_file").read_text() == "a user's file"
