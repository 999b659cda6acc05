"""How near each pose model is to the label noise, on a fresh SynthPose set it never saw.

    python benchmarks/noise_floor.py data/synthpose_lite0_rle.pt data/synthpose_lite0_l1.pt [--seed 7] [--n-val 150]
        [--style flat|photo|mixed]

No model can agree with noisy annotations better than the clean joints do: their mean OKS to the annotations is the
noise floor. For each checkpoint: its mean OKS to the annotations (ground-truth boxes, flip test), that over the
floor, the same in SynthPose's jittered detection boxes, COCO's AP, Pearson(c, OKS), and for models with sigma_hat
its median (in units of the crop), the share above 0.9 (the sigmoid's ceiling) and the calibration per joint type
(mean |error| / mean predicted |error|, ``evaluate.sigma_calibration``; 1.0: calibrated) as mean (min-max).
"""
import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from rlelab.checkpoints import load_checkpoint  # noqa: E402
from rlelab.config import has_sigma  # noqa: E402
from rlelab.data.synthpose import STYLE_CHOICES, SynthPoseConfig, generate, noise_floor  # noqa: E402
from rlelab.evaluate import evaluate, pearson, sigma_calibration  # noqa: E402
from rlelab.tasks import TASKS  # noqa: E402
from rlelab.tasks.coco import LAYOUT as COCO  # noqa: E402
from rlelab.tasks.coco import coco_paths, score_oks_pairs  # noqa: E402
from rlelab.topdown import TopDownConfig  # noqa: E402


def row(path, root):
    model, cfg, _ = load_checkpoint(path)
    ann, image_dir = coco_paths(root, "val")
    task = TASKS["coco"]
    name = os.path.basename(path)
    out = {"model": os.path.join(os.path.basename(os.path.dirname(path)), name) if name in ("last.pt", "best.pt") else name}
    for boxes, detections in (("gt", None), ("jittered", os.path.join(root, "annotations", "person_detections_val.json"))):
        data = task.dataset(ann, image_dir, TopDownConfig(input_size=tuple(cfg.input_size), heatmaps=False),
                            detections=detections)
        metrics, results = evaluate(model, data, task, batch_size=64)
        scores, sims = score_oks_pairs(ann, results)
        out[f"oks_{boxes}"] = float(sims.mean())
        if boxes == "gt":
            out["AP"], out["pearson"] = metrics["AP"], pearson(scores, sims)
            if has_sigma(cfg):  # a regression whose sigma_hat means something
                cal = sigma_calibration(model, cfg, data, COCO.flip_pairs)
                out.update({k: cal[k] for k in ("sigma_median", "ceiling", "calibration", "cal_lo", "cal_hi")})
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--seed", type=int, default=7, help="the fresh set's seed (the shipped models saw seed 0)")
    parser.add_argument("--n-val", type=int, default=150)
    parser.add_argument("--style", choices=STYLE_CHOICES, default="flat", help="how the fresh set is drawn")
    parser.add_argument("--out", help="also write the table here (markdown)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = generate(os.path.join(tmp, "synthpose"), n_train=0, n_val=args.n_val, seed=args.seed,
                        config=SynthPoseConfig(style=args.style))
        best = noise_floor(root)
        rows = [row(path, root) for path in args.checkpoints]
    lines = [f"Fresh SynthPose val set ({args.style} style, seed {args.seed}, {args.n_val} pictures); the clean joints' mean OKS to the "
             f"annotations (the noise floor): {best:.3f}.", "",
             "| model | mean OKS | / floor | in jittered boxes | AP | Pearson(c, OKS) | median sigma_hat | above 0.9 | "
             "calibration |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        sigma = (f"{r['sigma_median']:.3f} | {r['ceiling']:.2f} | {r['calibration']:.2f} ({r['cal_lo']:.2f}-"
                 f"{r['cal_hi']:.2f})") if "sigma_median" in r else "- | - | -"
        lines.append(f"| {r['model']} | {r['oks_gt']:.3f} | {r['oks_gt'] / best:.2f} | {r['oks_jittered']:.3f} | "
                     f"{r['AP']:.3f} | {r['pearson']:.2f} | {sigma} |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
