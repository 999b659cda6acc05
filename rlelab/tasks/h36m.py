"""The Human3.6M task: its 17 joints, its metric (MPJPE and PA-MPJPE in mm over the 17 joints after root
alignment, Tables 8-10, 13), the paper's input (256 x 256), 2-D people mixed into its training (section 5), and
its data in the two forms the field uses, for the single-stage model (a crop -> u, v and depth per joint) and the
two-stage lifting model (2-D joints -> 3-D joints).

- 3DMPPE's JSON (the RLE code's): {"images": [{id, file_name, width, height}], "annotations": [{image_id, bbox
  [x, y, w, h], cam_param {R, t, f, c} (X_cam = R X_world + t, mm), keypoints_world (17 x 3 mm)}]}; optional
  ``keypoints_img`` (17 x 2 px; else the world joints projected), ``keypoints_vis`` and ``cam_param`` k, p
  (Human3.6M's distortion, used to project when keypoints_img is absent).
- mmpose's npz: imgname, center, scale (box side / 200 px), part (17 x 3: x, y, visible), S (17 x 4: camera
  coordinates in metres, visible), with ``cameras.pkl`` beside it keyed by (subject, camera id) as Human3.6M's
  file names say (``S1/S1_Directions_1.54138969/..._000001.jpg``).

Both are read into one sample form: image_id, box, keypoints (17 x 3 px, labelled), joint_cam (17 x 3 mm), f, c.
The single-stage targets are the official ones: u, v in the crop as every task's ([-0.5, 0.5]) and the depth
relative to the root, (z - z_root) / 2000 mm.
"""
import os

import numpy as np
import torch

from ..camera import camera_to_pixel, pixel_to_camera, world_to_camera
from ..crop import to_image_coordinates
from ..evaluate import pearson
from ..files import load_numpy_pickle
from ..topdown import TopDown, TopDownConfig, find_annotations, find_images, load_json
from .coco import TASK as COCO
from .mpii import TASK as MPII
from .task import Layout, Task

# Human3.6M's 17 joints in the order of its annotations (3DMPPE's, mmpose's, the RLE code's); 0-based
H36M_KEYPOINTS = [
    "pelvis", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle", "spine", "thorax",
    "neck", "head", "left_shoulder", "left_elbow", "left_wrist", "right_shoulder", "right_elbow", "right_wrist",
]
LAYOUT = Layout("h36m", tuple(H36M_KEYPOINTS),
                skeleton=((0, 1), (1, 2), (2, 3), (0, 4), (4, 5), (5, 6), (0, 7), (7, 8), (8, 9), (9, 10), (8, 11),
                          (11, 12), (12, 13), (8, 14), (14, 15), (15, 16)),
                flip_pairs=((4, 1), (5, 2), (6, 3), (11, 14), (12, 15), (13, 16)),
                upper_body=tuple(range(7, 17)), lower_body=tuple(range(7)))

# Human3.6M's joints from a 2-D layout's, for people with 2-D labels only mixed into 3-D training (the paper mixes
# MPII into Human3.6M): for each Human3.6M joint the source joints whose mean it is, () where the layout has none.
# By position: MPII's thorax (top of the sternum) is Human3.6M's thorax, its upper neck the neck, its head top the
# head; COCO's pelvis and thorax are the means of the hips and of the shoulders (the RLE code's thorax).
TO_H36M = {
    "mpii": ((6,), (2,), (1,), (0,), (3,), (4,), (5,), (), (7,), (8,), (9,), (13,), (14,), (15,), (12,), (11,), (10,)),
    "coco": ((11, 12), (12,), (14,), (16,), (11,), (13,), (15,), (), (5, 6), (), (), (5,), (7,), (9,), (6,), (8,), (10,)),
}

K = LAYOUT.num_joints
DEPTH_RANGE_MM = 2000.0  # the depth target's unit, the RLE code's bbox_3d_shape


def _array(value, shape, what, where):
    a = np.asarray(value, dtype=np.float64)
    if a.size != int(np.prod(shape)) or not np.isfinite(a).all():
        raise ValueError(f"{where}: {what} must be {' x '.join(map(str, shape))} finite numbers, got "
                         f"{a.size} values{'' if np.isfinite(a).all() else ' with a NaN or infinity'}.")
    return a.reshape(shape)


def _positive(a, what, where):
    """``a`` (finite, from ``_array``) if every entry is above 0: a box, a scale or a focal length of 0 or less is a
    wrong annotation, not something for the model to be blamed for."""
    if not (a > 0).all():
        raise ValueError(f"{where}: {what} must be positive, got {a.tolist()}; fix the annotation.")
    return a


def _focal_and_centre(f, c, where):
    return _positive(_array(f, (2,), "camera f", where), "camera f", where), _array(c, (2,), "camera c", where)


def read_3dmppe(path):
    """(images by id, samples) of a 3DMPPE-form JSON file."""
    data = load_json(path, "Human3.6M annotation file (3DMPPE's JSON form)")
    if not isinstance(data, dict) or "images" not in data or "annotations" not in data:
        raise ValueError(f"{path}: a 3DMPPE-form file has 'images' and 'annotations'; is it mmpose's npz form instead?")
    for i, im in enumerate(data["images"]):
        if not isinstance(im, dict) or "id" not in im or not isinstance(im.get("file_name"), str):
            raise ValueError(f"{path}: image {i} ({str(im)[:60]}) needs an id and a file_name; each entry of 'images' "
                             "has both.")
    images = {im["id"]: im for im in data["images"]}
    samples = []
    for i, ann in enumerate(data["annotations"]):
        where = f"{path}: annotation {i} (image {ann.get('image_id')})"
        missing = [k for k in ("image_id", "bbox", "cam_param", "keypoints_world") if k not in ann]
        if missing or ann["image_id"] not in images:
            raise ValueError(f"{where} has no {', '.join(missing) or 'image of that id'}; each needs image_id, bbox, "
                             "cam_param {R, t, f, c} and keypoints_world (17 x 3 mm).")
        cam = ann["cam_param"]
        if not isinstance(cam, dict) or not {"R", "t", "f", "c"} <= set(cam):
            raise ValueError(f"{where}: cam_param must be a mapping with R, t, f and c, got {str(cam)[:60]!r}.")
        R, t = _array(cam["R"], (3, 3), "cam_param R", where), _array(cam["t"], (3,), "cam_param t", where)
        f, c = _focal_and_centre(cam["f"], cam["c"], where)
        joint_cam = world_to_camera(_array(ann["keypoints_world"], (K, 3), "keypoints_world", where), R, t)
        if "keypoints_img" in ann:
            pix = _array(ann["keypoints_img"], (K, 2), "keypoints_img", where)
        else:
            pix = camera_to_pixel(joint_cam, f, c, cam.get("k"), cam.get("p"))
        box = _array(ann["bbox"], (4,), "bbox", where)
        _positive(box[2:], "bbox width and height", where)
        visible = np.asarray(ann.get("keypoints_vis", [2] * K))
        if visible.shape != (K,):
            raise ValueError(f"{where}: keypoints_vis must hold {K} flags, one per joint, got shape {visible.shape}.")
        samples.append({"image_id": ann["image_id"], "box": box.tolist(), "score": 1.0, "ann_id": i,
                        "keypoints": np.concatenate([pix, np.ones((K, 1))], 1), "joint_cam": joint_cam, "f": f,
                        "c": c, "visible": visible})
    return images, samples


def camera_key(imgname):
    """(subject, camera id) of a Human3.6M file name such as S1/S1_Directions_1.54138969/..._000001.jpg."""
    base = os.path.basename(imgname)
    parts = base.split(".")
    if len(parts) < 3 or "_" not in base:
        raise ValueError(f"{imgname}: not a Human3.6M file name (S<subject>_<action>.<camera id>_<frame>.jpg); "
                         "mmpose's npz form finds each picture's camera by it.")
    return base.split("_")[0], parts[-2].split("_")[0]


def read_mmpose(path, cameras=None):
    """(images by id, samples) of an mmpose-form npz file and its ``cameras.pkl`` (default: beside it).
    cameras.pkl is read as data (``files.load_numpy_pickle``: numpy arrays and plain containers only, nothing run)."""
    cameras = cameras or os.path.join(os.path.dirname(path), "cameras.pkl")
    try:
        with np.load(path) as npz:  # each array once: an NpzFile decompresses a member on every access
            data = {k: npz[k] for k in npz.files}
    except FileNotFoundError as e:
        raise ValueError(f"{e.filename}: not found; mmpose's Human3.6M form is an npz and cameras.pkl beside it.") from None
    except Exception as e:  # noqa: BLE001 - a corrupt zip, an npz of pickled objects
        raise ValueError(f"{path}: not a readable npz file ({type(e).__name__}); write it with numpy.savez.") from None
    try:
        cams = load_numpy_pickle(cameras)  # its own sentence for anything but a missing file
    except FileNotFoundError as e:
        raise ValueError(f"{e.filename}: not found; mmpose's Human3.6M form is an npz and cameras.pkl beside it.") from None
    missing = [k for k in ("imgname", "center", "scale", "part", "S") if k not in data]
    if missing:
        raise ValueError(f"{path}: no {', '.join(missing)}; mmpose's Human3.6M npz has imgname, center, scale, part, S.")
    short = [k for k in ("center", "scale", "part", "S") if len(data[k]) != len(data["imgname"])]
    if short:
        raise ValueError(f"{path}: {', '.join(short)} must hold one entry per imgname ({len(data['imgname'])}); the "
                         "file is cut or mixed.")
    images, samples = {}, []
    for i, name in enumerate(data["imgname"]):
        where = f"{path}: entry {i} ({name})"
        key = camera_key(str(name))
        if key not in cams:
            raise ValueError(f"{where}: camera {key} is not in {cameras}.")
        cam = cams[key]
        part, S = _array(data["part"][i], (K, 3), "part", where), _array(data["S"][i], (K, 4), "S", where)
        side = 200 * _positive(_array(data["scale"][i], (1,), "scale", where), "scale", where)[0]
        cx, cy = _array(data["center"][i], (2,), "center", where)
        try:
            f, c = _focal_and_centre(cam["f"], cam["c"], f"{cameras}: camera {key}")
            k, p = np.asarray(cam["k"], np.float64).reshape(-1), np.asarray(cam["p"], np.float64).reshape(-1)
        except (KeyError, TypeError) as e:
            raise ValueError(f"{cameras}: camera {key} needs f, c, k and p as numbers ({type(e).__name__}: {e}).") from None
        images[i + 1] = {"id": i + 1, "file_name": str(name)}
        samples.append({"image_id": i + 1, "box": [cx - side / 2, cy - side / 2, side, side], "score": 1.0,
                        "ann_id": i, "keypoints": np.concatenate([part[:, :2], np.ones((K, 1))], 1),
                        "joint_cam": S[:, :3] * 1000, "f": f, "c": c, "k": k, "p": p,
                        "visible": np.where(part[:, 2] > 0, 2, 1)})
    return images, samples


def read_h36m(path):
    """(images, samples) of either form, by the file's extension (.json: 3DMPPE's, .npz: mmpose's)."""
    if str(path).endswith(".npz"):
        return read_mmpose(path)
    return read_3dmppe(path)


class TopDownH36M(TopDown):
    """The single-stage model's data: one crop per person; ``joints`` (K, 3) are u, v in [-0.5, 0.5] of the crop
    and the depth relative to the root in units of 2000 mm (a flip swaps the left and right joints' depths too;
    the image-plane rotation of the augmentation leaves depths as they are)."""

    def __init__(self, ann_file, image_dir, config=None, detections=None, seed=0):
        if detections is not None:
            raise ValueError(f"{detections}: Human3.6M is scored on the annotated people's boxes; leave out the detections.")
        images, samples = read_h36m(ann_file)
        super().__init__(LAYOUT, samples, images, image_dir, ann_file, config or TopDownConfig(), seed)

    def __getitem__(self, index):
        sample = super().__getitem__(index)
        joint_cam = self.samples[index]["joint_cam"]
        depth = (joint_cam[:, 2] - joint_cam[0, 2]) / DEPTH_RANGE_MM
        if sample["flipped"]:
            for a, b in self.layout.flip_pairs:
                depth[[a, b]] = depth[[b, a]]
        sample["joints"] = torch.cat([sample["joints"], torch.as_tensor(depth, dtype=torch.float32)[:, None]], 1)
        return sample


class MixedH36M(torch.utils.data.Dataset):
    """Human3.6M's training people followed by the people of a 2-D data set (MPII's or COCO's layout, real or
    SynthPose) with their joints moved to Human3.6M's (``TO_H36M``) and no depth label, as the paper mixes MPII
    into Human3.6M. Every sample has ``depth_weight`` (K,): 1 where the depth is labelled, 0 for the 2-D people,
    whose joints the trainer sends through the 2-D flow; a Human3.6M joint the layout lacks (the spine; COCO's
    neck and head) has target weight 0. ``images`` and ``ann_file`` are the 3-D set's, for the trainer's checks."""

    def __init__(self, h36m, people_2d):
        name = people_2d.layout.name
        if name not in TO_H36M:
            raise ValueError(f"{people_2d.ann_file}: people in the {name!r} layout cannot be mixed into Human3.6M "
                             f"training; mix a data set in one of the layouts {', '.join(TO_H36M)}.")
        self.h36m, self.people_2d, self.sources = h36m, people_2d, [list(src) for src in TO_H36M[name]]
        self.layout, self.images, self.ann_file = h36m.layout, h36m.images, h36m.ann_file

    def __len__(self):
        return len(self.h36m) + len(self.people_2d)

    @property
    def epoch(self):
        return self.h36m.epoch

    @epoch.setter
    def epoch(self, epoch):  # each part draws its augmentation from (seed, epoch, index)
        self.h36m.epoch = self.people_2d.epoch = epoch

    def __getitem__(self, index):
        if index < len(self.h36m):
            sample = self.h36m[index]
            sample["depth_weight"] = torch.ones(K)
            return sample
        sample = self.people_2d[index - len(self.h36m)]
        joints, weight = torch.zeros(K, 3), torch.zeros(K)
        for j, src in enumerate(self.sources):
            if src:  # the mean of the source joints, labelled where all of them are (a mean of joints in the crop is in it)
                joints[j, :2] = sample["joints"][src].mean(0)
                weight[j] = sample["target_weight"][src].prod()
        sample.update(joints=joints, target_weight=weight, depth_weight=torch.zeros(K))
        return sample


def to_image_uvd(joints, crop_to_image, input_size):
    """(..., K, 3) crop u, v and depth targets -> image pixels and the depth relative to the root in mm."""
    return torch.cat([to_image_coordinates(joints[..., :2], crop_to_image, input_size),
                      joints[..., 2:] * DEPTH_RANGE_MM], -1)


def h36m_annotations(root, split):
    """The annotation file of one split: annotations/h36m_{split}.json (3DMPPE's form) or annotations/h36m_{split}.npz
    (mmpose's, cameras.pkl beside it)."""
    return find_annotations(root, [f"h36m_{split}.json", f"h36m_{split}.npz"],
                            ("a Human3.6M-form data set", "python -m rlelab synth3d"))


def h36m_paths(root, split):
    """(annotation file, image folder) of one split: ``h36m_annotations`` and images/{split}/ or images/."""
    return find_images(root, [f"images/{split}", "images"], h36m_annotations(root, split),
                       " (a data set made with --no-images serves the lifting model only)")


MIXABLE = {task.name: task for task in (COCO, MPII)}  # the 2-D tasks whose joints TO_H36M maps to Human3.6M's


def mix_2d(h36m, cfg, data_config):
    """Human3.6M's training people and, with ``cfg.mix_2d``, the people of that 2-D data set (``MixedH36M``; its
    task ``cfg.mix_2d_task`` is one whose joints ``TO_H36M`` maps)."""
    if cfg.mix_2d is None:
        return h36m
    other = MIXABLE[cfg.mix_2d_task]
    return MixedH36M(h36m, other.dataset(*other.paths(cfg.mix_2d, cfg.train_split), data_config, seed=cfg.seed))


def procrustes(pred, gt):
    """pred (N, K, 3) moved onto gt by the similarity s R x + t (rotation, uniform scale, translation) of least
    squares (Umeyama; a reflection is not allowed): the alignment of PA-MPJPE."""
    pred, gt = np.asarray(pred, dtype=np.float64), np.asarray(gt, dtype=np.float64)
    mu_p, mu_g = pred.mean(1, keepdims=True), gt.mean(1, keepdims=True)
    p0, g0 = pred - mu_p, gt - mu_g
    u, s, vt = np.linalg.svd(np.swapaxes(p0, 1, 2) @ g0)  # (N, 3, 3): p0^T g0 = U S V^T
    d = np.sign(np.linalg.det(u @ vt))  # -1: the best orthogonal map is a reflection; flip the last axis
    s[:, -1] *= d
    vt[:, -1] *= d[:, None]
    rot = u @ vt  # x -> x R, with R = U V^T
    scale = s.sum(1) / (p0**2).sum((1, 2)).clip(1e-12)
    return scale[:, None, None] * p0 @ rot + mu_g


def mpjpe(pred, gt, root=0):
    """Mean per-joint position error (N,) in the units of the input, after moving both roots to the origin."""
    pred, gt = np.asarray(pred, dtype=np.float64), np.asarray(gt, dtype=np.float64)
    return np.linalg.norm((pred - pred[:, root:root + 1]) - (gt - gt[:, root:root + 1]), axis=-1).mean(1)


def pa_mpjpe(pred, gt):
    """MPJPE (N,) after Procrustes alignment with scale (``procrustes``): the error of the pose's shape alone."""
    return np.linalg.norm(procrustes(pred, gt) - np.asarray(gt, dtype=np.float64), axis=-1).mean(1)


def h36m_scores(results, dataset):
    """MPJPE and PA-MPJPE (mm) of single-stage results (x, y in pixels, depth relative to the root in mm, c per
    joint) on a Human3.6M-form dataset, as the RLE code scores them: the depth is put back with the true root
    depth, back-projected with the camera (``pixel_to_camera``), root-aligned; plus the Pearson correlation of
    the score with -MPJPE (positive: a higher confidence goes with a smaller error). A person without a finite
    result is refused, not scored: MPJPE has no value for a miss."""
    if len(results) != len(dataset.samples):
        raise ValueError(f"{dataset.ann_file}: {len(dataset.samples) - len(results)} of {len(dataset.samples)} people "
                         "have no finite prediction; MPJPE cannot count a miss (the model diverged).")
    pred, gt, score = [], [], []
    for r in sorted(results, key=lambda r: r["ann_id"]):
        s = dataset.samples[r["ann_id"]]
        uvd = np.asarray(r["keypoints"], dtype=np.float64).reshape(-1, 4)[:, :3]
        uvd[:, 2] += s["joint_cam"][0, 2]  # the root's true depth, as the RLE code
        pred.append(pixel_to_camera(uvd, s["f"], s["c"]))
        gt.append(s["joint_cam"])
        score.append(r["score"])
    pred, gt, score = np.stack(pred), np.stack(gt), np.asarray(score)
    error = mpjpe(pred, gt)
    metrics = {"MPJPE": float(error.mean()), "PA-MPJPE": float(pa_mpjpe(pred, gt).mean())}
    metrics["pearson"] = pearson(score, -error)
    return metrics


TASK = Task("h36m", LAYOUT, dim=3, paths=h36m_paths, dataset=TopDownH36M, score=h36m_scores, metric="MPJPE",
            metrics=("MPJPE", "PA-MPJPE", "pearson"), input_size=(256, 256), photos="Human3.6M", higher_is_better=False,
            to_original=to_image_uvd, mix=mix_2d)
