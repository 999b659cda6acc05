"""From upload to drawing in the app's pose page, on CPU: python benchmarks/app_latency.py

Times read_image (decode, EXIF, colour) + shrink + predict_image (crop, network with flip test, map back) +
building and serializing the plotly figures, for a shipped sample and for a 4000x3000 photo-sized JPEG.
The aim (issue 6): at most 1 s at the default size.
"""
import io
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "app"))

from common import DISPLAY_SIDE, pose_figure, shrink, sigma_figure  # noqa: E402
from rlelab.inference import predict_image, read_image  # noqa: E402
from rlelab.tasks import TASKS  # noqa: E402
from rlelab.checkpoints import load_checkpoint  # noqa: E402


def once(model, cfg, data):
    start = time.perf_counter()
    image, _ = shrink(read_image(data, max_side=DISPLAY_SIDE))
    pred = predict_image(model, image, cfg.input_size, flip_pairs=TASKS[cfg.task].layout.flip_pairs)
    pose_figure(image, pred, TASKS[cfg.task].layout).to_json()
    sigma_figure(pred, TASKS[cfg.task].layout).to_json()
    return time.perf_counter() - start


def main(repeats=7):
    model, cfg, _ = load_checkpoint(str(ROOT / "data" / "synthpose_res18_rle.pt"))
    sample = (ROOT / "data" / "samples" / "synthpose_1.jpg").read_bytes()
    big = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (3000, 4000, 3), dtype=np.uint8)).save(big, "JPEG", quality=90)
    for name, data in (("sample (synthpose_1.jpg)", sample), ("4000x3000 JPEG", big.getvalue())):
        times = [once(model, cfg, data) for _ in range(repeats)]
        print(f"{name:<26} median {statistics.median(times) * 1000:6.0f} ms, max {max(times) * 1000:6.0f} ms ({repeats} runs)")


if __name__ == "__main__":
    main()
