"""The trainer's configuration: a config may name a base config and say only what differs from it."""
import dataclasses
from pathlib import Path

import pytest

from rlelab.config import load_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.parametrize("name, base, changed", [
    ("coco_res50_l1", "coco_res50_rle", {"loss": "l1", "out": "runs/coco_res50_l1"}),
    ("coco_res50_dle", "coco_res50_rle", {"loss": "dle", "out": "runs/coco_res50_dle"}),
    ("coco_res50_heatmap", "coco_res50_rle", {"head": "heatmap", "out": "runs/coco_res50_heatmap"}),
    ("synthpose_res18_l1", "synthpose_res18_rle", {"loss": "l1", "out": "runs/synthpose_res18_l1"}),
    ("synthpose_res18_heatmap", "synthpose_res18_rle", {"head": "heatmap", "out": "runs/synthpose_res18_heatmap"}),
])
def test_a_config_is_its_base_with_the_lines_it_changes(name, base, changed):
    cfg, base_cfg = load_config(CONFIGS / f"{name}.yaml"), load_config(CONFIGS / f"{base}.yaml")
    assert cfg == dataclasses.replace(base_cfg, **changed)
    assert cfg.epochs == base_cfg.epochs and cfg.input_size == base_cfg.input_size  # inherited, not defaulted


def test_every_shipped_config_loads():
    for path in sorted(CONFIGS.glob("*.yaml")):
        load_config(path)


def test_a_base_is_read_beside_the_config_and_overridden_by_it_and_by_the_command_line(tmp_path):
    (tmp_path / "a.yaml").write_text("lr: 0.01\nepochs: 3\nloss: l1\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\nepochs: 5\n")
    cfg = load_config(tmp_path / "b.yaml", {"batch_size": 8})
    assert (cfg.lr, cfg.epochs, cfg.loss, cfg.batch_size) == (0.01, 5, "l1", 8)


def test_null_on_the_command_line_reaches_the_config():
    # --grad_clip=null turns clipping off (it used to be dropped with the flags not given, leaving the default 35)
    from rlelab.config import parse_overrides

    cfg = load_config(CONFIGS / "synthpose_res18_rle.yaml", parse_overrides(["--grad_clip=null", "--init_from=null"]))
    assert cfg.grad_clip is None and load_config(CONFIGS / "synthpose_res18_rle.yaml").grad_clip == 35.0


def test_a_missing_or_circular_base_is_one_sentence(tmp_path):
    (tmp_path / "b.yaml").write_text("base: nowhere.yaml\n")
    with pytest.raises(ValueError, match="nowhere.yaml: config file not found"):
        load_config(tmp_path / "b.yaml")
    (tmp_path / "c.yaml").write_text("base: d.yaml\n")
    (tmp_path / "d.yaml").write_text("base: c.yaml\n")
    with pytest.raises(ValueError, match="its own base; break the circle"):
        load_config(tmp_path / "c.yaml")
