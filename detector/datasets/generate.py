"""Write a simulated COCO data set in parallel, identical for any number of workers.

Workers render image ``index`` from ``(seed, index)`` alone and write its PNG themselves (so
only small annotation records cross process boundaries); the parent collects the records
and writes ``annotations.json`` in index order.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Final

from detector.datasets.coco import (
    IMAGES_DIR,
    CocoImage,
    CocoObject,
    encode_png,
    encode_raw_png,
    image_file_name,
    raw_file_name,
    write_annotations,
)
from detector.exceptions import DatasetError
from detector.sim.materials import physics_tables
from detector.sim.scenes import KindRegistry, ScenePreset
from detector.sim.simulate import simulate

#: Images handed to a worker at a time: amortises IPC without starving the progress bar.
CHUNK_SIZE: Final[int] = 4

#: Thread-count variables of the numeric libraries, set to 1 in worker processes.
THREAD_ENV_VARS: Final[tuple[str, ...]] = (
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
)

ProgressCallback = Callable[[int], None]


@dataclass(frozen=True, kw_only=True)
class GenerateJob:
    """What to make: preset, seed, output folder, image size, and whether to keep raw channels."""

    preset: ScenePreset
    seed: int
    out: Path
    width_px: int = 640
    height_px: int = 640
    raw: bool = False
    registry: KindRegistry | None = None


def render_to_disk(job: GenerateJob, index: int) -> CocoImage:
    """Render image ``index`` of ``job``, write its PNG(s) and return its annotation record."""
    image = simulate(
        job.preset,
        seed=job.seed,
        index=index,
        width_px=job.width_px,
        height_px=job.height_px,
        registry=job.registry,
    )
    name = image_file_name(index)
    (job.out / name).write_bytes(encode_png(image.rgb))
    raw_name = None
    if job.raw:
        raw_name = raw_file_name(index)
        (job.out / raw_name).write_bytes(encode_raw_png(image.raw_uint16()))
    objects = tuple(CocoObject(o.class_id, o.subtype, o.box_xyxy) for o in image.objects)
    return CocoImage(index, name, job.width_px, job.height_px, objects, raw_name)


def _warm_up() -> None:
    physics_tables()


@contextlib.contextmanager
def _single_threaded_children() -> Iterator[None]:
    """Spawned workers inherit one BLAS/OpenMP thread each: one worker per core already fills
    the machine, and nested BLAS threads would oversubscribe it (measured 2x slower)."""
    saved = {name: os.environ.get(name) for name in THREAD_ENV_VARS}
    for name in THREAD_ENV_VARS:
        os.environ.setdefault(name, "1")
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def default_workers() -> int:
    """One worker per core available to this process."""
    return (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    )


def generate_dataset(
    job: GenerateJob,
    *,
    n_images: int,
    workers: int | None = None,
    on_progress: ProgressCallback | None = None,
) -> Path:
    """Render ``n_images`` images into ``job.out`` and write ``annotations.json``; returns its path.

    ``on_progress`` is called with the number of images finished so far.
    """
    if n_images < 0:
        raise DatasetError(f"n_images must be >= 0, got {n_images}")
    n_workers = workers if workers is not None else default_workers()
    if n_workers < 1:
        raise DatasetError(f"workers must be >= 1, got {n_workers}")
    (job.out / IMAGES_DIR).mkdir(parents=True, exist_ok=True)
    records: list[CocoImage] = []
    work = partial(render_to_disk, job)
    if n_workers == 1:
        _warm_up()
        for index in range(n_images):
            records.append(work(index))
            if on_progress is not None:
                on_progress(len(records))
    else:
        with _single_threaded_children():
            pool = multiprocessing.get_context("spawn").Pool(n_workers, initializer=_warm_up)
        with pool:
            for record in pool.imap_unordered(work, range(n_images), chunksize=CHUNK_SIZE):
                records.append(record)
                if on_progress is not None:
                    on_progress(len(records))
    info = {
        "description": f"leakguard simulator, preset {job.preset.name}",
        "seed": job.seed,
        "preset": job.preset.name,
    }
    return write_annotations(job.out, records, info=info)
