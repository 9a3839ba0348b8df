"""Realism check: simulated scans against the real reference scans, by simple statistics.

Run by hand: ``.venv/bin/python -m bench.sim_realism [--real DIR] [--side-by-side PATH]``.

Both sets are classified pixel by pixel with the same rule
(:func:`detector.sim.display.classify_rgb`: near-white background, orange, green, blue,
near-black), so the comparison does not depend on how either image was made. It reports the
share of each colour class among non-background pixels, the share of the image that is not
background, and the histogram of grey level (mean of R, G, B) over non-background pixels.

It writes the figures used by ``docs/simulator.md`` into ``docs/img/``: a gallery of
simulated scans and a chart of the statistics. Real scans are never written into the
repository (their licence is research use, see the reference README); the side-by-side
picture of real and simulated scans goes to ``--side-by-side`` (default under /tmp).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Final

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import numpy.typing as npt
from PIL import Image

from detector.sim.display import MATERIAL_CLASSES, classify_rgb
from detector.sim.scenes import get_preset
from detector.sim.simulate import simulate

REPO: Final[Path] = Path(__file__).resolve().parents[1]
DEFAULT_REAL: Final[Path] = REPO.parent / "shared" / "reference" / "real-xray"
#: Preset mix mirroring the reference set: 12 single items in trays, 23 packed bags.
SIM_MIX: Final[tuple[tuple[str, int], ...]] = (("alone", 12), ("bag", 12), ("cluttered", 11))
#: Grey-level histogram bins over 0-255.
N_BINS: Final[int] = 16
#: Thumbnail height in the committed gallery: keeps docs/img to a few hundred KB.
THUMB_H: Final[int] = 200

Stats = dict[str, object]


def image_stats(images: list[npt.NDArray[np.uint8]]) -> Stats:
    """Colour-class shares among non-background pixels, foreground share, grey histogram."""
    counts = np.zeros(len(MATERIAL_CLASSES), dtype=np.int64)
    hist = np.zeros(N_BINS, dtype=np.int64)
    for rgb in images:
        classes = classify_rgb(rgb)
        counts += np.bincount(classes.ravel(), minlength=len(MATERIAL_CLASSES))
        grey = rgb.astype(np.float32).mean(axis=-1)[classes != 0]
        hist += np.histogram(grey, bins=N_BINS, range=(0, 256))[0]
    foreground = counts[1:].sum()
    return {
        "foreground_share": float(foreground / counts.sum()),
        "class_shares": {
            name: float(counts[i] / foreground) for i, name in enumerate(MATERIAL_CLASSES) if i > 0
        },
        "grey_hist": (hist / hist.sum()).tolist(),
    }


def load_real(folder: Path) -> list[npt.NDArray[np.uint8]]:
    """The reference scans as (H, W, 3) uint8 arrays."""
    return [np.asarray(Image.open(p).convert("RGB")) for p in sorted(folder.glob("*.png"))]


def make_simulated(seed: int) -> list[npt.NDArray[np.uint8]]:
    """Simulated scans (640x640) in the preset mix of the reference set."""
    images = []
    for preset, count in SIM_MIX:
        spec = get_preset(preset)
        images += [simulate(spec, seed=seed, index=i).rgb for i in range(count)]
    return images


def thumbnails(images: list[npt.NDArray[np.uint8]], *, columns: int, height: int) -> Image.Image:
    """A grid of images scaled to ``height`` pixels tall."""
    tiles = [
        Image.fromarray(i).resize((round(i.shape[1] * height / i.shape[0]), height)) for i in images
    ]
    width = max(t.width for t in tiles)
    rows = -(-len(tiles) // columns)
    sheet = Image.new("RGB", (columns * (width + 4) + 4, rows * (height + 4) + 4), (90, 90, 90))
    for k, tile in enumerate(tiles):
        sheet.paste(tile, (4 + (k % columns) * (width + 4), 4 + (k // columns) * (height + 4)))
    return sheet


def chart(real: Stats, sim: Stats, path: Path) -> None:
    """Bar chart of colour-class shares and overlaid grey histograms, real vs simulated."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.2), dpi=80)
    names = list(real["class_shares"])  # type: ignore[call-overload]
    x = np.arange(len(names))
    for offset, (label, stats) in zip(
        (-0.2, 0.2), (("real", real), ("simulated", sim)), strict=True
    ):
        shares = stats["class_shares"]
        ax1.bar(x + offset, [shares[n] for n in names], width=0.4, label=label)  # type: ignore[index]
        ax2.plot(np.arange(N_BINS) * 256 / N_BINS, stats["grey_hist"], marker="o", label=label)
    ax1.set_xticks(x, names)
    ax1.set_title("colour classes (non-background pixels)")
    ax2.set_title("grey level (non-background pixels)")
    ax1.legend()
    ax2.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path, default=DEFAULT_REAL)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--img-dir", type=Path, default=REPO / "docs" / "img")
    parser.add_argument("--side-by-side", type=Path, default=Path("/tmp/leakguard_sim_vs_real.png"))
    args = parser.parse_args()
    real_images, sim_images = load_real(args.real), make_simulated(args.seed)
    real, sim = image_stats(real_images), image_stats(sim_images)
    args.img_dir.mkdir(parents=True, exist_ok=True)
    picks = [0, 5, 12, 14, 18, 24, 27, 31]
    thumbnails([sim_images[i] for i in picks], columns=4, height=THUMB_H).save(
        args.img_dir / "sim_gallery.png", optimize=True
    )
    chart(real, sim, args.img_dir / "sim_vs_real_stats.png")
    real_picks = [real_images[i] for i in (0, 2, 12, 15, 20, 26) if i < len(real_images)]
    side = [
        thumbnails(real_picks, columns=6, height=THUMB_H),
        thumbnails([sim_images[i] for i in picks[:6]], columns=6, height=THUMB_H),
    ]
    canvas = Image.new(
        "RGB", (max(s.width for s in side), sum(s.height for s in side)), (90, 90, 90)
    )
    canvas.paste(side[0], (0, 0))
    canvas.paste(side[1], (0, side[0].height))
    canvas.save(args.side_by_side)
    print(  # noqa: T201 (a benchmark script reports on stdout)
        json.dumps(
            {"real": real, "simulated": sim, "n_real": len(real_images), "n_sim": len(sim_images)},
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
