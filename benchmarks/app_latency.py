"""From upload to drawing in the app's pose page, on CPU: python benchmarks/app_latency.py

Times read_image (decode, EXIF, colour) + shrink + predict_image (crop, network with flip test, map back) for
each person box + building and serializing the plotly figures, for a shipped sample, for a 12-megapixel
(4000x3000) JPEG of noise (the hardest to decode) and, where ../shared has them, a real COCO photo enlarged to
4000x3000, the same with its people found by MediaPipe (rlelab.detect, what an upload gets) and a real photo with
its five annotated people. The aim (issues 6 and 17): at most 1 s. MediaPipe's first call, which loads its graph
once per server, is timed apart.
"""
import io
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "app"))

from common import DEFAULTS, DISPLAY_SIDE, pose_figure, shrink, sigma_figure  # noqa: E402
from rlelab import detect  # noqa: E402
from rlelab.inference import predict_image, read_image  # noqa: E402
from rlelab.tasks import TASKS  # noqa: E402
from rlelab.checkpoints import load_checkpoint  # noqa: E402


def once(model, cfg, data, boxes=(None,)):
    start = time.perf_counter()
    image, _ = shrink(read_image(data, max_side=DISPLAY_SIDE))
    if boxes == "found":
        boxes = [p.box for p in detect.find_people(image)] or [None]
    preds = [predict_image(model, image, cfg.input_size, box=box, flip_pairs=TASKS[cfg.task].layout.flip_pairs)
             for box in boxes]
    pose_figure(image, preds, TASKS[cfg.task].layout).to_json()
    sigma_figure(preds[0], TASKS[cfg.task].layout).to_json()
    return time.perf_counter() - start


def jpeg(array):
    out = io.BytesIO()
    Image.fromarray(array).save(out, "JPEG", quality=90)
    return out.getvalue()


def main(repeats=7):
    model, cfg, _ = load_checkpoint(str(DEFAULTS["rle"]))  # the pose page's first model
    cases = [("sample (synthpose_1.jpg)", (ROOT / "data" / "samples" / "synthpose_1.jpg").read_bytes(), (None,)),
             ("4000x3000 JPEG of noise", jpeg(np.random.default_rng(0).integers(0, 255, (3000, 4000, 3), dtype=np.uint8)), (None,))]
    real = ROOT.parent / "shared" / "data" / "real-samples" / "coco"
    if (real / "000000000785.jpg").exists():
        photo = Image.open(real / "000000000785.jpg").convert("RGB").resize((4000, 3000), Image.Resampling.BICUBIC)
        cases.append(("4000x3000 photo (COCO 785)", jpeg(np.asarray(photo)), (None,)))
        if detect.available():
            start = time.perf_counter()
            detect.find_people(np.asarray(photo.resize((400, 300))))
            print(f"MediaPipe's first call (loads its graph, once per server): {(time.perf_counter() - start) * 1000:.0f} ms")
            cases.append(("4000x3000 photo, its person found by MediaPipe", cases[-1][1], "found"))
    if (real / "000000197388.jpg").exists():
        people = json.loads((real / "test_coco.json").read_text())["annotations"]
        boxes = [a["bbox"] for a in people if a["image_id"] == 197388 and a["num_keypoints"] > 0]
        cases.append((f"photo, {len(boxes)} people (COCO 197388)", (real / "000000197388.jpg").read_bytes(), boxes))
    for name, data, boxes in cases:
        times = [once(model, cfg, data, boxes) for _ in range(repeats)]
        print(f"{name:<44} median {statistics.median(times) * 1000:6.0f} ms, max {max(times) * 1000:6.0f} ms ({repeats} runs)")


if __name__ == "__main__":
    main()
