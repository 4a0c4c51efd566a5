"""Writing a compiled directory without ever touching a file hydropy did not write.

The directory's ``.hydropy-manifest.json`` records every file hydropy wrote there (relative
path -> sha256 of its bytes). A recompile replaces recorded files that are unchanged, writes
new ones, removes recorded files it no longer generates, and leaves everything else alone
(files you added, ``__pycache__`` written by Python and Numba, ``*.orig`` backups). A
recorded file that was edited since is refused unless ``force``; with ``force`` the edited
copy is kept as ``FILE.orig`` (said in the returned notices). A file hydropy would write that
exists but is not recorded is refused, even with ``force``; so is a symbolic link on the way
to one (a linked ``stages/``, or the file itself), named with where it leads: hydropy never
writes through a link.

A directory without a manifest counts as an earlier output when its ``deploy.yaml`` carries
hydropy's header (compiled before manifests); its files whose header hash still matches are
hydropy's. Any other non-empty directory, or one holding the program itself, is refused
unless ``force``.

All or nothing: new contents are written into a temporary directory first, then renamed into
place; on any failure every rename is undone and the temporary directory removed.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile

from hydropy.errors import LoadError
from hydropy.ir.source import display_path

MANIFEST = ".hydropy-manifest.json"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_compiled(files: dict[str, str], out_dir: str, force: bool = False, *,
                   protect=()) -> list[str]:
    """Write ``files`` (relative path -> text) under ``out_dir``; return notices for stderr.

    ``protect``: paths (the program's own file) that are never written or removed, and whose
    presence under ``out_dir`` needs ``force``. Raises LoadError, with nothing changed, on a
    refusal or a location that cannot be written.
    """
    out = os.path.abspath(out_dir)
    data = {os.path.normpath(rel): text.encode("utf-8") for rel, text in files.items()}
    shown = display_path(out)
    try:
        if not os.path.lexists(out):
            _write_new(out, data)
            return []
        if not os.path.isdir(out):
            raise LoadError(f"{shown} exists and is not a directory")
        return _update(out, data, force, [os.path.realpath(p) for p in protect])
    except OSError as exc:
        where = display_path(exc.filename) if isinstance(exc.filename, str) else shown
        raise LoadError(f"cannot write the compiled program to {shown}: {where}: "
                        f"{exc.strerror or exc}") from None


def read_manifest(out: str) -> dict[str, str] | None:
    """The files hydropy recorded in ``out`` (None: no manifest). Raises LoadError when the
    manifest is not one hydropy wrote (malformed, or naming paths outside ``out``)."""
    path = os.path.join(out, MANIFEST)
    if not os.path.lexists(path):
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            files = json.load(fh)["files"]
        if not all(isinstance(k, str) and isinstance(v, str) and _inside(k) for k, v in files.items()):
            raise ValueError("unexpected entries")
        return {os.path.normpath(k): v for k, v in files.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise LoadError(f"{display_path(path)} is not a hydropy manifest ({exc}); remove it or "
                        f"compile elsewhere") from None


def _inside(rel: str) -> bool:
    norm = os.path.normpath(rel)
    return not os.path.isabs(norm) and norm.split(os.sep)[0] not in ("..", ".", "") \
        and norm != MANIFEST


def _legacy(out: str) -> dict[str, str] | None:
    """Files of an output compiled before manifests: those still carrying a matching header."""
    from .emit import HEADER, edited
    try:
        with open(os.path.join(out, "deploy.yaml"), encoding="utf-8") as fh:
            if not fh.readline().startswith(HEADER):
                return None
    except (OSError, UnicodeDecodeError):
        return None
    owned = {}
    for root, dirs, names in os.walk(out):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in names:
            path = os.path.join(root, name)
            try:
                if not os.path.islink(path) and not edited(path):
                    owned[os.path.relpath(path, out)] = sha256(_read(path))
            except (OSError, UnicodeDecodeError):
                continue
    return owned


def _read(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def _update(out: str, data: dict[str, bytes], force: bool, protect: list[str]) -> list[str]:
    shown = display_path(out)
    try:
        owned = read_manifest(out)
    except LoadError:
        if not force:
            raise
        owned = {}
    if owned is None:
        owned = _legacy(out)
    real_out = os.path.realpath(out)
    held = [p for p in protect if p.startswith(real_out + os.sep)]
    if held and not force:
        raise LoadError(f"{shown} holds the program {display_path(held[0])}; compile into another "
                        f"directory or pass --force (hydropy then writes only its own files there)")
    if owned is None and os.listdir(out) and not force:
        raise LoadError(f"{shown} is not empty and holds no compiled program; choose another "
                        f"directory or pass --force (hydropy then writes only its own files there)")
    owned = owned or {}

    writes, replaced, edited_files, conflicts = [], [], [], []
    for rel, content in sorted(data.items()):
        path = os.path.join(out, rel)
        if not _safe_target(real_out, path) and (link := link_on_the_way(out, rel)):
            raise LoadError(f"{display_path(os.path.join(out, link))} is a symbolic link (to "
                            f"{display_path(os.path.realpath(os.path.join(out, link)))}); hydropy "
                            f"writes {rel} there but never through a link: replace the link with a "
                            f"directory or compile elsewhere")
        if not _safe_target(real_out, path) or os.path.realpath(path) in protect:
            conflicts.append(rel)
        elif not os.path.lexists(path):
            writes.append(rel)
        elif rel in owned:
            current = sha256(_read(path))
            if current != owned[rel]:
                edited_files.append(rel)
            if current != sha256(content) or current != owned[rel]:
                writes.append(rel)
                replaced.append(rel)
        elif os.path.isfile(path) and _read(path) == content:
            pass  # exactly what hydropy writes there (an earlier output): recorded, not rewritten
        else:
            conflicts.append(rel)
    stale = []
    for rel in sorted(set(owned) - set(data)):
        path = os.path.join(out, rel)
        if os.path.lexists(path) and _safe_target(real_out, path) and os.path.realpath(path) not in protect:
            stale.append(rel)
            if sha256(_read(path)) != owned[rel]:
                edited_files.append(rel)
    if conflicts:
        raise LoadError(f"{shown} has files hydropy did not write where it would write its own "
                        f"({', '.join(conflicts)}); move them or compile elsewhere")
    if edited_files and not force:
        raise LoadError(f"{shown} has hand-edited files ({', '.join(sorted(edited_files))}); "
                        f"compile elsewhere or pass --force (the edited copies are kept as .orig)")
    return _commit(out, data, writes, replaced + stale, set(edited_files), owned, stale)


def _safe_target(real_out: str, path: str) -> bool:
    """``path`` is a regular file (or nothing yet) whose directory lies inside the output."""
    parent = os.path.realpath(os.path.dirname(path))
    inside = parent == real_out or parent.startswith(real_out + os.sep)
    return inside and not os.path.islink(path) and not os.path.isdir(path)


def link_on_the_way(out: str, rel: str) -> str | None:
    """The first part of ``rel`` (a directory on its way, or the file itself) that is a
    symbolic link under ``out``, or None."""
    parts = rel.split(os.sep)
    for i in range(1, len(parts) + 1):
        if os.path.islink(os.path.join(out, *parts[:i])):
            return os.path.join(*parts[:i])
    return None


def _commit(out: str, data: dict[str, bytes], writes: list[str], moved: list[str],
            backups: set[str], owned: dict[str, str], stale: list[str]) -> list[str]:
    """Moves ``moved`` away (edited ones to ``.orig``), renames ``writes`` into place and
    writes the manifest; undoes everything on failure."""
    tmp = tempfile.mkdtemp(prefix=".hydropy-tmp-", dir=out)
    undo: list = []
    notices = []
    try:
        staged = {}
        for i, rel in enumerate(writes):
            staged[rel] = os.path.join(tmp, f"new{i}")
            _write_file(staged[rel], data[rel])
        record = {rel: sha256(content) for rel, content in data.items()}
        manifest = os.path.join(tmp, "manifest")
        _write_file(manifest, _manifest_bytes(record))
        for i, rel in enumerate(moved):
            path = os.path.join(out, rel)
            dest = _backup_name(path) if rel in backups else os.path.join(tmp, f"old{i}")
            os.rename(path, dest)
            undo.append((dest, path))
            if rel in backups:
                notices.append(f"{display_path(path)} was edited by hand; kept the edited copy as "
                               f"{display_path(dest)}")
        for rel in writes:
            path = os.path.join(out, rel)
            for d in _missing_dirs(os.path.dirname(path)):
                os.mkdir(d)
                undo.append((None, d))
            os.rename(staged[rel], path)
            undo.append((path, None))
        target = os.path.join(out, MANIFEST)
        if os.path.lexists(target):
            os.rename(target, os.path.join(tmp, "old-manifest"))
            undo.append((os.path.join(tmp, "old-manifest"), target))
        os.rename(manifest, target)
    except BaseException:
        for src, dst in reversed(undo):
            try:
                if dst is None:
                    os.remove(src)
                elif src is None:
                    os.rmdir(dst)
                else:
                    os.rename(src, dst)
            except OSError:
                pass
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(tmp, ignore_errors=True)
    return notices


def _write_new(out: str, data: dict[str, bytes]) -> None:
    """A directory that does not exist yet: built beside it, then renamed into place."""
    parent = os.path.dirname(out)
    created = _missing_dirs(parent)
    tmp = None
    try:
        for d in created:
            os.mkdir(d)
        tmp = tempfile.mkdtemp(prefix=".hydropy-new-", dir=parent)
        for rel, content in data.items():
            _write_file(os.path.join(tmp, rel), content)
        _write_file(os.path.join(tmp, MANIFEST),
                    _manifest_bytes({rel: sha256(c) for rel, c in data.items()}))
        os.rename(tmp, out)
    except BaseException:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
        for d in reversed(created):
            try:
                os.rmdir(d)
            except OSError:
                pass
        raise


def _missing_dirs(path: str) -> list[str]:
    """The directories of ``path`` that do not exist yet, outermost first."""
    missing = []
    while not os.path.lexists(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return missing[::-1]


def _write_file(path: str, content: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(content)


def _manifest_bytes(record: dict[str, str]) -> bytes:
    text = json.dumps({"generator": "hydropy", "files": dict(sorted(record.items()))}, indent=1)
    return (text + "\n").encode()


def _backup_name(path: str) -> str:
    dest, k = path + ".orig", 2
    while os.path.lexists(dest):
        dest, k = f"{path}.orig{k}", k + 1
    return dest
