"""Integral Pose (soft-argmax) and the auxiliary heatmap loss: the head, its arithmetic and its training."""
import pytest
import torch

from rlelab.config import make_config, method
from rlelab.data.synthpose import generate
from rlelab.models import build_model, complexity, predict, unflip
from rlelab.models.integral import soft_argmax
from rlelab.tasks.coco import FLIP_PAIRS
from rlelab.train import train, train_data_config

SIZE = (64, 48)


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    return generate(str(tmp_path_factory.mktemp("integral") / "sp"), n_train=8, n_val=4, seed=3)


def test_soft_argmax_of_one_cell_is_that_cells_centre():
    # cell (row 5, column 7) of a 16 x 12 heatmap of a 64 x 48 crop covers pixels x 28..31, y 20..23: centres 29.5,
    # 21.5; u = x / 48 - 0.5 (a pixel x at u = x / W - 0.5, as models.unflip has it)
    h = torch.full((1, 1, 16, 12), -1e4)
    h[0, 0, 5, 7] = 0.0
    u, v = soft_argmax(h, SIZE)[0, 0].tolist()
    assert u == pytest.approx(29.5 / 48 - 0.5, abs=1e-6) and v == pytest.approx(21.5 / 64 - 0.5, abs=1e-6)
    flat = soft_argmax(torch.zeros(1, 1, 16, 12), SIZE)[0, 0]  # a flat heatmap: the mean of all pixel centres
    assert flat.tolist() == pytest.approx([23.5 / 48 - 0.5, 31.5 / 64 - 0.5], abs=1e-6)


def test_soft_argmax_of_a_mirrored_heatmap_is_the_mirrored_point():
    # what makes the flip test exact for this head: the heatmap of a mirrored crop mirrored back is the same point
    h = torch.randn(3, 17, 16, 12) * 3
    direct = soft_argmax(h, SIZE)
    mirrored = soft_argmax(h.flip(-1), SIZE)
    assert torch.allclose(unflip(mirrored, SIZE[1], []), direct, atol=1e-6)


def test_integral_model_outputs_and_table_5_count():
    torch.manual_seed(0)
    model = build_model("integral", "resnet18", flow=True, sigma_init=0.2).eval()
    out = predict(model, torch.randn(2, 3, *SIZE), FLIP_PAIRS)
    assert out["joints"].shape == (2, 17, 2) and out["sigma_hat"].shape == (2, 17, 2)
    assert out["joints"].abs().max() < 0.5 and out["sigma_hat"].sub(0.2).abs().max() < 0.05  # starts flat, at sigma_init
    # Table 5: Integral Pose has SimplePose's net (34.0M, 9.7 "GFLOPs" at 256x192); ours adds the FC of sigma_hat,
    # 2048 x (17 x 2) weights and 34 biases
    integral, heatmap = (complexity(build_model(h, "resnet50"), (256, 192)) for h in ("integral", "heatmap"))
    assert integral["params"] - heatmap["params"] == 2048 * 34 + 34
    assert integral["macs"] - heatmap["macs"] == 2048 * 34 and round(integral["macs"] / 1e9, 1) == 9.7


def test_3d_integral_pose_soft_argmaxes_a_volume_and_matches_table_8():
    volume = torch.full((1, 1, 64, 16, 16), -1e4)
    volume[0, 0, 40, 3, 5] = 0.0  # depth bin 40 of 64 over [-0.5, 0.5]: centre 40.5 / 64 - 0.5
    u, v, d = soft_argmax(volume, (64, 64))[0, 0].tolist()
    assert (u, v, d) == pytest.approx((21.5 / 64 - 0.5, 13.5 / 64 - 0.5, 40.5 / 64 - 0.5), abs=1e-6)
    # Table 8 (Integral Pose on Human3.6M, ResNet-50 at 256x256): 34.3M parameters, 14.1 GFLOPs; ours adds the
    # FC of sigma_hat (2048 x 51 + 51)
    count = complexity(build_model("integral", "resnet50", dim=3), (256, 256))
    assert round((count["params"] - 2048 * 51 - 51) / 1e6, 1) == 34.3 and round(count["macs"] / 1e9, 1) == 14.0


def test_integral_and_aux_heatmap_configs_say_what_they_train():
    integral = make_config({"head": "integral", "loss": "l1"})
    assert method(integral) == "integral l1" and not train_data_config(integral).heatmaps
    aux = make_config({"aux_heatmap_weight": 0.5})
    assert method(aux) == "rle" and train_data_config(aux).heatmaps  # the loader draws the aux head's targets
    with pytest.raises(ValueError, match="aux_heatmap_weight is an option of head: regression; remove it for head: heatmap"):
        make_config({"head": "heatmap", "aux_heatmap_weight": 1.0})
    with pytest.raises(ValueError, match="the heatmap head predicts joints of D = 2; task .h36m. has D=3 \\(head: regression or integral\\)"):
        make_config({"head": "heatmap", "task": "h36m"})
    assert make_config({"head": "integral", "task": "h36m"}).head == "integral"  # volumes, as Sun et al.'s


def test_the_aux_heatmaps_train_beside_the_fc_and_leave_the_prediction_alone():
    torch.manual_seed(0)
    plain = build_model("regression", "resnet18", flow=True)
    torch.manual_seed(0)
    aux = build_model("regression", "resnet18", flow=True, aux_heatmaps=True)
    assert set(plain.state_dict()) < set(aux.state_dict())
    aux.load_state_dict(plain.state_dict(), strict=False)  # the same backbone and FC
    images = torch.randn(2, 3, *SIZE)
    plain.eval(), aux.eval()
    assert "heatmaps" not in aux(images)  # at test time the FC's prediction alone, as without the head
    assert torch.equal(aux(images)["mu_hat"], plain(images)["mu_hat"])
    out = aux.train()(images)
    assert out["heatmaps"].shape == (2, 17, 16, 12)  # in training, K heatmaps at 1/4 as well
    batch = {"joints": torch.rand(2, 17, 2) - 0.5, "target_weight": (torch.rand(2, 17) > 0.3).float(),
             "heatmaps": torch.rand(2, 17, 16, 12)}
    alone = aux.per_joint_loss(out, batch, make_config({"loss": "l1", "aux_heatmap_weight": 1e-9}))[0]
    both = aux.per_joint_loss(out, batch, make_config({"loss": "l1", "aux_heatmap_weight": 0.5}))[0]
    mse = 0.5 * ((out["heatmaps"] - batch["heatmaps"]) ** 2).mean((2, 3)) * batch["target_weight"]
    assert torch.allclose(both - alone, 0.5 * mse, atol=1e-6)  # Table 14: the regression loss + weight x the MSE


@pytest.mark.parametrize("overrides", [{"head": "integral", "loss": "l1"}, {"head": "integral", "loss": "rle"},
                                       {"aux_heatmap_weight": 1.0}])
def test_the_trainer_trains_integral_pose_and_the_aux_loss(synth, tmp_path, overrides):
    raw = dict(data=synth, input_size=list(SIZE), augment=False, backbone="resnet18", epochs=2, batch_size=4,
               max_steps_per_epoch=2, workers=0, eval_every=2, out=str(tmp_path / "run"), seed=0, **overrides)
    history = train(make_config(raw), progress=False)
    assert [row["epoch"] for row in history] == [1, 2] and all(row["loss"] == row["loss"] for row in history)
    assert "AP" in history[-1] and history[-1]["non_finite"] == 0  # evaluated with the flip test, every prediction finite


@pytest.mark.float_sensitive
def test_integral_pose_learns_one_batch(synth, tmp_path):
    # test_pose's overfit of the 8 training people (here 60 Adam steps, cosine lr), for the soft-argmax head with
    # RLE. Measured in three seeds: the loss from 0.47-0.49 to -3.95 to -4.11, the mean OKS from 0.065 (untrained)
    # to 0.43-0.45 (100 steps: 0.47-0.50; the FC regression reaches 0.97 there: the heatmaps learn slower).
    # Asserted with room for any arithmetic: the loss falls by more than 1 and the mean OKS clears 0.35 (a joint
    # 1.45 tolerances from its label).
    from test_pose import overfit_one_batch

    first, last, before, after = overfit_one_batch(synth, tmp_path, "integral", seed=0, steps=60)
    assert last < first - 1.0 and before["mean_oks"] < 0.1 and after["mean_oks"] > 0.35, (first, last, before, after)


def test_the_readme_command_trains_and_evaluates_integral_pose(synth, tmp_path):
    # `python -m rlelab train --config configs/synthpose_res18_integral.yaml`, then `eval`, on the tiny set
    from test_pose import ROOT, run_cli

    out = tmp_path / "run"
    done = run_cli("-m", "rlelab", "train", "--config", str(ROOT / "configs" / "synthpose_res18_integral.yaml"),
                   f"--data={synth}", f"--out={out}", "--epochs=1", "--batch_size=4", "--max_steps_per_epoch=2",
                   "--workers=0", "--eval_every=1", "--quiet")
    assert done.returncode == 0, done.stderr[-2000:]
    done = run_cli("-m", "rlelab", "eval", "--checkpoint", str(out / "last.pt"), "--data", synth)
    assert done.returncode == 0 and "AP50" in done.stdout, done.stderr[-2000:]
