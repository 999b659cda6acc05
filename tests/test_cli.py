"""The command line, run as a user runs it."""
import subprocess
import sys

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
