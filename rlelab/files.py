"""Files that are complete or absent, never half-written: each write goes to a temp file beside its target,
then one rename. A kill leaves at most a temp file, which its owner removes at its next start."""
import glob
import os
import shutil
import tempfile

TEMP_SUFFIX = ".rlelab-tmp"


def atomic_write(path, write, binary=True):
    """Call ``write(f)`` on a new temp file beside ``path``, then rename it to ``path`` (permissions as any new
    file under the umask). On an error the temp file is removed and ``path`` is untouched."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"newline": ""})) as f:
            write(f)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a checkpoint is shared like any file
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def remove_temp_files(folder):
    """Remove the temp files a killed writer left in ``folder``; returns how many there were."""
    stale = glob.glob(os.path.join(glob.escape(os.fspath(folder)), f".*{TEMP_SUFFIX}"))
    for path in stale:
        os.remove(path)
    return len(stale)


def write_folder(out, build, prefix):
    """Make the folder ``out`` whole or not at all: ``build(tmp)`` fills a temp folder beside it, which is then
    renamed to ``out``. ``out`` must be absent or empty (nothing a user made is overwritten)."""
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
