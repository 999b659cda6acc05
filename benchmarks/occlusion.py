"""The paper's occlusion tables (Appendix C, Tables 15 and 16) and its truncation test (Fig. 5), for each checkpoint,
on one fresh SynthPose set none of them saw.

    python benchmarks/occlusion.py data/synthpose_res18_rle.pt runs/synthpose_res18_integral/last.pt \\
        [--seed 7] [--n-val 150] [--side 0.2] [--keep 0.5] [--out benchmarks/occlusion.md] [--json FILE]

For each checkpoint (``rlelab.occlusion``): the 7 x 7 table (row: the joint type covered by a grey square of side
``side`` x the box height; column: the mean error, in picture pixels, of that joint type), the clean errors and
what the square adds against the same people without it, the
covered joint's own error clean -> covered, and for a model with sigma_hat its predicted error clean -> covered
and the calibration under occlusion (measured / predicted |error|; 1: calibrated). Then truncation: boxes cut to
their top ``keep``, the error of the joints left inside the crop and of those cut off, and the share of the cut
joints the model places outside the crop.
"""
import argparse
import json
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from rlelab.checkpoints import load_checkpoint  # noqa: E402
from rlelab.config import has_sigma, method  # noqa: E402
from rlelab.data.synthpose import generate  # noqa: E402
from rlelab.evaluate import mean_abs_bar_mu  # noqa: E402
from rlelab.occlusion import occlusion_table, truncation_scores  # noqa: E402
from rlelab.tasks import COCO  # noqa: E402
from rlelab.tasks.coco import coco_paths  # noqa: E402
from rlelab.topdown import TopDownConfig  # noqa: E402


def measure(path, root, side, keep):
    model, cfg, _ = load_checkpoint(path)
    data = COCO.dataset(*coco_paths(root, "val"), TopDownConfig(input_size=tuple(cfg.input_size), heatmaps=False))
    scale = mean_abs_bar_mu(model, cfg) if has_sigma(cfg) else None
    table = occlusion_table(model, data, COCO.layout.flip_pairs, scale, side=side)
    return method(cfg), table, truncation_scores(model, data, COCO.layout.flip_pairs, keep=keep, error_scale=scale)


def report(path, name, table, cut, keep):
    types = table["types"]
    lines = [f"**{name}** ({path}; at least {table['covered_min']} joints covered per row)", "",
             "| covered \\ error of | " + " | ".join(types) + " |", "|---" * (len(types) + 1) + "|"]
    for t, row in zip(types, table["error"]):
        lines.append(f"| {t} | " + " | ".join(f"{v:.1f}" for v in row) + " |")
    lines.append("| (none) | " + " | ".join(f"{v:.1f}" for v in table["clean"]) + " |")
    rise = table["error"] - table["paired"]  # against the same people without a square
    lines += ["", f"What the square adds, against the same people without it: {rise.mean():+.2f} px over the 49 cells "
              f"(from {rise.min():+.1f} to {rise.max():+.1f}); the covered joint's own error below."]
    lines += ["", "| covered joint | its error, clean -> covered (px) |"
              + (" predicted error, clean -> covered (crop) | calibration, clean -> covered |" if "predicted" in table else ""),
              "|---|---|" + ("---|---|" if "predicted" in table else "")]
    for i, t in enumerate(types):
        own = f"| {t} | {table['own'][i, 0]:.1f} -> {table['own'][i, 1]:.1f} |"
        if "predicted" in table:
            p, m = table["predicted"][i], table["measured"][i]
            own += f" {p[0]:.4f} -> {p[1]:.4f} | {m[0] / p[0]:.2f} -> {m[1] / p[1]:.2f} |"
        lines.append(own)
    lines += ["", f"Truncated to the top {keep:g} of the box: the joints inside the crop {cut['inside']:.1f} px off "
              f"(OKS {cut['inside_oks']:.2f}), the {cut['outside_n']} joints cut off {cut['outside']:.1f} px (OKS "
              f"{cut['outside_oks']:.2f}); {100 * cut['predicted_outside']:.0f} % of those placed outside the crop."
              + (f" Predicted |error| (crop units) inside {cut['inside_predicted']:.4f}, cut off "
                 f"{cut['outside_predicted']:.4f}; measured {cut['inside_measured']:.4f} and {cut['outside_measured']:.4f} "
                 f"(calibration {cut['inside_measured'] / cut['inside_predicted']:.2f} and "
                 f"{cut['outside_measured'] / cut['outside_predicted']:.2f})." if "inside_predicted" in cut else ""), ""]
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--seed", type=int, default=7, help="the fresh set's seed (the shipped models saw seed 0)")
    parser.add_argument("--n-val", type=int, default=150)
    parser.add_argument("--side", type=float, default=0.2, help="the square's side, a fraction of the box height")
    parser.add_argument("--keep", type=float, default=0.5, help="truncation: the top fraction of each box kept")
    parser.add_argument("--out", help="also write the tables here (markdown)")
    parser.add_argument("--json", help="and their numbers here (lab 09 reads data/occlusion_tables.json)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = generate(os.path.join(tmp, "synthpose"), n_train=0, n_val=args.n_val, seed=args.seed)
        lines = [f"Fresh SynthPose val set (seed {args.seed}, {args.n_val} pictures of 256x192, ground-truth boxes, "
                 f"flip test); grey square of side {args.side:g} x the box height; errors in picture pixels.", ""]
        results = {path: measure(path, root, args.side, args.keep) for path in args.checkpoints}
    for path, result in results.items():
        lines += report(path, *result, args.keep)
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    if args.json:
        numbers = {"seed": args.seed, "n_val": args.n_val, "side": args.side, "keep": args.keep, "models": [
            {"checkpoint": path, "method": name, **{k: np.asarray(v).tolist() for k, v in table.items()},
             "truncation": {k: float(v) for k, v in cut.items()}} for path, (name, table, cut) in results.items()]}
        with open(args.json, "w") as f:
            json.dump(numbers, f, indent=1)


if __name__ == "__main__":
    main()
