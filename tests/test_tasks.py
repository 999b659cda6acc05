"""One trainer for every task: COCO's results unchanged by the restructuring, the task in configs and
checkpoints, and config keys overridden on the command line."""
import subprocess
import sys
from pathlib import Path

import pytest

from rlelab.config import make_config, parse_overrides
from rlelab.tasks import COCO, MPII, TASKS

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = {"rle": ROOT / "data" / "synthpose_res18_rle.pt", "l1": ROOT / "data" / "synthpose_res18_l1.pt"}
# val AP of the shipped checkpoints (ground-truth boxes, flip test) on SynthPose val, seed 0, measured before the
# tasks existed (commit bbcfdb4): 0.0974705 and 0.0533677. One person's match flipping at one OKS threshold moves
# AP by about 1 / 294 / 10 = 3e-4, so three decimals hold on any machine's arithmetic.
BEFORE = {"rle": 0.0975, "l1": 0.0534}


@pytest.fixture(scope="module")
def synthpose_val(tmp_path_factory):
    # the images of SynthPose's val split depend on (seed, split, index) only: the 200 pictures the shipped
    # checkpoints were scored on, without drawing the 3000 training ones
    from rlelab.data.synthpose import generate

    return generate(str(tmp_path_factory.mktemp("val") / "sp"), n_train=0, n_val=200, seed=0)


@pytest.mark.skipif(not all(p.exists() for p in SHIPPED.values()), reason="no shipped checkpoints in data/")
@pytest.mark.parametrize("name", ["rle", "l1"])
def test_the_shipped_coco_checkpoints_evaluate_as_before(synthpose_val, name):
    from rlelab.checkpoints import load_checkpoint
    from rlelab.topdown import TopDownConfig
    from rlelab.evaluate import evaluate

    model, cfg, _ = load_checkpoint(str(SHIPPED[name]))
    assert cfg.task == "coco"  # written before tasks existed: read as COCO
    task = TASKS[cfg.task]
    data = task.dataset(*task.paths(synthpose_val, "val"), TopDownConfig(input_size=tuple(cfg.input_size), heatmaps=False))
    metrics, _ = evaluate(model, data, task, batch_size=64)
    assert len(data) == 294 and metrics["AP"] == pytest.approx(BEFORE[name], abs=1e-3)


def test_a_task_says_what_differs():
    assert (COCO.layout.num_joints, COCO.dim, COCO.metric) == (17, 2, "AP")
    assert (MPII.layout.num_joints, MPII.dim, MPII.metric) == (16, 2, "PCKh")
    assert COCO.better(0.5, None) and COCO.better(0.5, 0.4) and not COCO.better(0.4, 0.4)
    lower = type(COCO)(**{**COCO.__dict__, "higher_is_better": False})  # an error metric such as MPJPE
    assert lower.better(40.0, 50.0) and not lower.better(50.0, 40.0)


def test_the_regression_head_has_k_times_2d_outputs_and_a_d_dimensional_flow():
    from rlelab.models import build_model

    model = build_model("regression", "resnet18", num_joints=17, dim=3, flow=True)
    assert model.fc.out_features == 17 * 6 and model.flow.dim == 3
    import torch

    out = model(torch.zeros(2, 3, 64, 48))
    assert out["mu_hat"].shape == out["sigma_hat"].shape == (2, 17, 3)
    with pytest.raises(ValueError, match="heatmap head predicts joints of D = 2"):
        build_model("heatmap", "resnet18", dim=3)


def test_config_keys_are_overridden_as_yaml():
    got = parse_overrides(["--lr=3e-4", "--input_size", "[128, 96]", "--augment=false", "--max-steps-per-epoch", "5",
                           "--task=mpii", "--grad_clip=null"])
    assert got == {"lr": "3e-4", "input_size": [128, 96], "augment": False, "max_steps_per_epoch": 5, "task": "mpii",
                   "grad_clip": None}  # YAML 1.1 reads 3e-4 as text (it wants 3.0e-4) ...
    cfg = make_config(got)
    assert cfg.lr == 3e-4 and cfg.task == "mpii" and cfg.grad_clip is None  # ... and the config reads the number
    with pytest.raises(ValueError, match="--lr needs a value"):
        parse_overrides(["--lr"])
    with pytest.raises(ValueError, match="not a --key=value override"):
        parse_overrides(["lr=3"])
    with pytest.raises(ValueError, match="unknown task 'h36m17'; choose one of coco, mpii, h36m"):
        make_config({"task": "h36m17"})


def test_a_wrong_override_on_the_command_line_is_one_sentence():
    run = lambda *a: subprocess.run([sys.executable, "-m", "rlelab", "train", "--config",
                                     str(ROOT / "configs" / "synthpose_mpii_res18_rle.yaml"), *a],
                                    capture_output=True, text=True, timeout=120)
    out = run("--lr=fast")
    assert out.returncode != 0 and out.stderr.strip().splitlines()[-1] == (
        f"error: {ROOT / 'configs' / 'synthpose_mpii_res18_rle.yaml'} with --lr: lr must be float, got 'fast'.")
    out = run("--learning_rate=3")
    assert "unknown key(s) learning_rate" in out.stderr and "Traceback" not in out.stderr


def test_no_code_outside_a_task_asks_which_task_it_is():
    """A task's properties live in its file (``rlelab/tasks/NAME.py``): nothing else compares a task's name with
    one, or picks a task by its number of joints."""
    import re

    asks = re.compile(r"""(task|\.name)\s*[!=]=\s*["'](coco|mpii|h36m)["']|["'](coco|mpii|h36m)["']\s*[!=]=|"""
                      r"""num_joints\s*[!=]=|\.task\s+(not\s+)?in\s""")
    found = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
             for folder in ("rlelab", "app", "benchmarks", "docs") for path in sorted((ROOT / folder).rglob("*.py"))
             if "tasks" not in path.relative_to(ROOT).parts[:2]
             for n, line in enumerate(path.read_text().splitlines(), 1) if asks.search(line)]
    assert not found, "ask the Task instead:\n" + "\n".join(found)
    assert asks.search('if cfg.task == "coco":') and asks.search("if layout.num_joints == 17:")  # the pattern finds them


def test_each_task_is_one_file_that_holds_its_parts():
    import importlib

    for task in TASKS.values():
        module = importlib.import_module(f"rlelab.tasks.{task.name}")
        assert module.TASK is task and module.LAYOUT is task.layout
        for part in (task.paths, task.dataset, task.score):
            assert part.__module__ == module.__name__, (task.name, part)
        assert len(task.input_size) == 2 and task.photos
