"""What the heads and backbones cost on this CPU: one forward pass (eval, no flip) per picture, side by side in one
run, as images per second and as a ratio to the ResNet-50 regression model.

    python benchmarks/head_cost.py [--size 256 192] [--batch 8] [--repeats 5]
"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from rlelab.models import build_model, complexity  # noqa: E402

MODELS = [("regression", "resnet50"), ("heatmap", "resnet50"), ("integral", "resnet50"), ("heatmap", "hrnet_w32"),
          ("integral", "hrnet_w32"), ("integral", "hrnet_w18_small")]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, nargs=2, default=[256, 192])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    images = torch.randn(args.batch, 3, *args.size)
    rows = []
    for head, backbone in MODELS:
        model = build_model(head, backbone).eval()
        with torch.no_grad():
            model(images)  # warm up
            start = time.perf_counter()
            for _ in range(args.repeats):
                model(images)
        per_second = args.batch * args.repeats / (time.perf_counter() - start)
        count = complexity(model, tuple(args.size), transposed="input")
        rows.append((f"{backbone} {head}", count["params"] / 1e6, count["macs"] / 1e9, per_second))
    base = rows[0][3]
    print(f"{torch.get_num_threads()} threads, {args.size[0]}x{args.size[1]}, batch {args.batch}\n")
    print("| model | params | GMACs (true) | images/s | speed / ResNet-50 regression |\n|---|---|---|---|---|")
    for name, params, macs, per_second in rows:
        print(f"| {name} | {params:.1f}M | {macs:.2f} | {per_second:.1f} | {per_second / base:.2f} |")


if __name__ == "__main__":
    main()
