"""Git, read from a repository's files: HEAD and refs (loose or packed), the index, blob hashes.

A run record costs milliseconds (``backup_configs`` is benchmarked), so nothing here starts ``git``:
the index is parsed as git writes it (versions 2 and 3, SHA-1); anything else (index v4, a SHA-256
repository) answers ``None``, "not known here", never a guess.
"""

from __future__ import annotations

import hashlib
import re
import struct
from pathlib import Path


def repository(start: Path) -> tuple[Path, Path] | None:
    """The work tree root and the git directory of the repository holding ``start``."""
    for folder in (start, *start.parents):
        dotgit = folder / ".git"
        if dotgit.is_dir():
            return folder, dotgit
        if dotgit.is_file():  # a worktree or submodule: "gitdir: <path>"
            text = dotgit.read_text(encoding="utf-8", errors="replace").strip()
            if text.startswith("gitdir:"):
                found = Path(text[7:].strip())
                return folder, found if found.is_absolute() else (folder / found).resolve()
    return None


COMMIT = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


def head(git_dir: Path) -> str | None:
    """The commit HEAD names (loose or packed ref), ``None`` on an unborn branch or when it names none."""
    found = ref(git_dir)
    return found if found is not None and COMMIT.match(found) else None


def ref(git_dir: Path) -> str | None:
    common = git_dir
    if (git_dir / "commondir").is_file():
        common = (git_dir / (git_dir / "commondir").read_text(encoding="utf-8").strip()).resolve()
    try:
        head = (git_dir / "HEAD").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    if not head.startswith("ref:"):
        return head or None
    ref = head[4:].strip()
    for base in (git_dir, common):
        if (base / ref).is_file():
            return (base / ref).read_text(encoding="utf-8").strip() or None
    if (common / "packed-refs").is_file():
        for line in (common / "packed-refs").read_text(encoding="utf-8").splitlines():
            if line.endswith(f" {ref}"):
                return line.split(" ", 1)[0]
    return None


def index_entries(git_dir: Path) -> dict[str, tuple[int, int, str]] | None:
    """``{path: (mtime_ns, size, blob sha1)}`` from the git index; ``None`` when its format is not known here."""
    try:
        raw = (git_dir / "index").read_bytes()
    except FileNotFoundError:
        return {}
    except OSError:
        return None
    if raw[:4] != b"DIRC" or struct.unpack_from(">I", raw, 4)[0] not in (2, 3):
        return None  # index v4 (prefix-compressed) or not an index
    try:
        if "objectformat" in (git_dir / "config").read_text(encoding="utf-8", errors="replace").lower():
            return None  # a SHA-256 repository: other entry sizes
    except OSError:
        pass
    entries: dict[str, tuple[int, int, str]] = {}
    position = 12
    for _ in range(struct.unpack_from(">I", raw, 8)[0]):
        _, _, seconds, nanos, _, _, _, _, _, size = struct.unpack_from(">10I", raw, position)
        flags = struct.unpack_from(">H", raw, position + 60)[0]
        start = position + 62 + (2 if flags & 0x4000 else 0)
        end = raw.index(b"\0", start)
        entries[raw[start:end].decode("utf-8", "surrogateescape")] = (
            seconds * 1_000_000_000 + nanos, size, raw[position + 40:position + 60].hex())
        position += (start - position + end - start + 8) & ~7
    return entries


def blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def dirty(blobs: dict[str, str], root: Path, repo: Path, git_dir: Path) -> bool | None:
    """Whether the files under ``root`` (``blobs``: their relative path -> blob sha) differ from the index."""
    index = index_entries(git_dir)
    if index is None:
        return None
    if root.is_file():
        return index.get(root.relative_to(repo).as_posix(), (0, 0, ""))[2] != next(iter(blobs.values()), "")
    prefix = "" if root == repo else root.relative_to(repo).as_posix() + "/"
    tracked = {p[len(prefix):]: e[2] for p, e in index.items() if p.startswith(prefix)}
    tracked = {p: sha for p, sha in tracked.items() if "__pycache__" not in p}
    return tracked != blobs


def scan(root: Path) -> tuple[dict[str, str], dict[str, str], dict[str, bytes]]:
    """Read every file under ``root`` once: content hashes, git blob shas, the bytes of each file."""
    paths = [root] if root.is_file() else [
        p for p in sorted(root.rglob("*")) if p.is_file() and ".git" not in p.relative_to(root).parts
        and "__pycache__" not in p.parts]
    hashes, blobs, contents = {}, {}, {}
    for path in paths:
        name = path.name if path == root else path.relative_to(root).as_posix()
        data = path.read_bytes()
        hashes[name], blobs[name], contents[name] = hashlib.sha256(data).hexdigest()[:16], blob_sha(data), data
    return hashes, blobs, contents
