"""An output folder that appears whole or not at all: built in a hidden sibling, then renamed into place.

A killed run leaves only the hidden `.NAME.tmp-HOST-PID-*` sibling behind, never a half-written model at NAME;
the next run for NAME removes such siblings of dead processes on this host. With `force`, an existing NAME is
renamed away, the new folder renamed in, and only then the old one deleted.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from lorascope.atomic import check_out_folder
from lorascope.errors import InputError

_COPY_SKIP_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".msgpack", ".gguf")


def _inside(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def check_out_dir(out: str | Path, *, force: bool, inputs: Sequence[Path], option: str = "--out") -> Path:
    """`out` as an absolute Path once it may be written; non-empty without `force`, a file or a folder
    that overlaps an input is an InputError, raised before any work starts."""
    out = Path(out).expanduser()
    if out.is_symlink():
        raise InputError(f"{option} {out}: is a symlink; name the real folder")
    out = out.absolute()
    check_out_folder(out, option, parents=False)
    if out.is_dir() and any(out.iterdir()) and not force:
        raise InputError(f"{option} {out}: the folder is not empty; pass --force (force=True) to replace it")
    real = out.resolve()
    for source in inputs:
        src = Path(source).resolve()
        if _inside(src, real) or _inside(real, src):
            raise InputError(f"{option} {out}: overlaps the input {source}; write somewhere else")
    return out


def _host() -> str:
    return "".join(c if c.isalnum() else "_" for c in socket.gethostname()) or "host"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError, IndexError):  # a zombie is dead for our purpose
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def _prefix(out: Path, kind: str) -> str:
    return f".{out.name}.{kind}-{_host()}-{os.getpid()}-"


def remove_dead_siblings(out: Path) -> list[Path]:
    """Delete the hidden staging folders of `out` left by killed runs (this host, process gone); their paths."""
    pattern = re.compile(rf"\.{re.escape(out.name)}\.(?:tmp|old)-(?P<host>[^-]+)-(?P<pid>\d+)-[^-]*")
    removed = []
    with contextlib.suppress(OSError):
        for path in out.parent.iterdir():
            found = pattern.fullmatch(path.name)
            if found and found["host"] == _host() and path.is_dir() and not _alive(int(found["pid"])):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
    return removed


@contextlib.contextmanager
def staged_dir(out: Path, *, force: bool) -> Iterator[Path]:
    """Yield an empty hidden folder beside `out`; on success it becomes `out`, on error it is removed."""
    remove_dead_siblings(out)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=_prefix(out, "tmp"), dir=out.parent))
    except OSError as err:
        raise InputError(f"--out {out}: cannot create a folder beside it ({err.strerror or err})") from err
    try:
        yield tmp
        _commit(tmp, out, force)
    except (InputError, OSError) as err:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(err, InputError) and str(tmp) not in str(err):
            raise
        # a failed write names the hidden folder, which is gone now: name --out instead
        why = str(err).replace(str(tmp), str(out)) if isinstance(err, InputError) else (err.strerror or str(err))
        raise InputError(f"--out {out}: writing failed, nothing was written: {why}") from err
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _commit(tmp: Path, out: Path, force: bool) -> None:
    if out.is_dir() and not any(out.iterdir()):
        out.rmdir()
    if not out.exists():
        os.replace(tmp, out)
        return
    if not force:
        raise InputError(f"--out {out}: became non-empty while writing; nothing was replaced")
    old = Path(tempfile.mkdtemp(prefix=_prefix(out, "old"), dir=out.parent))
    old.rmdir()
    os.replace(out, old)
    try:
        os.replace(tmp, out)
    except OSError:
        os.replace(old, out)  # put the previous folder back
        raise
    shutil.rmtree(old, ignore_errors=True)


def copy_small_files(source: Path, dest: Path, skip: Sequence[str] = ()) -> list[str]:
    """Copy the top-level files of `source` that are not weights (config, tokenizer, README…); their names."""
    copied = []
    for item in sorted(source.iterdir()):
        if not item.is_file() or item.name in skip or item.name.startswith("."):
            continue
        if item.name.endswith(_COPY_SKIP_SUFFIXES) or item.name.endswith(".index.json"):
            continue
        shutil.copy2(item, dest / item.name)
        copied.append(item.name)
    return copied


def copy_beside(source: Path, dest: Path) -> None:
    """The small files of a model folder (config.json, tokenizer…) into `dest`; for a weights file, the
    config.json next to it."""
    if source.is_dir():
        copy_small_files(source, dest)
    elif (source.parent / "config.json").is_file():
        shutil.copyfile(source.parent / "config.json", dest / "config.json")
