"""Pinhole cameras of Human3.6M and Synth3D: world -> camera -> pixels and back, in millimetres.

Two conventions for the extrinsics are in use, and both are read here:

- 3DMPPE's JSON (and the RLE code's): ``cam_param`` R, t with X_cam = R X_world + t (t in mm).
- mmpose's ``cameras.pkl`` (Human3.6M's own calibration): R, T with X_cam = R^T (X_world - T) (T in metres: R
  is the camera-to-world rotation and T the camera's centre).

Pixels: u = f x / z + c, with Human3.6M's radial (k1, k2, k3) and tangential (p1, p2) distortion when given
(its 2-D annotations were projected with them; without them they are off by up to 2.5 px).
"""
import numpy as np


def world_to_camera(points, R, t):
    """X_cam = R X_world + t (3DMPPE's convention), points (..., 3)."""
    return np.asarray(points) @ np.asarray(R).T + np.asarray(t).reshape(3)


def camera_to_pixel(points, f, c, k=None, p=None):
    """(..., 3) camera coordinates -> (..., 2) pixels; ``k`` (3 radial) and ``p`` (2 tangential) as Human3.6M's."""
    points = np.asarray(points, dtype=np.float64)
    x = points[..., :2] / points[..., 2:]
    if k is not None or p is not None:
        k = np.zeros(3) if k is None else np.asarray(k, dtype=np.float64).reshape(-1)
        p = np.zeros(2) if p is None else np.asarray(p, dtype=np.float64).reshape(-1)
        r2 = (x**2).sum(-1, keepdims=True)
        radial = 1 + k[0] * r2 + k[1] * r2**2 + k[2] * r2**3
        tangential = p[0] * x[..., 1:] + p[1] * x[..., :1]
        x = x * (radial + tangential) + r2 * p[::-1]
    return x * np.asarray(f).reshape(2) + np.asarray(c).reshape(2)


def pixel_to_camera(uvz, f, c):
    """(..., 3) pixels u, v and camera depth z -> camera coordinates (pinhole, the inverse of camera_to_pixel
    without distortion): x = (u - c_x) z / f_x, y = (v - c_y) z / f_y."""
    uvz = np.asarray(uvz, dtype=np.float64)
    xy = (uvz[..., :2] - np.asarray(c).reshape(2)) / np.asarray(f).reshape(2) * uvz[..., 2:]
    return np.concatenate([xy, uvz[..., 2:]], -1)


def look_at(centre, target, up=(0.0, 0.0, 1.0)):
    """(R, t) of a camera at ``centre`` looking at ``target`` (world z up), image x right and y down."""
    centre, target = np.asarray(centre, dtype=np.float64), np.asarray(target, dtype=np.float64)
    z = target - centre
    z /= np.linalg.norm(z)
    x = np.cross(z, np.asarray(up, dtype=np.float64))
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z])
    return R, -R @ centre
