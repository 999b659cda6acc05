"""What a pose model does with a joint it cannot see: the paper's occlusion tables (Appendix C, Tables 15 and 16)
and its truncation figure (Fig. 5), measured on any COCO-layout data set in ground-truth boxes.

Occlusion (``occlusion_table``): as the paper does after PARE, a grey square is drawn over one joint's place in
the crop, and the error of every joint is measured; rows are the covered joint type, columns the joint type whose
error is averaged (the paper's seven types; a head is covered at its nose). The square's side is ``side`` times
the crop's height / 1.25, the box's height for a box taller than the crop's aspect (a standing person's; the paper
does not say its size). For a model with sigma_hat: the covered joint's own error
and its predicted error (sigma_hat times E|bar_mu|, ``evaluate.mean_abs_bar_mu``), covered and not.

Truncation (``truncation_scores``): each person's box is cut to its top ``keep`` and the model fed its crop (the
cut box enlarged by 1.25, as every box is; Fig. 5: "only the contents inside the bounding boxes are fed"); the
joints that fall outside the crop are still labelled, and their error (and OKS) says whether a model infers them
(an FC can put mu_hat anywhere, if it was trained on such joints: ``outside_crop_labels``) or cannot (a heatmap's
argmax and a soft-argmax stay inside their map).
"""
import copy

import numpy as np
import torch

from .crop import normalize_images, to_image_coordinates

# the paper's seven joint types in COCO's layout; the joint covered for each (a head: its nose)
JOINT_TYPES = {"ankle": (15, 16), "knee": (13, 14), "hip": (11, 12), "wrist": (9, 10), "elbow": (7, 8),
               "shoulder": (5, 6), "head": (0, 1, 2, 3, 4)}
COVERED = {"ankle": (15, 16), "knee": (13, 14), "hip": (11, 12), "wrist": (9, 10), "elbow": (7, 8),
           "shoulder": (5, 6), "head": (0,)}
GREY = 0.5  # the square's value, in [0, 1] before the input's normalization


def cover(images, centres, side):
    """Normalized crops (B, 3, H, W) with a grey square of ``side`` (B,) pixels centred on ``centres`` (B, 2), crop
    pixels (x, y); a crop whose centre is NaN is left as it is."""
    h, w = images.shape[-2:]
    ys, xs = torch.arange(h, dtype=images.dtype)[None, :, None], torch.arange(w, dtype=images.dtype)[None, None, :]
    half = side.to(images.dtype)[:, None, None] / 2
    inside = ((xs - centres[:, 0, None, None]).abs() <= half) & ((ys - centres[:, 1, None, None]).abs() <= half)
    grey = normalize_images(torch.full((3, 1, 1), GREY, dtype=images.dtype))
    return torch.where(inside[:, None], grey, images)


def _batches(dataset, batch_size):
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False)


def _errors(out, batch, input_size):
    """Per-joint error (B, K) in picture pixels of a prediction against the batch's labels."""
    pred = to_image_coordinates(out["joints"].double(), batch["crop_to_image"], input_size)
    label = to_image_coordinates(batch["joints"].double(), batch["crop_to_image"], input_size)
    return (pred - label).norm(dim=-1)


@torch.no_grad()
def occlusion_table(model, dataset, flip_pairs, error_scale=None, side=0.2, batch_size=32):
    """The occlusion table of ``model`` on a COCO-layout TopDown dataset (ground-truth boxes, flip test).

    Returns ``error`` (7, 7): mean error (picture pixels) of each column type with a joint of the row type
    covered, over the people whose covered joint and measured joint are both labelled and inside the crop;
    ``paired`` (7, 7): the same people's error without a square (``error - paired`` is what the square adds);
    ``clean`` (7,): each type's error without a square over all its people; ``own`` (7, 2): the covered joint's own
    error, clean and covered; and with ``error_scale`` (a model with sigma_hat: E|bar_mu| per coordinate) ``predicted`` (7, 2): its
    predicted |error| per coordinate in crop units, clean and covered, and ``measured`` (7, 2): its mean |error| per
    coordinate in crop units, clean and covered (measured / predicted: the calibration under occlusion)."""
    from .models import predict

    names = list(JOINT_TYPES)
    column = np.zeros(17, dtype=int)
    for t, joints in enumerate(JOINT_TYPES.values()):
        column[list(joints)] = t
    sums = {k: np.zeros(s) for k, s in (("error", (7, 7)), ("paired", (7, 7)), ("count", (7, 7)), ("clean", 7), ("clean_n", 7),
                                        ("own", (7, 2)), ("own_n", 7), ("predicted", (7, 2)), ("measured", (7, 2)))}
    h, w = dataset.cfg.input_size
    was = model.training
    model.eval()
    try:
        for batch in _batches(dataset, batch_size):
            seen = (batch["target_weight"] > 0).numpy()
            clean = predict(model, batch["image"], flip_pairs)
            clean_err = _errors(clean, batch, (h, w)).numpy()
            np.add.at(sums["clean"], column, (clean_err * seen).sum(0))
            np.add.at(sums["clean_n"], column, seen.sum(0))
            crop_px = (batch["joints"] + 0.5) * torch.tensor([w, h])
            box_h = h / dataset.cfg.padding  # the box's height in crop pixels (the crop pads it by ``padding``)
            for row, name in enumerate(names):
                for j in COVERED[name]:
                    centres = torch.where(torch.as_tensor(seen[:, j, None]), crop_px[:, j], torch.nan)
                    out = predict(model, cover(batch["image"], centres, torch.full((len(centres),), side * box_h)),
                                  flip_pairs)
                    err = _errors(out, batch, (h, w)).numpy()
                    both = seen * seen[:, j, None]
                    np.add.at(sums["error"][row], column, (err * both).sum(0))
                    np.add.at(sums["paired"][row], column, (clean_err * both).sum(0))
                    np.add.at(sums["count"][row], column, both.sum(0))
                    mine = seen[:, j]
                    sums["own"][row] += [clean_err[mine, j].sum(), err[mine, j].sum()]
                    sums["own_n"][row] += mine.sum()
                    if error_scale is not None:
                        for k, o in enumerate((clean, out)):
                            sums["predicted"][row, k] += (o["sigma_hat"][mine, j] * error_scale).mean(-1).sum().item()
                            sums["measured"][row, k] += (o["joints"] - batch["joints"])[mine, j].abs().mean(-1).sum().item()
    finally:
        model.train(was)
    n = np.maximum(sums["own_n"], 1)[:, None]
    count = np.maximum(sums["count"], 1)
    table = {"types": names, "error": sums["error"] / count, "paired": sums["paired"] / count,
             "clean": sums["clean"] / np.maximum(sums["clean_n"], 1), "own": sums["own"] / n,
             "covered_min": int(sums["own_n"].min())}  # the fewest joints covered in a row
    if error_scale is not None:
        table.update(predicted=sums["predicted"] / n, measured=sums["measured"] / n)
    return table


def truncated(dataset, keep=0.5):
    """A copy of a TopDown dataset whose boxes keep only their top ``keep`` (the rest of each person is cut off)."""
    cut = copy.copy(dataset)
    cut.samples = [dict(s, box=[s["box"][0], s["box"][1], s["box"][2], s["box"][3] * keep]) for s in dataset.samples]
    return cut


@torch.no_grad()
def truncation_scores(model, dataset, flip_pairs, keep=0.5, error_scale=None, batch_size=32):
    """Errors of ``model`` in boxes cut to their top ``keep``: the mean error (picture pixels) and the mean
    per-joint OKS (COCO's exp(-d^2 / 2 s^2 k^2), s^2 the annotation's area) of the labelled joints inside the cut
    crop and of those outside it, and the share of the outside ones predicted outside the crop as well. Returns a
    dict with ``inside``, ``outside``, ``inside_oks``, ``outside_oks``, ``outside_n`` and ``predicted_outside``;
    with ``error_scale`` (a model with sigma_hat: E|bar_mu| per coordinate) also ``inside_predicted`` and
    ``outside_predicted``, the mean predicted |error| per coordinate in crop units, and ``inside_measured`` and
    ``outside_measured``, the mean |error| per coordinate in crop units."""
    from .models import predict
    from .tasks.coco import OKS_SIGMAS

    cut = truncated(dataset, keep)
    h, w = cut.cfg.input_size
    index = {(s["image_id"], s["ann_id"]): s for s in cut.samples}
    sums, sigma = np.zeros(7), np.zeros(4)
    was = model.training
    model.eval()
    try:
        for batch in _batches(cut, batch_size):
            out = predict(model, batch["image"], flip_pairs)
            err = _errors(out, batch, (h, w)).numpy()
            people = [index[(int(i), int(a))] for i, a in zip(batch["image_id"], batch["ann_id"])]
            labelled = np.stack([s["keypoints"][:, 2] > 0 for s in people])
            area = np.array([s["area"] for s in people])[:, None]
            similarity = np.exp(-err ** 2 / (2 * area * (2 * OKS_SIGMAS) ** 2))
            inside = (batch["target_weight"] > 0).numpy()
            outside = labelled & ~inside
            beyond = (out["joints"].abs() > 0.5).any(-1).numpy()
            sums += [(err * inside).sum(), (similarity * inside).sum(), inside.sum(), (err * outside).sum(),
                     (similarity * outside).sum(), outside.sum(), (beyond & outside).sum()]
            if error_scale is not None:
                predicted = (out["sigma_hat"] * error_scale).mean(-1).numpy()
                measured = (out["joints"] - batch["joints"]).abs().mean(-1).numpy()
                sigma += [(predicted * inside).sum(), (measured * inside).sum(), (predicted * outside).sum(),
                          (measured * outside).sum()]
    finally:
        model.train(was)
    n_in, n_out = max(sums[2], 1), max(sums[5], 1)
    scores = {"inside": sums[0] / n_in, "inside_oks": sums[1] / n_in, "outside": sums[3] / n_out,
              "outside_oks": sums[4] / n_out, "outside_n": int(sums[5]), "predicted_outside": sums[6] / n_out}
    if error_scale is not None:
        scores.update(inside_predicted=sigma[0] / n_in, inside_measured=sigma[1] / n_in,
                      outside_predicted=sigma[2] / n_out, outside_measured=sigma[3] / n_out)
    return scores
