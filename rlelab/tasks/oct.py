"""The OCT task: the 8 retinal boundaries of a B-scan, each at 16 columns (the paper's Table 18, on SynthOCT).

A "joint" here is one boundary at one column: K = 8 x 16 = 128 of them, D = 1 coordinate each, the boundary's row
normalized to the scan's height ([-0.5, 0.5], as a pose joint's to its crop). The model is the paper's: a backbone,
global pooling and one FC of K x 2D outputs (mu_hat, sigma_hat per boundary and column), trained with any loss of
the family; RLE's flow is the 1-D one (``flows.Monotone1D``) over bar_mu, shared by all boundaries and columns,
as the pose models share theirs over the joints.

Its data is SynthOCT's JSON form (``rlelab.data.synthoct``): DIR/annotations/synthoct_{split}.json with, per scan,
its image, the annotated rows (8 x 16, scan pixels) and which are hidden (fluid, a vessel's shadow), and
DIR/images/{split}/. The scan is resized to the input size; the metric is the mean absolute boundary error in scan
pixels, over all boundaries and columns (MAE, the paper's), where the boundary is hidden (MAE_hidden) and where
it is seen (MAE_seen), per boundary, and, where the truth file is beside it, against the clean truth too.
``python -m rlelab eval`` writes its predictions in COCO's results form: ``keypoints`` [row, confidence] x 128.

Why one 1-D flow over bar_mu, shared, rather than one over a boundary's profile of 16 deviations: Eq. 8 reads each
joint's deviation alone in the paper too (its flow is over one joint's D coordinates), and SynthOCT's annotators
err per column independently, so a profile flow would have no correlation to learn here. Real annotators draw
smooth curves, whose errors at neighbouring columns are correlated: there a flow over the profile would have more
to say (an exercise, not built).
"""
import os

import numpy as np
import torch
from torch.nn import functional as F
from torchvision.io import ImageReadMode, decode_image

from ..crop import normalize_images
from ..evaluate import pearson
from ..losses import LOSSES  # its sigma_hat means something where the loss says so (D = 1: the regression head alone)
from ..topdown import TopDownConfig, find_annotations, find_images, load_json
from .task import Layout, Task

# the 8 boundaries the DME data set annotates (Chiu et al. 2015), top to bottom
BOUNDARIES = ("ILM", "NFL/GCL", "IPL/INL", "INL/OPL", "OPL/ONL", "ISM/ISE", "OS/RPE", "BM")
COLUMNS = 16  # labelled columns per scan
B, C = len(BOUNDARIES), COLUMNS
LAYOUT = Layout("oct", tuple(f"{b}@{c}" for b in BOUNDARIES for c in range(C)),
                skeleton=tuple((b * C + c, b * C + c + 1) for b in range(B) for c in range(C - 1)),  # drawn as curves
                flip_pairs=tuple((b * C + c, b * C + C - 1 - c) for b in range(B) for c in range(C // 2)),
                upper_body=(), lower_body=(), flip_negates=())  # a mirrored scan keeps its rows
SHIFT = 0.1  # augmentation: the scan moved up or down by up to this share of its height


def column_positions(width, columns=COLUMNS):
    """The x (pixel centres at integers) of the labelled columns: the centres of ``columns`` equal strips, so a
    horizontal flip maps column c onto column columns - 1 - c."""
    return (np.arange(columns) + 0.5) * width / columns - 0.5


def _read(ann_file):
    """(scans, the folder's truth by scan id or None) of a SynthOCT JSON file, each scan checked."""
    data = load_json(ann_file, "SynthOCT annotation file")
    if not isinstance(data, dict) or not isinstance(data.get("scans"), list):
        raise ValueError(f"{ann_file}: a SynthOCT annotation file is {{\"info\": ..., \"scans\": [...]}}; this is not one "
                         "(write one with python -m rlelab synthoct).")
    if not data["scans"]:
        raise ValueError(f"{ann_file}: holds no scans.")
    for i, s in enumerate(data["scans"]):
        try:
            rows, hidden = np.asarray(s["boundaries"], dtype=np.float64), np.asarray(s["hidden"], dtype=np.float64)
            ok = (rows.shape == (B, C) and hidden.shape == (B, C) and np.isfinite(rows).all()
                  and isinstance(s["file_name"], str) and isinstance(s["id"], int) and s["height"] > 0 and s["width"] > 0)
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"{ann_file}: scan {i} is not id, file_name, height, width, boundaries ({B} x {C} rows) "
                             f"and hidden ({B} x {C} flags); fix or remove it.")
    name = os.path.basename(ann_file)  # SynthOCT's synthoct_{split}.json has its truth_{split}.json beside it
    truth_file = os.path.join(os.path.dirname(ann_file), "truth_" + name[len("synthoct_"):])
    if not (name.startswith("synthoct_") and os.path.isfile(truth_file)):
        return data["scans"], None
    try:
        truth = {t["id"]: np.asarray(t["boundaries"], dtype=np.float64)
                 for t in load_json(truth_file, "SynthOCT truth file")["scans"]}
    except (KeyError, TypeError, ValueError, AttributeError):
        truth = None  # not a truth file's form: refused below
    if (truth is None or set(truth) != {s["id"] for s in data["scans"]}
            or any(t.shape != (B, C) for t in truth.values())):
        raise ValueError(f"{truth_file}: not the truth of the scans of {ann_file} (other ids or shapes); write both "
                         "with python -m rlelab synthoct, or remove it.")
    return data["scans"], truth


class OCTScans(torch.utils.data.Dataset):
    """One sample per scan, resized to the input size, with the rows of its boundaries as K joints of D = 1
    (the same batch keys as ``topdown.TopDown``: image, joints, target_weight, crop_to_image, ids, score)."""

    def __init__(self, ann_file, image_dir, config=None, detections=None, seed=0):
        if detections is not None:
            raise ValueError(f"{detections}: an OCT scan is read whole, without a detector; leave out the detections.")
        self.samples, self.truth = _read(ann_file)
        self.images = {s["id"]: s for s in self.samples}
        self.layout, self.image_dir, self.ann_file = LAYOUT, image_dir, ann_file
        self.cfg = config or TopDownConfig(input_size=(96, 128))
        self.seed, self.epoch = seed, 0
        absent = [s["file_name"] for s in self.samples if not os.path.isfile(os.path.join(image_dir, s["file_name"]))]
        if absent:
            raise ValueError(f"{os.path.join(image_dir, absent[0])}: no such scan; {len(absent)} scans of {ann_file} "
                             "are missing: check the image folder.")

    def __len__(self):
        return len(self.samples)

    def load_image(self, index):
        path = os.path.join(self.image_dir, self.samples[index]["file_name"])
        try:
            data = torch.from_file(path, size=os.path.getsize(path), dtype=torch.uint8)
            return decode_image(data, mode=ImageReadMode.RGB).float() / 255
        except (FileNotFoundError, RuntimeError) as e:
            raise ValueError(f"{path}: cannot read the scan ({type(e).__name__}); check the image folder.") from None

    def __getitem__(self, index):
        s, cfg = self.samples[index], self.cfg
        h, w = cfg.input_size
        image = self.load_image(index)
        rows = np.asarray(s["boundaries"], dtype=np.float64).reshape(-1)
        hs = image.shape[1]
        shift, flip = 0, False
        if cfg.augment:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            shift, flip = round(rng.uniform(-SHIFT, SHIFT) * hs), bool(rng.random() < cfg.flip_prob)
        if shift:  # the scan moves down by `shift` rows (up if negative); what enters is black
            image = torch.roll(image, shift, 1)
            if shift > 0:
                image[:, :shift] = 0
            else:
                image[:, shift:] = 0
            rows = rows + shift
        if flip:  # column c becomes column C - 1 - c; the rows stay
            image = image.flip(-1)
            rows = rows.reshape(B, C)[:, ::-1].reshape(-1)
        image = F.interpolate(image[None], size=(h, w), mode="bilinear", align_corners=False, antialias=True)[0]
        scale = h / hs  # scan row y -> input row (y + 0.5) * scale - 0.5
        joints = ((rows + 0.5) * scale - 0.5) / h - 0.5
        # input px -> scan px; its first row is x's (a flipped scan's columns run the other way: its rows are kept)
        sx = s["width"] / w
        to_scan = np.array([[sx, 0, 0.5 * sx - 0.5], [0, 1 / scale, 0.5 / scale - 0.5 - shift]])
        return {
            "image": (image * 255).round_().clamp_(0, 255).to(torch.uint8) if cfg.uint8 else normalize_images(image),
            "joints": torch.as_tensor(joints, dtype=torch.float32)[:, None],
            "target_weight": torch.ones(B * C),
            "crop_to_image": torch.as_tensor(to_scan, dtype=torch.float64),
            "image_id": s["id"], "ann_id": s["id"], "score": 1.0, "flipped": flip,
        }


def to_scan_rows(joints, crop_to_image, input_size):
    """Normalized rows (B, K, 1) in [-0.5, 0.5] -> rows of the scan in pixels (B, K, 1)."""
    h = input_size[0]
    pix = (joints + 0.5) * h
    m = crop_to_image.to(joints.dtype)
    return pix * m[:, None, 1:2, 1] + m[:, None, 1:2, 2]


def oct_paths(root, split):
    ann = find_annotations(root, [f"synthoct_{split}.json"], ("a SynthOCT folder", "python -m rlelab synthoct"))
    return find_images(root, [os.path.join("images", split)], ann)


def boundary_errors(results, dataset, against="labels"):
    """(|error| (N, B, C) in scan pixels, hidden (N, B, C) bools, confidence (N, B, C)) of the results, against the
    annotated rows or the clean truth (``against="truth"``)."""
    by_id = {s["id"]: s for s in dataset.samples}
    errors, hidden, conf = [], [], []
    for r in results:
        s = by_id[r["image_id"]]
        kp = np.asarray(r["keypoints"], dtype=np.float64).reshape(B, C, 2)
        target = dataset.truth[s["id"]] if against == "truth" else np.asarray(s["boundaries"], dtype=np.float64)
        errors.append(np.abs(kp[..., 0] - target))
        hidden.append(np.asarray(s["hidden"], dtype=bool))
        conf.append(kp[..., 1])
    return np.array(errors), np.array(hidden), np.array(conf)


@torch.no_grad()
def scan_errors(model, cfg, dataset, flip=True, batch_size=64):
    """Per scan, boundary and column (N, 8, 16), in scan pixels: the prediction's rows, its |error| against the
    labels and against the truth (NaN without a truth file), sigma_hat and the predicted |error| (sigma_hat x
    E|bar_mu|; both None for a loss without sigma_hat) and whether the boundary is hidden there."""
    from ..evaluate import mean_abs_bar_mu
    from ..models import predict

    if dataset.cfg.augment:
        raise ValueError("scan_errors compares predictions with the labels as written: give it a dataset without augment.")
    scale = float(mean_abs_bar_mu(model, cfg)[0]) if LOSSES[cfg.loss].has_sigma else None
    rows, sigmas = [], []
    was_training = model.training
    model.eval()
    try:
        for batch in torch.utils.data.DataLoader(dataset, batch_size=batch_size):
            out = predict(model, batch["image"], LAYOUT.flip_pairs if flip else None, LAYOUT.flip_negates)
            m = batch["crop_to_image"]
            rows.append(to_scan_rows(out["joints"].double(), m, dataset.cfg.input_size)[..., 0])
            if scale is not None:  # a row's unit is the input's height; one input row is m[1, 1] scan rows
                sigmas.append(out["sigma_hat"][..., 0].double() * dataset.cfg.input_size[0] * m[:, 1, 1, None])
    finally:
        model.train(was_training)
    rows = torch.cat(rows).numpy().reshape(-1, B, C)
    labels = np.array([s["boundaries"] for s in dataset.samples], dtype=np.float64)
    truth = (np.array([dataset.truth[s["id"]] for s in dataset.samples]) if dataset.truth is not None
             else np.full_like(labels, np.nan))
    return {"rows": rows, "error": np.abs(rows - labels), "error_truth": np.abs(rows - truth),
            "sigma": torch.cat(sigmas).numpy().reshape(-1, B, C) if sigmas else None,
            "predicted": torch.cat(sigmas).numpy().reshape(-1, B, C) * scale if sigmas else None,
            "hidden": np.array([s["hidden"] for s in dataset.samples], dtype=bool)}


@torch.no_grad()
def predict_scan(model, cfg, scan, flip=True):
    """One grayscale scan (H, W) uint8 -> rows (8, 16) of its boundaries in scan pixels and sigma_hat in scan pixels
    (sigma_hat x H; None for a loss without one), at the columns ``column_positions(W)``."""
    from ..models import predict

    h, w = cfg.input_size
    image = torch.tensor(scan, dtype=torch.float32).div(255).expand(3, *scan.shape)
    image = F.interpolate(image[None], size=(h, w), mode="bilinear", align_corners=False, antialias=True)
    was_training = model.training
    try:
        out = predict(model.eval(), normalize_images(image), LAYOUT.flip_pairs if flip else None, LAYOUT.flip_negates)
    finally:
        model.train(was_training)
    scale = scan.shape[0] / h
    rows = ((out["joints"][0, :, 0].double() + 0.5) * h + 0.5) * scale - 0.5  # input row -> scan row
    sigma = out["sigma_hat"][0, :, 0].double() * scan.shape[0] if LOSSES[cfg.loss].has_sigma else None
    return rows.numpy().reshape(B, C), None if sigma is None else sigma.numpy().reshape(B, C)


def oct_scores(results, dataset):
    """MAE over every boundary and column in scan pixels (Table 18's number), where hidden and where seen, per
    boundary (MAE_ILM ...), the Pearson correlation of confidence with -|error|, and MAE_truth where the truth is known.
    A scan without a finite result is refused, not scored: a mean error has no value for a miss."""
    ids = [s["id"] for s in dataset.samples]
    got = [r["image_id"] for r in results]
    if sorted(got) != sorted(ids):
        missed, foreign = sorted(set(ids) - set(got)), sorted(set(got) - set(ids))
        if missed:
            raise ValueError(f"{dataset.ann_file}: {len(missed)} of {len(ids)} scans (ids {missed[:5]}) have no finite "
                             "prediction; the mean boundary error cannot count a miss (the model diverged).")
        raise ValueError(f"{dataset.ann_file}: the results name scans it does not hold (ids {foreign[:5]}) or one scan "
                         "twice; score each of its scans once.")
    err, hidden, conf = boundary_errors(results, dataset)
    nan = float("nan")
    out = {"MAE": float(err.mean()), "MAE_hidden": float(err[hidden].mean()) if hidden.any() else nan,
           "MAE_seen": float(err[~hidden].mean()) if (~hidden).any() else nan,
           "pearson": pearson(conf.reshape(-1), -err.reshape(-1))}
    out.update({f"MAE_{name}": float(err[:, b].mean()) for b, name in enumerate(BOUNDARIES)})
    if dataset.truth is not None:
        out["MAE_truth"] = float(boundary_errors(results, dataset, "truth")[0].mean())
    return out


TASK = Task("oct", LAYOUT, dim=1, paths=oct_paths, dataset=OCTScans, score=oct_scores, metric="MAE",
            metrics=("MAE", "MAE_hidden", "MAE_seen"), input_size=(96, 128), photos="SynthOCT scans", samples="scans",
            higher_is_better=False, to_original=to_scan_rows)
