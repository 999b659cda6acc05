"""download-weights against a loopback HTTP server: a file with mmpose's key names, a bad hash, a transfer cut
short, no network, and nothing half-written in any of them."""
import hashlib
import http.server
import threading

import pytest
import torch

from rlelab import download
from rlelab.__main__ import main
from rlelab.checkpoints import load_checkpoint
from rlelab.download import Release, download_weights
from test_released import mmpose_file


class Serve(http.server.BaseHTTPRequestHandler):
    body, cut = b"", False  # what GET answers; cut: announce more bytes than are sent, then close

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body) + (1000 if self.cut else 0)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Serve)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/deeppose_res18_coco_256x192_rle.pth"
    httpd.shutdown()


@pytest.fixture
def release(tmp_path, monkeypatch):
    """A release of an mmpose-format ResNet-18 RLE file served by ``server``, under the name "test-rle"."""
    path, forward, _ = mmpose_file(tmp_path, backbone="resnet18")
    data = path.read_bytes()
    monkeypatch.setattr(Serve, "body", data)
    monkeypatch.setattr(Serve, "cut", False)
    sha = hashlib.sha256(data).hexdigest()[:8]
    monkeypatch.setitem(download.RELEASES, "test-rle", Release("unused", sha, "mmpose", (64, 48), 0.0, "coco_test.pt"))
    return data


def test_downloads_checks_and_imports_into_a_checkpoint_the_app_lists(server, release, tmp_path):
    folder = tmp_path / "data"
    cfg, out = download_weights("test-rle", str(folder), url=server, progress=False)
    assert out == str(folder / "coco_test.pt") and sorted(p.name for p in folder.iterdir()) == ["coco_test.pt"]
    model, loaded, ckpt = load_checkpoint(out)
    assert loaded.backbone == cfg.backbone == "resnet18" and loaded.variant == "mmpose" and loaded.input_size == [64, 48]
    assert ckpt["source"]["format"] == "mmpose"
    assert model(torch.zeros(1, 3, 64, 48))["mu_hat"].shape == (1, 17, 2)
    with pytest.raises(ValueError, match="coco_test.pt exists; .* add --overwrite"):
        download_weights("test-rle", str(folder), url=server, progress=False)


def test_a_bad_hash_keeps_nothing(server, release, tmp_path, monkeypatch):
    monkeypatch.setitem(download.RELEASES, "test-rle", Release("unused", "00000000", "mmpose", (64, 48), 0.0, "x.pt"))
    with pytest.raises(ValueError, match="its sha256 begins [0-9a-f]{8}, not 00000000 as the release says"):
        download_weights("test-rle", str(tmp_path), url=server, progress=False)
    assert not [p for p in tmp_path.iterdir() if p.suffix in (".pt", ".part")]


def test_a_transfer_cut_short_keeps_nothing(server, release, tmp_path, monkeypatch):
    monkeypatch.setattr(Serve, "cut", True)
    with pytest.raises(ValueError, match=r"(stopped after [\d,]+ of [\d,]+ bytes|could not download .* after [\d,]+ bytes)"):
        download_weights("test-rle", str(tmp_path), url=server, progress=False)
    assert not [p for p in tmp_path.iterdir() if p.suffix in (".pt", ".part")]


def test_offline_is_one_sentence(release, tmp_path):
    folder = tmp_path / "data"
    with pytest.raises(SystemExit) as stop:
        main(["download-weights", "test-rle", "--folder", str(folder), "--url", "http://127.0.0.1:9/nothing.pth"])
    assert str(stop.value.code).startswith("error: could not download http://127.0.0.1:9/nothing.pth (")
    assert not list(folder.iterdir())


def test_unknown_release_names_the_releases_and_the_authors_file(tmp_path):
    with pytest.raises(ValueError, match=r"unknown release 'rle'; choose one of mmpose-res50-rle, .* coco-laplace-rle.pth"):
        download_weights("rle", str(tmp_path))


def test_the_releases_carry_the_hash_their_names_say():
    for release in download.RELEASES.values():
        assert release.url.startswith("https://") and f"-{release.sha256}_" in release.url and len(release.sha256) == 8
