"""The released COCO models in one command: ``python -m rlelab download-weights NAME`` fetches a model zoo's file,
checks its sha256 against the hash its name carries (mmpose names each file ``...-<first 8 hex of its sha256>_<date>
.pth``), and imports it (``released.import_weights``) into a checkpoint under ``data/`` that eval, the app and the
labs list. Nothing else in rlelab touches the network.

The authors' own model (``coco-laplace-rle.pth``) is shared from a Google Drive page, not from a stable address
a program can fetch: download it by hand, then ``python -m rlelab import-weights FILE --format official``.
"""
import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass

from tqdm.auto import tqdm

from .files import refuse_existing

MMPOSE = "https://download.openmmlab.com/mmpose/top_down/deeppose/"


@dataclass(frozen=True)
class Release:
    url: str
    sha256: str  # the first hex digits of the file's sha256 (mmpose puts 8 in the file's name)
    fmt: str  # released.FORMATS
    input_size: tuple
    ap: float  # COCO val2017 AP with the zoo's person detections, as the zoo reports it
    out: str  # the checkpoint written under the folder


# mmpose's model zoo, configs/body_2d_keypoint/topdown_regression/coco/resnet_rle_coco.md
RELEASES = {
    "mmpose-res50-rle": Release(MMPOSE + "deeppose_res50_coco_256x192_rle-2ea9bb4a_20220616.pth", "2ea9bb4a",
                                "mmpose", (256, 192), 0.704, "coco_res50_rle_mmpose.pt"),
    "mmpose-res101-rle": Release(MMPOSE + "deeppose_res101_coco_256x192_rle-16c3d461_20220615.pth", "16c3d461",
                                 "mmpose", (256, 192), 0.722, "coco_res101_rle_mmpose.pt"),
    "mmpose-res152-rle": Release(MMPOSE + "deeppose_res152_coco_256x192_rle-c05bdccf_20220615.pth", "c05bdccf",
                                 "mmpose", (256, 192), 0.731, "coco_res152_rle_mmpose.pt"),
    "mmpose-res152-rle-384x288": Release(MMPOSE + "deeppose_res152_coco_384x288_rle-b77c4c37_20220624.pth",
                                         "b77c4c37", "mmpose", (384, 288), 0.749, "coco_res152_rle_384x288_mmpose.pt"),
}
AUTHORS = ("the authors' coco-laplace-rle.pth has no stable address (a Google Drive page, linked from the README of "
           "Jeff-sjtu/res-loglikelihood-regression): download it by hand, then `python -m rlelab import-weights "
           "coco-laplace-rle.pth --format official --out data/coco_res50_rle_official.pt`")


def fetch(url, into, sha256, progress=True, timeout=60):
    """Stream ``url`` into the open binary file ``into``; one sentence if the network fails, the transfer stops
    short of its announced length, or the bytes' sha256 does not begin with ``sha256``."""
    digest, received = hashlib.sha256(), 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            size = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=size, unit="B", unit_scale=True, desc=os.path.basename(url)[:40], disable=not progress) as bar:
                while chunk := response.read(1 << 20):
                    into.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:  # offline, refused, timed out, cut off
        reason = getattr(e, "reason", None) or e
        raise ValueError(f"could not download {url} ({reason}) after {received:,} bytes; check the connection and run "
                         "the command again (nothing was kept).") from None
    if size is not None and received != size:
        raise ValueError(f"the download of {url} stopped after {received:,} of {size:,} bytes; run the command again "
                         "(nothing was kept).")
    if not digest.hexdigest().startswith(sha256):
        raise ValueError(f"{url}: its sha256 begins {digest.hexdigest()[:len(sha256)]}, not {sha256} as the release "
                         "says: a corrupted or different file (nothing was kept).")


def download_weights(name, folder="data", url=None, overwrite=False, progress=True):
    """(TrainConfig, path) of the checkpoint ``folder/<release.out>`` imported from the release ``name``
    (``url``: a mirror of the same file). The downloaded file is kept only until it is imported."""
    from .released import import_weights

    if name not in RELEASES:
        raise ValueError(f"unknown release {name!r}; choose one of {', '.join(RELEASES)} ({AUTHORS}).")
    release = RELEASES[name]
    out = os.path.join(folder, release.out)
    refuse_existing(out, overwrite, "the checkpoint")
    os.makedirs(folder, exist_ok=True)
    handle, part = tempfile.mkstemp(dir=folder, prefix=f".{name}-", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as f:
            fetch(url or release.url, f, release.sha256, progress)
        cfg = import_weights(part, release.fmt, out, input_size=release.input_size, overwrite=overwrite)
    finally:
        os.remove(part)
    return cfg, out
