"""Make the app's sample pictures data/samples/*.jpg: SynthPose people, one per picture, cropped around the person.

    python docs/make_samples.py
"""
import json
import tempfile
from pathlib import Path

from PIL import Image

from rlelab.data.synthpose import SynthPoseConfig, generate

OUT = Path(__file__).resolve().parents[1] / "data" / "samples"


def main(n=4, seed=11):
    with tempfile.TemporaryDirectory() as tmp:
        root = generate(str(Path(tmp) / "sp"), n_train=1, n_val=12, seed=seed,
                        config=SynthPoseConfig(height=384, width=288, max_people=1))
        coco = json.load(open(Path(root) / "annotations" / "person_keypoints_val.json"))
        images = {im["id"]: im for im in coco["images"]}
        OUT.mkdir(parents=True, exist_ok=True)
        written = 0
        for ann in coco["annotations"]:
            x, y, w, h = ann["bbox"]
            im = images[ann["image_id"]]
            if ann["num_keypoints"] < 15 or x < 4 or y < 4 or x + w > im["width"] - 4 or y + h > im["height"] - 4:
                continue  # whole, labelled people only
            pad = 0.15 * max(w, h)
            box = (max(0, x - pad), max(0, y - pad), min(im["width"], x + w + pad), min(im["height"], y + h + pad))
            picture = Image.open(Path(root) / "images" / "val" / im["file_name"]).crop(tuple(round(v) for v in box))
            picture.save(OUT / f"synthpose_{written + 1}.jpg", quality=92)
            written += 1
            if written == n:
                break
    print(f"wrote {written} pictures to {OUT}")


if __name__ == "__main__":
    main()
