"""rlelab.files: files from others are read as data. A crafted checkpoint, released file, toy fit or cameras.pkl
whose unpickling would run code (here: numpy.save writing a marker file, as `weights_only=False` or plain
`pickle.load` would) is refused in one sentence on every path that reads one, and the marker never appears."""
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from rlelab import files

ROOT = Path(__file__).resolve().parents[1]


class Payload:
    """Unpickling this calls numpy.save(marker, ...): a file appears if anything runs it."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return np.save, (self.marker, np.zeros(1))


@pytest.fixture
def evil(tmp_path):
    """(a checkpoint-shaped torch file carrying the payload, the marker it would write)."""
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pt"
    torch.save({"config": {"loss": "rle"}, "model": {"w": torch.zeros(1)}, "epoch": 1, "optimizer": {},
                "payload": Payload(marker)}, path)
    return path, Path(f"{marker}.npy")


def entry_points(path, tmp_path):
    """Every reader of a file a user may be handed, as a call on ``path``."""
    from rlelab.checkpoints import export_checkpoint, load_checkpoint
    from rlelab.config import make_config
    from rlelab.lifting import load_lifting
    from rlelab.released import read_state
    from rlelab.toys import load_fit
    from rlelab.train import init_backbone, resume_state

    run = tmp_path / "run"
    run.mkdir(exist_ok=True)
    (run / "last.pt").write_bytes(path.read_bytes())
    return {
        "eval / the app's model list (load_checkpoint)": lambda: load_checkpoint(str(path)),
        "export": lambda: export_checkpoint(str(path), str(tmp_path / "small.pt")),
        "init_from": lambda: init_backbone(None, make_config({"init_from": str(path)})),
        "resume": lambda: resume_state(make_config({"out": str(run)})),
        "lift's model": lambda: load_lifting(str(path)),
        "a toy fit": lambda: load_fit(str(path)),
    }


def test_a_crafted_file_runs_nothing_on_any_reader(evil, tmp_path, capsys):
    path, marker = evil
    for name, call in entry_points(path, tmp_path).items():
        with pytest.raises(ValueError) as e:
            call()
            pytest.fail(f"{name} read the file")
        message = str(e.value)
        assert str(path.name) in message or "last.pt" in message, (name, message)  # the file is named
        assert "\n" not in message.strip(), (name, message)  # one sentence, no traceback
        assert not marker.exists(), f"{name} ran the file's code"
    assert "numpy.save" in str(pytest.raises(ValueError, files.load_data, path).value)  # says what it names
    from rlelab.released import read_state

    assert set(read_state(str(path))) == {"w"}  # import-weights: the payload an inert stand-in, the tensors read
    assert not marker.exists()


def test_eval_from_the_command_line_refuses_a_crafted_checkpoint(evil):
    path, marker = evil
    out = subprocess.run([sys.executable, "-m", "rlelab", "eval", "--checkpoint", str(path)], capture_output=True,
                         text=True, cwd=ROOT, timeout=300)
    assert out.returncode != 0 and "Traceback" not in out.stderr and "data only" in out.stderr, out.stderr[-1500:]
    assert not marker.exists()


def test_released_meta_objects_become_inert_data_and_the_tensors_come_out(tmp_path):
    """mmengine's meta dict holds numpy arrays and its own classes: read with stand-ins that call nothing, never
    with weights_only=False; the tensors are the file's."""
    marker = tmp_path / "ran"
    path = tmp_path / "mmpose.pth"
    state = {"backbone.conv1.weight": torch.randn(2, 3)}
    torch.save({"meta": {"flip_indices": np.arange(17), "hook": Payload(marker)}, "state_dict": state}, path)
    data = files.load_data(path, inert_ok=True)
    assert torch.equal(data["state_dict"]["backbone.conv1.weight"], state["backbone.conv1.weight"])
    assert isinstance(data["meta"]["hook"], files.Inert) and isinstance(data["meta"]["flip_indices"], files.Inert)
    assert not Path(f"{marker}.npy").exists()
    from rlelab.released import read_state

    assert set(read_state(str(path))) == set(state)


def test_a_file_naming_os_system_is_refused_even_with_stand_ins(tmp_path):
    class Shell:
        def __reduce__(self):
            return os.system, (f"touch {tmp_path / 'ran'}",)

    torch.save({"state_dict": {"w": torch.zeros(1)}, "x": Shell()}, tmp_path / "shell.pth")
    with pytest.raises(ValueError, match="will not read it"):
        files.load_data(tmp_path / "shell.pth", inert_ok=True)
    assert not (tmp_path / "ran").exists()


def test_cameras_pkl_admits_numpy_arrays_and_plain_containers_only(tmp_path):
    good = {("S9", "54138969"): {"R": np.eye(3), "T": np.zeros((3, 1)), "f": np.array([[1145.0], [1144.0]]),
                                  "name": "54138969", "w": 1000}}
    (tmp_path / "cameras.pkl").write_bytes(pickle.dumps(good))
    back = files.load_numpy_pickle(tmp_path / "cameras.pkl")
    assert np.array_equal(back[("S9", "54138969")]["f"], good[("S9", "54138969")]["f"])
    marker = tmp_path / "ran"
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps({"x": Payload(marker)}))
    with pytest.raises(ValueError, match="numpy.save.* data only"):
        files.load_numpy_pickle(tmp_path / "evil.pkl")
    from rlelab.tasks.h36m import read_mmpose

    np.savez(tmp_path / "h36m.npz", imgname=np.array(["S9_Walking.54138969_000001.jpg"]))
    with pytest.raises(ValueError, match="evil.pkl: not read"):  # the Human3.6M reader's path
        read_mmpose(str(tmp_path / "h36m.npz"), cameras=str(tmp_path / "evil.pkl"))
    assert not Path(f"{marker}.npy").exists()
    for protocol in (2, 4, 5):  # Python 3.14 writes protocol 5 by default; numpy then names _frombuffer
        (tmp_path / "p.pkl").write_bytes(pickle.dumps(good, protocol=protocol))
        assert np.array_equal(files.load_numpy_pickle(tmp_path / "p.pkl")[("S9", "54138969")]["R"], np.eye(3))
    # numpy's own rebuild trusts the file's dtype: a crafted one (fields at any offset, object pointers from raw
    # bytes) reads memory it should not; only arrays of plain numbers are rebuilt, from their bytes
    for name, bad in {"fields": np.zeros(2, dtype=[("a", "f8"), ("b", "i4")]), "objects": np.array([1, "a"], dtype=object)}.items():
        (tmp_path / f"{name}.pkl").write_bytes(pickle.dumps({"x": bad}))
        with pytest.raises(ValueError, match=f"{name}.pkl: not read: it holds a numpy"):
            files.load_numpy_pickle(tmp_path / f"{name}.pkl")
    (tmp_path / "short.pkl").write_bytes(pickle.dumps(good)[:20])
    with pytest.raises(ValueError, match="short.pkl: not a readable pickle"):
        files.load_numpy_pickle(tmp_path / "short.pkl")


def test_a_refused_write_is_one_sentence_and_changes_nothing(tmp_path, monkeypatch):
    """A full disk or a refused permission while a writer writes (PermissionError, OSError before): one sentence
    naming the file, the file that was there untouched, no temp file left. Root passes every permission check, so
    the system's refusals are raised where it would raise them."""
    import errno
    import os

    from rlelab.files import atomic_write

    path = tmp_path / "last.pt"
    path.write_bytes(b"the previous epoch")

    def disk_full(f):
        f.write(b"half a checkpoint")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(ValueError, match=r"last.pt: could not be written \(No space left on device\); nothing was changed"):
        atomic_write(path, disk_full)
    assert path.read_bytes() == b"the previous epoch" and sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]
    monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(PermissionError(errno.EACCES, "Permission denied")))
    with pytest.raises(ValueError, match=r"last.pt: could not be written \(Permission denied\)"):
        atomic_write(path, lambda f: f.write(b"new"))
    assert path.read_bytes() == b"the previous epoch" and sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]
    monkeypatch.undo()
    monkeypatch.setattr("tempfile.mkstemp", lambda **kw: (_ for _ in ()).throw(PermissionError(errno.EACCES, "Permission denied")))
    with pytest.raises(ValueError, match=r"new.json: cannot write there \(Permission denied\); choose another place"):
        atomic_write(tmp_path / "new.json", lambda f: f.write(b"{}"))
