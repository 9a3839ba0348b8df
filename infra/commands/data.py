"""``leakguard data``: generate simulated data sets and look at them.

Mounted by the CLI root; this layer alone prints and exits, the library raises.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from detector.datasets.coco import CocoObject, load_rgb, read_dataset
from detector.datasets.gallery import contact_sheet, draw_boxes
from detector.datasets.generate import GenerateJob, default_workers, generate_dataset
from detector.exceptions import DetectorError
from detector.sim.drift import DRIFTS, drifted
from detector.sim.scenes import get_preset
from detector.sim.simulate import simulate
from infra.commands.choices import DriftName, ScenePresetName

app = typer.Typer(
    help="Simulated X-ray data sets: generate them, look at them.", no_args_is_help=True
)
_console = Console(stderr=True)

PresetOption = Annotated[ScenePresetName, typer.Option(help="Scene preset.")]
DriftOption = Annotated[
    DriftName | None,
    typer.Option(
        help="Drift scenario: a new confuser in the clutter "
        f"({'; '.join(f'{d.name}: {d.description}' for d in DRIFTS.values())})."
    ),
]


@app.command()
def generate(
    out: Annotated[Path, typer.Option(help="Output folder (images/ and annotations.json).")],
    preset: PresetOption = "cluttered",
    n: Annotated[int, typer.Option(help="Number of images.", min=0)] = 1000,
    seed: Annotated[
        int, typer.Option(help="Data set seed; image i depends on (seed, i) only.")
    ] = 0,
    size: Annotated[int, typer.Option(help="Image width and height in pixels.", min=32)] = 640,
    workers: Annotated[
        int, typer.Option(help="Worker processes (default: one per core).", min=1)
    ] = default_workers(),
    raw: Annotated[bool, typer.Option(help="Also write the 16-bit low/high channels.")] = False,
    drift: DriftOption = None,
) -> None:
    """Render a COCO data set of simulated scans with a progress bar."""
    try:
        job = GenerateJob(
            preset=drifted(get_preset(preset), drift),
            seed=seed,
            out=out,
            width_px=size,
            height_px=size,
            raw=raw,
        )
        columns = (
            TextColumn(f"[bold]{preset}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=_console) as progress:
            task = progress.add_task("render", total=n)
            path = generate_dataset(
                job,
                n_images=n,
                workers=workers,
                on_progress=lambda done: progress.update(task, completed=done),
            )
    except DetectorError as exc:
        _console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(code=1) from exc
    _console.print(f"wrote {n} images and {path}")


@app.command()
def gallery(
    out: Annotated[Path, typer.Option(help="Contact sheet PNG to write.")] = Path("gallery.png"),
    dataset: Annotated[
        Path | None, typer.Option(help="Draw this data set instead of fresh images.")
    ] = None,
    preset: PresetOption = "cluttered",
    n: Annotated[int, typer.Option(help="Number of images on the sheet.", min=1)] = 16,
    seed: Annotated[int, typer.Option(help="Seed of fresh images.")] = 0,
    columns: Annotated[int, typer.Option(help="Images per row.", min=1)] = 4,
    tile: Annotated[int, typer.Option(help="Tile width in pixels.", min=32)] = 320,
) -> None:
    """Write a contact sheet with ground-truth boxes drawn."""
    try:
        tiles = []
        if dataset is not None:
            for record in read_dataset(dataset)[:n]:
                tiles.append(
                    draw_boxes(load_rgb(dataset, record), record.objects, scale=tile / record.width)
                )
        else:
            chosen = get_preset(preset)
            for index in range(n):
                image = simulate(chosen, seed=seed, index=index)
                objects = [CocoObject(o.class_id, o.subtype, o.box_xyxy) for o in image.objects]
                tiles.append(draw_boxes(image.rgb, objects, scale=tile / image.rgb.shape[1]))
        contact_sheet(tiles, columns=columns).save(out)
    except DetectorError as exc:
        _console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(code=1) from exc
    _console.print(f"wrote {out}")
