"""Files that are complete or absent, never half-written: each write goes to a temp file beside its target,
then one rename. A kill leaves at most a temp file, which its owner removes at its next start. Files from
others are data: torch files are read with ``weights_only=True`` (``load_data``), pickles through an unpickler
that admits only the numpy arrays and plain containers their format uses (``load_numpy_pickle``). The files
rlelab ships (``data/``) are found from anywhere by ``shipped``."""
import collections
import glob
import os
import pickle
import shutil
import tempfile

import numpy as np
import torch

TEMP_SUFFIX = ".rlelab-tmp"
SHIPPED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")  # the repository's data/


def shipped(name):
    """The path of ``data/NAME``, a file that comes with rlelab (a checkpoint, a lifting model), whatever folder the
    caller runs in: a lab opened from anywhere finds it."""
    path = os.path.join(SHIPPED, name)
    if not os.path.exists(path):
        raise ValueError(f"{path}: not there; the shipped files come with a clone of rlelab installed by "
                         "pip install -e . (README, the two commands at the top).")
    return path


def atomic_write(path, write, binary=True):
    """Call ``write(f)`` on a new temp file beside ``path``, then rename it to ``path`` (permissions as any new
    file under the umask). On an error the temp file is removed and ``path`` is untouched; the system's refusal
    (no permission, a full disk) is one sentence naming ``path``."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=TEMP_SUFFIX)
    except OSError as e:
        raise ValueError(f"{path}: cannot write there ({e.strerror}); choose another place.") from None
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"newline": ""})) as f:
            write(f)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a checkpoint is shared like any file
        os.replace(tmp, path)
    except BaseException as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        if isinstance(e, OSError) and e.strerror:
            raise ValueError(f"{path}: could not be written ({e.strerror}); nothing was changed there: free some "
                             "space or choose another place.") from None
        raise


def claim_folder(out, files, marks, resume=None, overwrite=False):
    """Make the folder ``out`` one writer's own, before any work: a lock (a second writer on it refuses), temp files
    of a killed writer removed, and a run already there (any of ``marks``) never replaced unless ``overwrite``
    (which removes ``files``). ``resume``: None where the writer cannot resume. Returns the open lock file."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise ValueError(f"{out} is a file; --out names a folder: choose another.")
    try:
        os.makedirs(out, exist_ok=True)
        lock = open(os.path.join(out, ".lock"), "a")
    except OSError as e:
        raise ValueError(f"{out}: cannot write there ({e.strerror}); choose another --out.") from None
    try:
        import fcntl

        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except ImportError:
        pass  # no fcntl (Windows): no lock
    except OSError:
        lock.close()
        raise ValueError(f"{out}: another run is writing to this folder; wait for it or choose another --out.") from None
    if remove_temp_files(out):
        print(f"{out}: removed the temp files of an interrupted save.", flush=True)
    used = [name for name in marks if os.path.exists(os.path.join(out, name))]
    if used and not resume:
        if not overwrite:
            lock.close()
            how = "continue it with --resume, replace it with --overwrite" if resume is not None else "replace it with --overwrite"
            raise ValueError(f"{out}: holds a run already ({', '.join(used)}); {how}, or choose another --out.")
        for name in files:
            path = os.path.join(out, name)
            if os.path.isdir(path):
                shutil.rmtree(path)
            elif os.path.exists(path):
                os.remove(path)
    return lock


def refuse_existing(path, overwrite, option):
    """One sentence, before any work, if ``path`` exists and ``overwrite`` is off: nothing made is replaced unasked."""
    if not path:
        raise ValueError(f"{option} is empty; give a file name.")
    if os.path.isdir(path):
        raise ValueError(f"{path} is a folder; give a file name for {option}.")
    if os.path.exists(path) and not overwrite:
        raise ValueError(f"{path} exists; choose another {option}, or add --overwrite to replace it.")
    folder = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(folder):  # the nearest folder that exists: the writer makes the rest
        folder = os.path.dirname(folder)
    if not os.path.isdir(folder):
        raise ValueError(f"{path} lies under {folder}, which is a file; choose another {option}.")
    if not os.access(folder, os.W_OK):
        raise ValueError(f"{folder} is not writable; choose another {option}.")


def remove_temp_files(folder):
    """Remove the temp files a killed writer left in ``folder``; returns how many there were."""
    stale = glob.glob(os.path.join(glob.escape(os.fspath(folder)), f".*{TEMP_SUFFIX}"))
    for path in stale:
        os.remove(path)
    return len(stale)


def write_folder(out, build, prefix):
    """Make the folder ``out`` whole or not at all: ``build(tmp)`` fills a temp folder beside it, which is then
    renamed to ``out``. ``out`` must be absent or empty (nothing a user made is overwritten)."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise ValueError(f"{out} is a file; --out names the folder to write to.")
    if os.path.exists(out) and os.listdir(out):
        raise ValueError(f"{out} exists and is not empty; choose another --out or remove it.")
    parent = os.path.dirname(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix=prefix)
    try:
        build(tmp)
        if os.path.exists(out):
            os.rmdir(out)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp)
    return out


class Inert:
    """What an object of a class a file names but rlelab does not trust becomes: its saved state, kept as data.
    Building it calls nothing of the file's choosing (``load_data``)."""

    def __new__(cls, *args, **kwargs):
        inst = super().__new__(cls)
        inst.args = args
        return inst

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        self.state = state


def load_data(path, map_location="cpu", inert_ok=False):
    """The content of a torch file read as data (``weights_only=True``: tensors, numbers, strings, containers).

    A file that names other classes or functions (a trainer's meta dict: mmengine's message hub, numpy arrays) is
    refused in one sentence naming them, or, with ``inert_ok``, read with each of them replaced by ``Inert``, so
    its tensors come out and nothing it names is called. Never read with ``weights_only=False``."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        if "Weights only load failed" not in str(e):
            raise
        refused = e
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # noqa: BLE001 - not torch.save's zip form: the caller says what the file is not
        raise refused from None
    if not inert_ok:
        raise ValueError(f"{path}: holds objects other than tensors and plain values ({', '.join(names[:6])}); rlelab "
                         "reads files as data only and will not build them.")
    stand_ins = [(type(name.rsplit(".", 1)[-1], (Inert,), {"__module__": "rlelab.files"}), name) for name in names]
    try:
        with torch.serialization.safe_globals(stand_ins):
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:  # torch refuses sys, os, posix and nt even as stand-ins, and more it cannot build
        why = str(e).strip().splitlines()[-1][:100] if str(e).strip() else type(e).__name__
        raise ValueError(f"{path}: names {', '.join(names[:6])}; read as data it still fails ({why}); rlelab will "
                         "not read it.") from None


class _Refused(pickle.UnpicklingError):
    pass


class _Dtype:
    """numpy.dtype as a pickle names it: only a plain number type (bool, int, uint, float, complex), no fields."""

    def __init__(self, spec, align=False, copy=True):
        self.spec, self.order = str(spec), "|"

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) < 5 or any(x is not None for x in state[2:5]):
            raise _Refused("it holds a numpy dtype with fields or sub-arrays")
        self.order = state[1]

    def build(self):
        dtype = np.dtype(self.order.replace("|", "=") + self.spec if self.order in "<>|=" else self.spec)
        if dtype.kind not in "biufc" or dtype.fields is not None or dtype.subdtype is not None:
            raise _Refused(f"it holds a numpy array of dtype {dtype}, not of plain numbers")
        return dtype


def _checked_array(raw, dtype, shape, fortran=False):
    """A copy of the numbers in ``raw`` (bytes) as ``shape``, its size checked against the bytes there are."""
    dtype = dtype.build() if isinstance(dtype, _Dtype) else None
    shape = tuple(int(n) for n in shape) if isinstance(shape, (tuple, list)) else None
    raw = bytes(raw) if isinstance(raw, (bytes, bytearray, pickle.PickleBuffer)) else None
    if dtype is None or shape is None or raw is None or any(n < 0 for n in shape):
        raise _Refused("it holds a numpy array that is not one of plain numbers")
    if len(raw) != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize:
        raise _Refused(f"a numpy array of shape {shape} has {len(raw)} bytes, not {int(np.prod(shape)) * dtype.itemsize}")
    return np.frombuffer(raw, dtype).reshape(shape, order="F" if fortran else "C").copy()


class _Array:
    """numpy's _reconstruct(ndarray, ...) then its state: becomes a checked copy (``_checked_array``)."""

    def __init__(self, *args):  # numpy's (ndarray, shape, b"b"): the real content comes with the state
        self.array = None

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) != 5:
            raise _Refused("it holds a numpy array in an unknown form")
        _, shape, dtype, fortran, raw = state
        self.array = _checked_array(raw, dtype, shape, bool(fortran))


def _scalar(dtype, raw):
    return _checked_array(raw, dtype, ())[()]


def _frombuffer(buf, dtype, shape, order):  # pickle protocol 5's form of an array
    return _checked_array(buf, dtype, shape, order == "F")


def _resolve(obj):
    """The loaded object with every ``_Array`` replaced by its array and every dtype left as data."""
    if isinstance(obj, _Array):
        return obj.array
    if isinstance(obj, _Dtype):
        return obj.build()
    if isinstance(obj, dict):
        return type(obj)((_resolve(k), _resolve(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_resolve(v) for v in obj)
    return obj


class _NumpyUnpickler(pickle.Unpickler):
    """Only numpy arrays of plain numbers, rebuilt here from their bytes (numpy's own rebuild trusts the file's
    dtype, and a crafted one reads memory it should not), and plain containers."""

    STAND_INS = {"_reconstruct": _Array, "ndarray": _Array, "dtype": _Dtype, "scalar": _scalar,
                 "_frombuffer": _frombuffer}  # ndarray: only passed to _reconstruct, never built
    MODULES = ("numpy", "numpy.core.multiarray", "numpy._core.multiarray", "numpy.core.numeric", "numpy._core.numeric")

    def find_class(self, module, name):
        if module in self.MODULES and name in self.STAND_INS:
            return self.STAND_INS[name]
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("_codecs", "encode"):  # protocol 2's bytes: latin-1 text back to bytes
            return lambda text, encoding="latin1": str(text).encode("latin1")
        raise _Refused(f"it names {module}.{name}, which is neither a numpy array nor a plain container")


def load_numpy_pickle(path):
    """A pickle of numpy arrays, numbers, strings and plain containers (Human3.6M's cameras.pkl); anything that
    names another class or function is refused in one sentence (pickle would run it)."""
    with open(path, "rb") as f:
        try:
            return _resolve(_NumpyUnpickler(f).load())
        except _Refused as e:
            raise ValueError(f"{path}: not read: {e}; rlelab reads pickles as data only.") from None
        except Exception as e:  # noqa: BLE001 - truncated, empty or not a pickle: one sentence
            raise ValueError(f"{path}: not a readable pickle ({type(e).__name__}: {str(e)[:80]}).") from None
