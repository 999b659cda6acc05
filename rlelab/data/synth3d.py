"""Synth3D: 3-D people in Human3.6M's 17-joint layout, seen by Human3.6M-like cameras and drawn as pictures.

    python -m rlelab synth3d --out DIR --n-train N --n-val M --seed S [--size 256] [--frames 8] [--no-images]

A person is a kinematic skeleton with adult bone lengths (a height factor and a per-bone spread) posed by joint
angles within anatomical limits; a sequence of ``frames`` pictures follows one smooth motion (each angle a
sinusoid about a random pose) seen by one camera placed like Human3.6M's four: 3.5-6 m away, 1-2 m high, looking
at the person, f = 1.145 x the image width, the principal point near the centre. The picture is drawn the way
SynthPose draws people (its backgrounds, clothes and occluders), limbs as perspective-scaled tubes painted far to
near. Every joint is labelled (motion capture labels all), with ``keypoints_vis`` 2 where seen and 1 where covered.

The 3-D labels of the *train* split carry annotation noise of a known heavy-tailed law (Student-t, nu = 3, per
world coordinate, ``noise_mm`` x 1.5 at the wrists and ankles), as a motion-capture marker slips; the val labels
are clean, as Human3.6M's test labels are what every method is scored against. DIR/annotations/truth_{split}.json
keeps the clean joints and the noise. The 2-D joints (``keypoints_img``, ``part``) are the clean projections: what
the picture shows, the input of the two-stage (lifting) model.

Written in both forms the field uses (``rlelab.tasks.h36m`` reads either):

- 3DMPPE's JSON: DIR/annotations/h36m_{split}.json: images and annotations with ``bbox``, ``cam_param``
  (R, t, f, c; X_cam = R X_world + t in mm), ``keypoints_world`` (17 x 3 mm), plus ``keypoints_img`` and
  ``keypoints_vis``;
- mmpose's npz: DIR/annotations/h36m_{split}.npz (imgname, center, scale, part 17 x 3, S 17 x 4 in metres in
  camera space) and DIR/annotations/cameras.pkl (R camera-to-world, T the centre in metres, c, f, k, p, w, h);

and the pictures under DIR/images/{split}/S<seq>/S<seq>_Synth.<camera>/..._<frame>.jpg, Human3.6M's naming
(``--no-images``: none, the annotations alone, for the lifting model).
"""
import json
import math
import os
import pickle
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image, ImageDraw

from ..camera import camera_to_pixel, look_at, world_to_camera
from ..files import atomic_write, write_folder
from ..tasks.h36m import LAYOUT as H36M
from .synthpose import _background, _colors, _texture

K = H36M.num_joints
J = {name: i for i, name in enumerate(H36M.keypoints)}
# bone lengths in mm of an adult of height ~1.75 m (anthropometric tables, Winter's proportions)
BONES = {"hip": 130.0, "thigh": 450.0, "shin": 440.0, "spine": 230.0, "chest": 250.0, "neck": 110.0, "head": 115.0,
         "shoulder": 150.0, "upper_arm": 280.0, "forearm": 250.0}
# joint angles (degrees) and their limits: (low, high)
ANGLES = {
    "lean": (-10, 45), "bend": (-15, 15), "twist": (-35, 35), "head_pitch": (-30, 40), "head_yaw": (-60, 60),
    "right_hip_flex": (-25, 110), "left_hip_flex": (-25, 110), "right_hip_abd": (-10, 45), "left_hip_abd": (-10, 45),
    "right_knee": (0, 140), "left_knee": (0, 140), "right_shoulder_flex": (-45, 170),
    "left_shoulder_flex": (-45, 170), "right_shoulder_abd": (0, 150), "left_shoulder_abd": (0, 150),
    "right_elbow": (0, 145), "left_elbow": (0, 145),
}
NOISE_FACTOR = np.where(np.isin(np.arange(K), [J["left_wrist"], J["right_wrist"], J["left_ankle"],
                                               J["right_ankle"]]), 1.5, 1.0)
RADIUS = {"thigh": 75, "shin": 55, "upper_arm": 50, "forearm": 40, "neck": 45}  # tube radii in mm


@dataclass
class Synth3DConfig:
    size: int = 256  # square pictures, size x size px
    frames: int = 8  # pictures per sequence (one motion, one camera)
    noise_mm: float = 20.0  # scale of the Student-t (nu = 3) label noise of the train split, per coordinate
    occluder_prob: float = 0.4
    jpeg_quality: int = 90
    images: bool = True  # False: the annotations alone (poses and cameras), for the lifting model


def _rotation(axis, degrees):
    """Rotation matrix about a unit axis (Rodrigues)."""
    a = math.radians(degrees)
    x, y, z = axis
    k = np.array([[0, -z, y], [z, 0, -x], [-y, x, 0]])
    return np.eye(3) + math.sin(a) * k + (1 - math.cos(a)) * k @ k


def pose_body(angles, bones):
    """17 joints (mm) in the body frame (x the person's left, y up, z forward; pelvis at 0) from joint angles."""
    X, Y, Z = np.eye(3)
    p = np.zeros((K, 3))
    torso = _rotation(Z, angles["bend"]) @ _rotation(X, angles["lean"])  # lean forward about x, bend sideways
    up = torso @ Y
    p[J["spine"]] = bones["spine"] * up
    chest = torso @ _rotation(Y, angles["twist"])  # the shoulders' frame turns about the spine
    p[J["thorax"]] = p[J["spine"]] + bones["chest"] * up
    head = chest @ _rotation(Y, angles["head_yaw"]) @ _rotation(X, angles["head_pitch"])
    p[J["neck"]] = p[J["thorax"]] + bones["neck"] * (head @ np.array([0, 0.9, 0.44]))  # the nose is in front
    p[J["head"]] = p[J["neck"]] + bones["head"] * (head @ np.array([0, 1.0, -0.25]) / math.hypot(1, 0.25))
    for side, sign in (("left", 1.0), ("right", -1.0)):
        hip = p[J["pelvis"]] + sign * bones["hip"] * X
        thigh = _rotation(Z, sign * angles[f"{side}_hip_abd"]) @ _rotation(X, -angles[f"{side}_hip_flex"])
        knee = hip + bones["thigh"] * (thigh @ -Y)
        shin = thigh @ _rotation(X, angles[f"{side}_knee"])  # the knee bends backwards
        p[J[f"{side}_hip"]], p[J[f"{side}_knee"]] = hip, knee
        p[J[f"{side}_ankle"]] = knee + bones["shin"] * (shin @ -Y)
        shoulder = p[J["thorax"]] + chest @ (sign * bones["shoulder"] * X - 20 * Y)
        arm = chest @ _rotation(Z, sign * angles[f"{side}_shoulder_abd"]) @ _rotation(X, -angles[f"{side}_shoulder_flex"])
        elbow = shoulder + bones["upper_arm"] * (arm @ -Y)
        forearm = arm @ _rotation(X, -angles[f"{side}_elbow"])  # the elbow bends forwards
        p[J[f"{side}_shoulder"]], p[J[f"{side}_elbow"]] = shoulder, elbow
        p[J[f"{side}_wrist"]] = elbow + bones["forearm"] * (forearm @ -Y)
    return p


def sample_person(rng):
    """Bone lengths (mm) of one adult: a height factor (sd 6 %) times a per-bone spread (sd 3 %), left = right."""
    height = rng.normal(1.0, 0.06)
    return {name: length * height * rng.normal(1.0, 0.03) for name, length in BONES.items()}


def sample_motion(rng, frames):
    """Joint angles along one smooth motion: each a sinusoid about a random pose, clipped to its limits. Three
    motions in five are calm (standing, walking, gesturing: every angle's centre within 0.35 of its range about
    the rest pose), the others use the full range (sitting, reaching, crouching)."""
    t = np.arange(frames)
    reach = 0.35 if rng.random() < 0.6 else 1.0
    motion = []
    for lo, hi in ANGLES.values():
        centre, amp = reach * rng.uniform(lo, hi), rng.uniform(0, 0.25) * (hi - lo)
        period, phase = rng.uniform(frames, 4 * frames), rng.uniform(0, 2 * math.pi)
        motion.append(np.clip(centre + amp * np.sin(2 * math.pi * t / period + phase), lo, hi))
    return [dict(zip(ANGLES, values)) for values in np.stack(motion, 1)]


def sample_camera(rng, target, size):
    """A Human3.6M-like camera looking at ``target`` (mm): R, t (X_cam = R X + t), f, c for size x size px."""
    azimuth, distance, height = rng.uniform(0, 2 * math.pi), rng.uniform(3500, 6000), rng.uniform(1000, 2000)
    centre = np.array([target[0] + distance * math.cos(azimuth), target[1] + distance * math.sin(azimuth), height])
    aim = target + np.array([*rng.normal(0, 250, 2), rng.normal(-100, 150)])  # the person is not always centred
    R, t = look_at(centre, aim)
    f = np.full(2, 1.145 * size) * rng.normal(1, 0.01, 2)
    c = size / 2 + rng.normal(0, 0.01 * size, 2)
    return {"R": R, "t": t, "f": f, "c": c}


BODY_TO_WORLD = np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]])  # body y up, z forward -> world z up (a rotation)


def sample_sequence(rng, frames, size):
    """One sequence: a person (``sample_person``) somewhere in a 3 x 3 m room, turned at random, along one motion
    (``sample_motion``), the lower ankle 80 mm above the floor; and the camera that sees it (``sample_camera``,
    aimed at the first frame's pelvis). Returns (world joints (frames, 17, 3) mm, camera)."""
    bones = sample_person(rng)
    root_xy = rng.uniform(-1500, 1500, 2)
    motion = sample_motion(rng, frames)
    to_world = _rotation((0, 0, 1), rng.uniform(0, 360)) @ BODY_TO_WORLD
    worlds = []
    for angles in motion:
        body = pose_body(angles, bones) @ to_world.T
        worlds.append(body + [*root_xy, -body[:, 2].min() + 80])
    return np.stack(worlds), sample_camera(rng, worlds[0][0], size)


def _tubes(joint_cam, pix, f):
    """The body's parts as (depth, kind, pixels, width px) to paint far to near."""
    width = lambda mm, z: max(1.0, 2 * f * mm / z)
    parts = []
    limbs = {("right_hip", "right_knee"): "thigh", ("left_hip", "left_knee"): "thigh", ("right_knee", "right_ankle"): "shin",
             ("left_knee", "left_ankle"): "shin", ("right_shoulder", "right_elbow"): "upper_arm",
             ("left_shoulder", "left_elbow"): "upper_arm", ("right_elbow", "right_wrist"): "forearm",
             ("left_elbow", "left_wrist"): "forearm", ("thorax", "neck"): "neck"}
    for (a, b), kind in limbs.items():
        z = (joint_cam[J[a], 2] + joint_cam[J[b], 2]) / 2
        parts.append((z, kind, [pix[J[a]], pix[J[b]]], width(RADIUS[kind], z)))
    torso = [J["left_shoulder"], J["right_shoulder"], J["right_hip"], J["left_hip"]]
    parts.append((joint_cam[torso, 2].mean(), "torso", [pix[j] for j in torso], width(90, joint_cam[J["spine"], 2])))
    z = joint_cam[J["head"], 2]
    parts.append((z - 1.0, "head", [(pix[J["head"]] + pix[J["neck"]]) / 2], width(105, z)))
    return sorted(parts, key=lambda part: -part[0])


def draw_person(draw, parts, colors):
    """Paint the parts of ``_tubes`` (far first); ``colors`` maps a part to a fill (one value for a mask)."""
    fill = {"thigh": "legs", "shin": "legs", "upper_arm": "arms", "forearm": "skin", "neck": "skin", "torso": "torso",
            "head": "skin"}
    for _, kind, pts, w in parts:
        color = colors[fill[kind]]
        pts = [tuple(float(v) for v in q) for q in pts]
        if kind == "torso":
            draw.polygon(pts, fill=color)
            draw.line(pts + pts[:1], fill=color, width=int(w * 0.6))
        elif kind == "head":
            (x, y), r = pts[0], w / 2
            draw.ellipse([x - r, y - 1.15 * r, x + r, y + 1.15 * r], fill=color)
        else:
            draw.line(pts, fill=color, width=int(w))
            for x, y in pts:
                draw.ellipse([x - w / 2, y - w / 2, x + w / 2, y + w / 2], fill=color)


def render(rng, joint_cam, pix, f, cfg):
    """One picture of a person (joints in camera mm and in pixels): (image, visibility (K,) 2 seen / 1 covered)."""
    size = cfg.size
    img = _background(rng, size, size)
    parts = _tubes(joint_cam, pix, f)
    draw_person(ImageDraw.Draw(img), parts, _colors(rng))
    mask = Image.new("L", (size, size), 0)
    draw_person(ImageDraw.Draw(mask), parts, {k: 255 for k in ("legs", "arms", "skin", "torso")})
    img = _texture(rng, img, np.asarray(mask) > 0)
    covered = np.zeros((size, size), dtype=bool)
    if rng.random() < cfg.occluder_prob:
        draw = ImageDraw.Draw(img)
        for _ in range(rng.integers(1, 3)):
            x0, y0 = rng.uniform(0, 1, 2) * size
            box = [float(x0), float(y0), float(x0 + rng.uniform(0.1, 0.35) * size), float(y0 + rng.uniform(0.1, 0.3) * size)]
            draw.rectangle(box, fill=tuple(int(v) for v in rng.uniform(0, 255, 3)))
            covered[int(box[1]):int(box[3]) + 1, int(box[0]):int(box[2]) + 1] = True
    xi, yi = np.clip(pix[:, 0].round().astype(int), 0, size - 1), np.clip(pix[:, 1].round().astype(int), 0, size - 1)
    inside = (pix[:, 0] >= 0) & (pix[:, 0] <= size - 1) & (pix[:, 1] >= 0) & (pix[:, 1] <= size - 1)
    return img, np.where(inside & ~covered[yi, xi], 2, 1)


def person_box(pix, size, margin=0.15):
    """[x, y, w, h] around the joints, ``margin`` of their extent added on each side, clipped to the picture."""
    lo, hi = pix.min(0), pix.max(0)
    pad = margin * (hi - lo) + 4
    lo, hi = np.clip(lo - pad, 0, size - 1), np.clip(hi + pad, 0, size - 1)
    return [float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])]


def generate_split(root, split, n_sequences, seed, cfg, first_sequence=1, progress=False):
    """Write ``n_sequences`` x ``frames`` pictures of one split under ``root``; returns the camera dict for
    cameras.pkl (mmpose's form)."""
    from tqdm.auto import tqdm

    images, anns, truth, cameras = [], [], [], {}
    npz = {k: [] for k in ("imgname", "center", "scale", "part", "S")}
    for s in tqdm(range(n_sequences), desc=f"synth3d {split}", disable=not progress):
        rng = np.random.default_rng([seed, 0 if split == "train" else 1, s])
        seq = first_sequence + s
        subject, cam_id = f"S{seq}", f"{seq:08d}"
        worlds, cam = sample_sequence(rng, cfg.frames, cfg.size)
        folder = f"{subject}/{subject}_Synth.{cam_id}"
        if cfg.images:
            os.makedirs(os.path.join(root, "images", split, folder), exist_ok=True)
        for frame, world in enumerate(worlds):
            joint_cam = world_to_camera(world, cam["R"], cam["t"])
            pix = camera_to_pixel(joint_cam, cam["f"], cam["c"])
            name = f"{folder}/{subject}_Synth.{cam_id}_{frame + 1:06d}.jpg"
            vis = np.full(K, 2)
            if cfg.images:
                img, vis = render(rng, joint_cam, pix, cam["f"][0], cfg)
                img.save(os.path.join(root, "images", split, name), quality=cfg.jpeg_quality)
            image_id = len(images) + 1
            noise = np.zeros((K, 3))
            if split == "train" and cfg.noise_mm > 0:
                noise = rng.standard_t(3.0, (K, 3)) * cfg.noise_mm * NOISE_FACTOR[:, None]
            label = world + noise
            label_cam = world_to_camera(label, cam["R"], cam["t"])
            box = person_box(pix, cfg.size)
            images.append({"id": image_id, "file_name": name, "width": cfg.size, "height": cfg.size,
                           "subject": subject, "sequence": seq, "frame": frame + 1})
            anns.append({"id": image_id, "image_id": image_id, "bbox": [round(v, 2) for v in box],
                         "cam_param": {k: np.round(v, 6).tolist() for k, v in cam.items()},
                         "keypoints_world": label.round(3).tolist(), "keypoints_img": pix.round(3).tolist(),
                         "keypoints_vis": vis.tolist()})
            truth.append({"id": image_id, "joint_world": world.tolist(), "noise_mm": noise.tolist()})
            npz["imgname"].append(name)
            npz["center"].append([box[0] + box[2] / 2, box[1] + box[3] / 2])
            npz["scale"].append(max(box[2], box[3]) / 200)
            npz["part"].append(np.concatenate([pix, np.ones((K, 1))], 1))
            npz["S"].append(np.concatenate([label_cam / 1000, np.ones((K, 1))], 1))
        R_c2w = cam["R"].T
        cameras[(subject, cam_id)] = {"R": R_c2w, "T": (-R_c2w @ cam["t"] / 1000)[:, None], "c": cam["c"][:, None],
                                      "f": cam["f"][:, None], "k": np.zeros((3, 1)), "p": np.zeros((2, 1)),
                                      "w": cfg.size, "h": cfg.size, "name": subject, "id": cam_id}
    _write_split(root, split, seed, cfg, images, anns, truth, npz)
    return cameras


def _write_split(root, split, seed, cfg, images, anns, truth, npz):
    """One split's annotations in both forms (3DMPPE's JSON, mmpose's npz) and its truth."""
    ann_dir = os.path.join(root, "annotations")
    os.makedirs(ann_dir, exist_ok=True)
    info = {"description": f"Synth3D {split} (rlelab), seed {seed}", "config": asdict(cfg), "seed": seed}
    write_json = lambda path, obj: atomic_write(path, lambda f: json.dump(obj, f), binary=False)
    write_json(os.path.join(ann_dir, f"h36m_{split}.json"), {"info": info, "images": images, "annotations": anns})
    write_json(os.path.join(ann_dir, f"truth_{split}.json"), {
        **info, "noise_law": "student_t(nu=3) per world coordinate, scale noise_mm x factor",
        "noise_factor": NOISE_FACTOR.tolist(), "annotations": truth})
    atomic_write(os.path.join(ann_dir, f"h36m_{split}.npz"),
                 lambda f: np.savez(f, imgname=np.array(npz["imgname"]), center=np.array(npz["center"]),
                                    scale=np.array(npz["scale"]), part=np.array(npz["part"]), S=np.array(npz["S"])))


def generate(out, n_train, n_val, seed=0, config=None, progress=False):
    """Write a Synth3D data set to ``out`` (built in a temp folder beside it, then renamed): ``n_train`` and
    ``n_val`` sequences of ``config.frames`` pictures each."""
    cfg = config or Synth3DConfig()
    if cfg.size < 32 or cfg.frames < 1 or not 0 <= cfg.noise_mm < math.inf:
        raise ValueError(f"synth3d: size {cfg.size}, frames {cfg.frames}, noise_mm {cfg.noise_mm}; the pictures need "
                         "at least 32 px, a sequence a frame, and the noise a finite scale >= 0.")
    if n_train < 0 or n_val < 0 or n_train + n_val < 1:
        raise ValueError(f"synth3d: {n_train} train and {n_val} val sequences; each count must be 0 or more, and one "
                         "of them at least 1.")
    def build(tmp):
        cameras = generate_split(tmp, "train", n_train, seed, cfg, first_sequence=1, progress=progress)
        cameras.update(generate_split(tmp, "val", n_val, seed, cfg, first_sequence=n_train + 1, progress=progress))
        atomic_write(os.path.join(tmp, "annotations", "cameras.pkl"), lambda f: pickle.dump(cameras, f))

    return write_folder(out, build, ".synth3d-")
