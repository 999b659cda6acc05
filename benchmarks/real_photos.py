"""The real COCO photos of ../shared/data/real-samples: how far the models trained here are from their people, and
what MediaPipe's detector and pose model (rlelab.detect) find there.

    python benchmarks/real_photos.py [CHECKPOINT ...]   (default: the four shipped pose models)

For each annotated person (12 on 4 photos), the best OKS any predicted person reaches with them (0 when nobody
was predicted near; rlelab.tasks.coco.matched_oks), averaged: the shipped L1 and RLE models (both pairs) in the
annotated boxes and in the boxes MediaPipe finds, and MediaPipe's own 17 joints. Then the detector alone: the people it
finds and the IoU of each found box with the annotated box it overlaps most. Prints a Markdown table.
"""
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real-samples" / "coco"

from rlelab import detect  # noqa: E402
from rlelab.checkpoints import load_checkpoint  # noqa: E402
from rlelab.tasks.coco import LAYOUT as COCO  # noqa: E402
from rlelab.tasks.coco import matched_oks  # noqa: E402
from rlelab.inference import predict_image  # noqa: E402


def main():
    if not (REAL / "test_coco.json").exists() or not detect.available():
        sys.exit(f"needs the real COCO samples in {REAL} and mediapipe (pip install -e \".[app]\")")
    data = json.loads((REAL / "test_coco.json").read_text())
    paths = sys.argv[1:] or [str(ROOT / "data" / f"synthpose_{name}.pt")
                             for name in ("lite0_l1", "lite0_rle", "res18_l1", "res18_rle")]
    models = {Path(path).stem: load_checkpoint(path)[:2] for path in paths}
    scores, seen, ious = {}, [], []
    for im in data["images"]:
        image = np.asarray(Image.open(REAL / im["file_name"]).convert("RGB"))
        people = [a for a in data["annotations"] if a["image_id"] == im["id"] and a["num_keypoints"] > 0]
        truth = [np.reshape(a["keypoints"], (17, 3)) for a in people]
        areas = [a["area"] for a in people]
        mediapipe = detect.find_people(image)
        matches = [max(range(len(people)), key=lambda i: detect.iou(p.box, people[i]["bbox"])) for p in mediapipe]
        ious += [detect.iou(p.box, people[i]["bbox"]) for p, i in zip(mediapipe, matches)]
        seen += [i in matches for i in range(len(people))]  # the annotated people a found box overlaps most
        scores.setdefault("MediaPipe's own joints (BlazePose, trained on photos)", []).extend(
            matched_oks([p.keypoints for p in mediapipe], truth, areas))
        for name, (model, cfg) in models.items():
            for boxes, where in (([a["bbox"] for a in people], "annotated boxes"), ([p.box for p in mediapipe], "MediaPipe's boxes")):
                joints = [predict_image(model, image, cfg.input_size, box=box, flip_pairs=COCO.flip_pairs)["joints"]
                          for box in boxes]
                scores.setdefault(f"{name} (drawn figures), {where}", []).extend(matched_oks(joints, truth, areas))
    seen = np.asarray(seen)
    print(f"{len(data['images'])} photos, {len(seen)} annotated people, {seen.sum()} of them found by MediaPipe\n")
    print(f"| who predicts | mean OKS, all {len(seen)} | OKS > 0.5 | mean OKS, the {seen.sum()} found |\n|---|---|---|---|")
    for name, values in sorted(scores.items()):
        values = np.asarray(values)
        print(f"| {name} | {values.mean():.2f} | {int((values > 0.5).sum())} of {len(values)} | {values[seen].mean():.2f} |")
    print(f"\nMediaPipe's detector: {len(ious)} people found; IoU of each found box with the annotated box it overlaps "
          f"most {np.min(ious):.2f}-{np.max(ious):.2f}, mean {np.mean(ious):.2f}")


if __name__ == "__main__":
    main()
