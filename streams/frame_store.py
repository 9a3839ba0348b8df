"""The frame store: images of frames worth keeping, for annotation and retraining.

Any fsspec URL works (a directory by default, ``s3://bucket/prefix`` in production). Two
areas with their own retention:

* ``staging/`` — the edge writes every frame it detects on, *before* it produces the
  detection, so when the outcome join later needs the image it is already there. Short
  retention (by default the life of ``scanner.frames``): most frames are never needed.
* ``kept/`` — the cloud copies a frame here once it has a TP, FP or FN outcome; long
  retention (the annotation and retraining window).

Keys are the frame (checkpoint, lane, frame id, each URL-quoted) plus the image's SHA-256,
so two different images under one frame id never overwrite each other, and every read is
verified against the hash in its :class:`~schemas.events.ImageLink`.

On this machine's disk the cloud keeps a frame on every TP, FP or FN outcome, on its event
loop, so keeping is a hard link (no bytes copied) and skips fsspec; staged images are then
written to a temporary name and renamed into place, so writing a frame again (an edge
replay) replaces the staged file instead of rewriting the bytes a kept link shares.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable
from typing import Any, Final, Literal
from urllib.parse import quote

import fsspec
from fsspec.implementations.local import LocalFileSystem

from schemas.events import ImageLink
from schemas.exceptions import ImageRejectedError
from schemas.images import ImageReader
from streams.exceptions import FrameStoreError

__all__ = [
    "DEFAULT_KEPT_RETENTION_S",
    "DEFAULT_STAGING_RETENTION_S",
    "FrameStore",
]

Area = Literal["staging", "kept"]
#: Staged frames live as long as ``scanner.frames`` keeps them (1 day).
DEFAULT_STAGING_RETENTION_S: Final[float] = 86_400.0
#: Kept frames: 90 days, the annotation backlog plus a retraining cycle.
DEFAULT_KEPT_RETENTION_S: Final[float] = 90 * 86_400.0
_SUFFIX: Final[str] = ".png"
#: Suffix of a staged image being written on local disk (never matches ``_SUFFIX``, so
#: neither a keep nor the sweep takes a half-written file for an image).
_PARTIAL_SUFFIX: Final[str] = ".part"
#: A staged image's name as an event gives it: nothing else may reach a store path.
_SHA256: Final[re.Pattern[str]] = re.compile("[0-9a-f]{64}")
#: fsspec protocols served by this machine's disk or memory.
_LOCAL_PROTOCOLS: Final[frozenset[str]] = frozenset({"file", "local", "memory"})
#: Name start of the files :meth:`FrameStore.probe_writable` writes (outside both areas).
_PROBE_PREFIX: Final[str] = ".write-probe-"


class FrameStore:
    """Images by frame and SHA-256 under ``url``; ``fs`` and ``clock`` are injectable."""

    def __init__(
        self,
        url: str,
        *,
        staging_retention_s: float = DEFAULT_STAGING_RETENTION_S,
        kept_retention_s: float = DEFAULT_KEPT_RETENTION_S,
        fs: Any = None,
        clock: Callable[[], float] = time.time,
        storage_options: dict[str, Any] | None = None,
    ) -> None:
        if staging_retention_s <= 0 or kept_retention_s <= 0:
            raise FrameStoreError("frame store retention periods must be positive")
        self.url = url
        """The URL the store was opened at: readers of its images confine them to it."""
        if fs is None:
            fs, root = fsspec.core.url_to_fs(url, **(storage_options or {}))
        else:
            root = url
        self._fs = fs
        self._root = str(root).rstrip("/")
        self._on_disk = isinstance(fs, LocalFileSystem)
        #: Kept-area folders known to exist (local disk): a keep creates each one once.
        self._kept_folders: set[str] = set()
        self._protocol = url.split("://", 1)[0] if "://" in url else "file"
        self.retention_s: dict[Area, float] = {
            "staging": staging_retention_s,
            "kept": kept_retention_s,
        }
        self._clock = clock
        self._reader = ImageReader(roots=(url,), storage_options=storage_options or {})

    def path(self, area: Area, *, checkpoint: str, lane: str, frame_id: str, sha256: str) -> str:
        """The store path of one image (quoted parts: frame ids may contain ``/``).

        Staged images live in a folder per frame (``staging/cp/lane/frame/<sha256>.png``) so
        that :meth:`keep` lists one small folder, not a lane's whole day of frames; kept
        images are ``kept/cp/lane/frame.<sha256>.png``.
        """
        if area == "staging":
            folder = self._staging_folder(checkpoint=checkpoint, lane=lane, frame_id=frame_id)
            return f"{folder}/{sha256.lower()}{_SUFFIX}"
        parts = (_key(checkpoint), _key(lane), _key(frame_id))
        return f"{self._root}/{area}/{'/'.join(parts)}.{sha256.lower()}{_SUFFIX}"

    def _staging_folder(self, *, checkpoint: str, lane: str, frame_id: str) -> str:
        parts = (_key(checkpoint), _key(lane), _key(frame_id))
        return f"{self._root}/staging/{'/'.join(parts)}"

    @property
    def is_local(self) -> bool:
        """Whether the store is this machine's disk or memory: a keep then takes well under a
        millisecond (a hard link on disk: 0.05 ms measured on a loaded 2-core machine), so the
        cloud worker keeps on its event loop instead of paying a thread hand-off per frame. A
        network file system mounted as a directory counts as local too: serve one through its
        own fsspec protocol so keeps stay off the loop."""
        return self._protocol in _LOCAL_PROTOCOLS

    def uri(self, path: str) -> str:
        """The URL of a store path, as annotation tasks refer to it."""
        return path if self._protocol == "file" else f"{self._protocol}://{path}"

    def stage(self, data: bytes, *, checkpoint: str, lane: str, frame_id: str) -> ImageLink:
        """Write a frame's image to staging (idempotent: same bytes, same key)."""
        sha256 = hashlib.sha256(data).hexdigest()
        path = self.path(
            "staging", checkpoint=checkpoint, lane=lane, frame_id=frame_id, sha256=sha256
        )
        self._write(path, data)
        return ImageLink(uri=self.uri(path), sha256=sha256)

    def keep(
        self, *, checkpoint: str, lane: str, frame_id: str, sha256: str | None = None
    ) -> ImageLink:
        """Keep the frame's staged image in the kept area; raises when none was staged.

        ``sha256`` names the staged image (the one the detection's ``ImageLink`` points to);
        without it, from an edge that sent no link, the frame's last staged image by name.

        On an object store this is a server-side copy (the image never passes through the
        worker); on local disk a hard link, which shares the staged file's modification
        time, so the kept retention counts from staging (earlier by at most the review
        window). Either way the kept image is verified against its SHA-256 when it is read
        (:meth:`get`), as every image is.
        """
        folder = self._staging_folder(checkpoint=checkpoint, lane=lane, frame_id=frame_id)
        if sha256 is None:
            staged = sorted(name for name in self._names(folder) if name.endswith(_SUFFIX))
            if not staged:
                raise FrameStoreError(f"no staged image for frame {checkpoint}/{lane}/{frame_id}")
            sha256 = staged[-1][: -len(_SUFFIX)]
        elif _SHA256.fullmatch(sha256) is None:
            raise FrameStoreError(f"not a SHA-256 (64 lower-case hex digits): {sha256[:80]!r}")
        source = f"{folder}/{sha256}{_SUFFIX}"
        path = self.path("kept", checkpoint=checkpoint, lane=lane, frame_id=frame_id, sha256=sha256)
        try:
            if self._on_disk:
                self._keep_on_disk(source, path)
            else:
                self._make_folder_of(path)
                self._fs.copy(source, path)
        except OSError as exc:
            raise FrameStoreError(f"cannot keep {source} as {path}: {exc}") from exc
        return ImageLink(uri=self.uri(path), sha256=sha256)

    def _keep_on_disk(self, source: str, path: str) -> None:
        """Hard-link ``path`` to ``source`` (a copy where the disk has no hard links),
        creating the kept folder the first time this store uses it."""
        folder = path.rsplit("/", 1)[0]
        if folder not in self._kept_folders:
            os.makedirs(folder, exist_ok=True)
            self._kept_folders.add(folder)
        try:
            os.link(source, path)
        except FileExistsError:  # kept before: same name, same SHA-256, same bytes
            return
        except FileNotFoundError:
            if not os.path.exists(source):
                raise
            os.makedirs(folder, exist_ok=True)  # the kept folder was removed since
            os.link(source, path)
        except OSError:  # no hard links on this disk (EPERM, EXDEV, ENOTSUP...)
            shutil.copyfile(source, path)

    def get(self, link: ImageLink) -> bytes:
        """The image behind ``link``, read only from this store (an event's link naming a
        file elsewhere is refused), capped and verified against its SHA-256."""
        try:
            return self._reader.link(link)
        except ImageRejectedError as exc:
            raise FrameStoreError(str(exc)) from exc

    def sweep(self) -> int:
        """Delete images older than their area's retention; returns how many went.

        Half-written staged files an edge left behind when it died mid-write go after the
        staging retention too (one being written now is far younger). Safe to run from
        several workers at once: an image another sweep deleted first is skipped. Blocking
        (it lists the whole store): call it from an executor thread.
        """
        now = self._clock()
        removed = 0
        for area, retention_s in self.retention_s.items():
            suffixes = (_SUFFIX, _PARTIAL_SUFFIX) if area == "staging" else (_SUFFIX,)
            paths = [p for s in suffixes for p in self._glob(f"{self._root}/{area}/**/*{s}")]
            for path in paths:
                try:
                    modified = self._fs.modified(path).timestamp()
                except (OSError, NotImplementedError):
                    continue
                if now - modified > retention_s:
                    try:
                        self._fs.rm(path)
                    except FileNotFoundError:  # another cloud worker swept it first
                        continue
                    except OSError as exc:
                        raise FrameStoreError(f"cannot delete {path}: {exc}") from exc
                    removed += 1
                    if area == "staging":
                        self._remove_empty_folder(path.rsplit("/", 1)[0])
        return removed

    def _remove_empty_folder(self, folder: str) -> None:
        """Drop a staged frame's folder once its image is gone (object stores have none)."""
        with contextlib.suppress(OSError, NotImplementedError):  # not empty, gone, no folders
            self._fs.rmdir(folder)

    def probe_writable(self) -> None:
        """Write and remove a small file at the store's root: how a worker tells it can
        stage and keep images. Raises :class:`FrameStoreError` when it cannot."""
        path = f"{self._root}/{_PROBE_PREFIX}{uuid.uuid4().hex}"
        self._write(path, b"")
        try:
            self._fs.rm(path)
        except OSError as exc:
            raise FrameStoreError(f"cannot remove {path}: {exc}") from exc

    def _make_folder_of(self, path: str) -> None:
        """Create the folder ``path`` goes into (a no-op on object stores)."""
        self._fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)

    def _write(self, path: str, data: bytes) -> None:
        try:
            self._make_folder_of(path)
            if self._on_disk:
                partial = f"{path}.{uuid.uuid4().hex}{_PARTIAL_SUFFIX}"
                with open(partial, "wb") as handle:
                    handle.write(data)
                os.replace(partial, path)
                return
            with self._fs.open(path, "wb") as handle:
                handle.write(data)
        except OSError as exc:
            raise FrameStoreError(f"cannot write {path}: {exc}") from exc

    def _names(self, folder: str) -> list[str]:
        """The file names in one folder; none when it does not exist (nothing staged)."""
        try:
            if self._on_disk:
                return os.listdir(folder)
            return [str(p).rsplit("/", 1)[-1] for p in self._fs.ls(folder, detail=False)]
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise FrameStoreError(f"cannot list {folder}: {exc}") from exc

    def _glob(self, pattern: str) -> list[str]:
        try:
            return [str(p) for p in self._fs.glob(pattern)]
        except (OSError, ValueError) as exc:
            raise FrameStoreError(f"cannot list {pattern}: {exc}") from exc


def _key(part: str) -> str:
    """One path segment from an event's checkpoint, lane or frame id: URL-quoted (frame ids
    may hold ``/``), and never ``.``, ``..`` or empty, which quoting leaves as they are and
    which would step out of the store or collapse a level."""
    quoted = quote(part, safe="")
    if quoted in ("", ".", ".."):
        return "%" + quoted.replace(".", "%2E")  # "%" alone is never a quote() result
    return quoted
