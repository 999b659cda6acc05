"""Figures for the README and the book: python docs/make_figures.py (writes docs/synthpose_grid.png,
docs/synthpose_photo_grid.png, docs/coco_crops.png, docs/synthoct_grid.png)."""
import json
import os
import tempfile

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

import torch  # noqa: E402

from rlelab.crop import IMAGENET_MEAN, IMAGENET_STD  # noqa: E402
from rlelab.tasks.coco import TopDownCOCO  # noqa: E402
from rlelab.topdown import TopDownConfig  # noqa: E402
from rlelab.tasks.coco import COCO_SKELETON  # noqa: E402
from rlelab.data.synthpose import SynthPoseConfig, generate  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def draw_pose(ax, k, v):
    """Skeleton between labelled joints, visible joints (v = 2) green, occluded ones (v = 1) red."""
    for i, j in COCO_SKELETON:
        if v[i - 1] > 0 and v[j - 1] > 0:
            ax.plot(k[[i - 1, j - 1], 0], k[[i - 1, j - 1], 1], "w-", lw=1)
    for level, color in ((2, "lime"), (1, "red")):
        ax.scatter(k[v == level, 0], k[v == level, 1], c=color, s=10, zorder=3)


def synthpose_grid(path, n=18, seed=0, style="flat"):
    with tempfile.TemporaryDirectory() as tmp:
        root = generate(os.path.join(tmp, "sp"), n, 0, seed=seed, config=SynthPoseConfig(style=style))
        coco = json.load(open(os.path.join(root, "annotations", "person_keypoints_train.json")))
        fig, axes = plt.subplots(3, n // 3, figsize=(2.2 * n // 3, 9))
        for ax, im in zip(axes.flat, coco["images"]):
            ax.imshow(Image.open(os.path.join(root, "images", "train", im["file_name"])))
            for ann in (a for a in coco["annotations"] if a["image_id"] == im["id"]):
                k = np.array(ann["keypoints"]).reshape(17, 3)
                draw_pose(ax, k[:, :2], k[:, 2])
                x, y, w, h = ann["bbox"]
                ax.add_patch(plt.Rectangle((x, y), w, h, fill=False, ec="yellow", lw=1))
            ax.set_xlim(0, im["width"])
            ax.set_ylim(im["height"], 0)
            ax.axis("off")
        fig.suptitle(f"SynthPose, {style} style: labels (green visible, red occluded), skeleton and boxes", fontsize=12)
        plt.tight_layout()
        fig.savefig(path, dpi=60)


def coco_crops(path, real=os.path.join(HERE, "..", "..", "shared", "data", "real-samples", "coco")):
    """The real COCO samples cropped by the top-down loader: plain (top) and augmented (bottom)."""
    if not os.path.isdir(real):
        print(f"skipping {path}: no real samples at {real}")
        return
    plain = TopDownCOCO(os.path.join(real, "test_coco.json"), real)
    augmented = TopDownCOCO(os.path.join(real, "test_coco.json"), real, TopDownConfig(augment=True), seed=1)
    n = 6
    fig, axes = plt.subplots(2, n, figsize=(2.2 * n, 6.2))
    for row, ds in enumerate((plain, augmented)):
        for ax, i in zip(axes[row], range(n)):
            s = ds[i]
            ax.imshow((s["image"] * IMAGENET_STD + IMAGENET_MEAN).clamp(0, 1).permute(1, 2, 0))
            h, w = ds.cfg.input_size
            k = ((s["joints"] + 0.5) * torch.tensor([w, h])).numpy()
            draw_pose(ax, k, 2 * (s["target_weight"].numpy() > 0))  # the loader keeps weight, not v = 1 / 2
            ax.axis("off")
    axes[0, 0].set_title("crops of real COCO samples", loc="left", fontsize=10)
    axes[1, 0].set_title("with SimpleBaseline augmentation", loc="left", fontsize=10)
    plt.tight_layout()
    fig.savefig(path, dpi=60)


def synthoct_grid(path, n=8, seed=0):
    """SynthOCT scans, every other one with its 8 boundaries (the truth) and the hidden columns circled."""
    from rlelab.data.synthoct import generate as generate_oct
    from rlelab.tasks.oct import BOUNDARIES, column_positions

    with tempfile.TemporaryDirectory() as tmp:
        root = generate_oct(os.path.join(tmp, "oct"), n, 0, seed=seed)
        scans = json.load(open(os.path.join(root, "annotations", "synthoct_train.json")))["scans"]
        truth = json.load(open(os.path.join(root, "annotations", "truth_train.json")))["scans"]
        fig, axes = plt.subplots(2, n // 2, figsize=(3.2 * n // 2, 5.2))
        for i, (ax, s, t) in enumerate(zip(axes.flat, scans, truth)):
            ax.imshow(Image.open(os.path.join(root, "images", "train", s["file_name"])), cmap="gray")
            if i % 2 == 0:
                xs, rows, hidden = column_positions(s["width"]), np.array(t["boundaries"]), np.array(s["hidden"], bool)
                for b in range(len(BOUNDARIES)):
                    ax.plot(xs, rows[b], lw=1, label=BOUNDARIES[b])
                bs, cs = np.nonzero(hidden)
                ax.scatter(xs[cs], rows[bs, cs], s=22, facecolors="none", edgecolors="white", lw=0.8)
            ax.axis("off")
        axes[0, 0].legend(fontsize=6, ncol=2, loc="lower left")
        plt.tight_layout()
        fig.savefig(path, dpi=60)


if __name__ == "__main__":
    synthoct_grid(os.path.join(HERE, "synthoct_grid.png"))
    synthpose_grid(os.path.join(HERE, "synthpose_grid.png"))
    synthpose_grid(os.path.join(HERE, "synthpose_photo_grid.png"), style="photo")
    coco_crops(os.path.join(HERE, "coco_crops.png"))
