"""SynthPose generation speed on one core: python benchmarks/synthpose_speed.py [--n 500] [--size 256x192]

Times render + JPEG encoding + annotation of --n images in one process, for each style side by side (the aim:
>= 100 images/s per core).
"""
import argparse
import os
import tempfile
import time

from rlelab.data.synthpose import STYLES, SynthPoseConfig, generate


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--size", default="256x192")
    args = parser.parse_args()
    h, w = (int(v) for v in args.size.split("x"))
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    seconds = {}
    for style in STYLES:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            generate(os.path.join(tmp, "sp"), args.n, 0, seed=0, config=SynthPoseConfig(height=h, width=w, style=style))
            seconds[style] = time.perf_counter() - start
        print(f"{style}: {args.n} images of {h}x{w} in {seconds[style]:.2f} s on one core: "
              f"{args.n / seconds[style]:.0f} images/s")
    print(f"photo / flat time per picture, side by side in this run: {seconds['photo'] / seconds['flat']:.2f}")


if __name__ == "__main__":
    main()
