"""Scene presets as data, the kind registry, and layout sampling (labels without pixels).

A scene is sampled in two steps: :func:`sample_layout` decides the container, which objects
go where and their exact boxes (cheap: geometry only), and :func:`detector.sim.render.render`
turns a layout into pixels. Tests and frequency checks sample thousands of layouts without
rendering. Presets follow the original study: ``alone`` (media alone in a tray), ``bag``
(media inside bags) and ``cluttered`` (bags with books, notebooks, pens, clothes, wallets).
``small-media`` is ``cluttered`` with more of the small media the detector misses most, for
training only: evaluate on ``cluttered``, whose mix is the checkpoint's. ``no-media`` is
``cluttered`` without any storage medium (clutter and look-alikes only): the clean bags a
false-alarm rate is measured on, which ``cluttered`` holds only one in twenty of.

For drift scenarios a caller registers a new kind and reweights a preset, e.g.::

    registry = default_registry()
    registry.register(ObjectKind("vape", None, build_vape))
    preset = PRESETS["cluttered"].with_weights(clutter={"vape": 3.0})
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Final

import numpy as np

from detector.exceptions import SimulationError
from detector.sim.clutter import CLUTTER_KINDS
from detector.sim.containers import CONTAINERS, ContainerModel
from detector.sim.objects import MEDIA_KINDS, ObjectKind
from detector.sim.shapes import Part, Pose, part_bounds_px
from leakguard.classes import CLASS_IDS

#: Width of the scanned field in mm: a 640 mm tray fits with margins, as on real scans.
FIELD_MM: Final[float] = 720.0
#: Objects whose box keeps less than this share of its area inside the image are dropped.
MIN_VISIBLE_SHARE: Final[float] = 0.5
#: Placement tries before an ``alone`` scene accepts an overlap.
MAX_PLACEMENT_TRIES: Final[int] = 20

BoxXYXY = tuple[float, float, float, float]


class KindRegistry:
    """Subtype -> :class:`ObjectKind`; a new or overriding kind is registered per instance."""

    def __init__(self, kinds: Iterable[ObjectKind] = ()) -> None:
        self._kinds: dict[str, ObjectKind] = {}
        for kind in kinds:
            self.register(kind)

    def register(self, kind: ObjectKind, *, override: bool = False) -> None:
        """Add ``kind``; replacing an existing subtype needs ``override=True``."""
        if kind.subtype in self._kinds and not override:
            raise SimulationError(f"kind {kind.subtype!r} already registered; pass override=True")
        if kind.class_name is not None and kind.class_name not in CLASS_IDS:
            raise SimulationError(f"kind {kind.subtype!r} has unknown class {kind.class_name!r}")
        self._kinds[kind.subtype] = kind

    def get(self, subtype: str) -> ObjectKind:
        """The kind called ``subtype``; raises :class:`SimulationError` when unknown."""
        try:
            return self._kinds[subtype]
        except KeyError:
            raise SimulationError(f"unknown object kind {subtype!r}") from None

    def subtypes(self) -> list[str]:
        """All registered subtypes, in registration order."""
        return list(self._kinds)


def default_registry() -> KindRegistry:
    """A fresh registry with every built-in media, look-alike and clutter kind."""
    return KindRegistry((*MEDIA_KINDS, *CLUTTER_KINDS))


@dataclass(frozen=True, kw_only=True)
class ScenePreset:
    """What a scene holds and how often: weights are relative, ranges inclusive."""

    name: str
    media_weights: Mapping[str, float]
    n_media: tuple[int, int]
    clutter_weights: Mapping[str, float] = field(default_factory=dict)
    n_clutter: tuple[int, int] = (0, 0)
    container_weights: Mapping[str, float] = field(default_factory=lambda: {"tray": 1.0})
    #: Chance that a bag is carried through in a tray rather than on the belt.
    in_tray_prob: float = 0.0
    #: Chance that an object is tilted out of plane, and the largest tilt.
    tilt_prob: float = 0.3
    max_tilt_deg: float = 50.0
    avoid_overlap: bool = False

    def with_weights(
        self,
        *,
        media: Mapping[str, float] | None = None,
        clutter: Mapping[str, float] | None = None,
    ) -> ScenePreset:
        """A copy with some media/clutter weights added or changed (0 removes a kind)."""
        new_media = {**self.media_weights, **(media or {})}
        new_clutter = {**self.clutter_weights, **(clutter or {})}
        return replace(
            self,
            media_weights={k: v for k, v in new_media.items() if v > 0},
            clutter_weights={k: v for k, v in new_clutter.items() if v > 0},
        )

    def expected_class_shares(self, registry: KindRegistry) -> dict[int, float]:
        """Class id -> expected share of labelled objects, from the media weights."""
        total = sum(self.media_weights.values())
        shares: dict[int, float] = {}
        for subtype, weight in self.media_weights.items():
            class_name = registry.get(subtype).class_name
            if class_name is not None:
                cid = CLASS_IDS[class_name]
                shares[cid] = shares.get(cid, 0.0) + weight / total
        return shares


#: Media mix of the original study's classes; look-alikes about one object in eight.
MEDIA_MIX: Final[dict[str, float]] = {
    "hdd_3_5": 0.6, "hdd_2_5": 0.6, "ssd_2_5": 0.6, "ssd_m2": 0.5, "phone": 1.2, "usb_stick": 1.1,
    "usb_pen": 1.0, "sd_card": 0.6, "microsd": 0.5, "laptop": 0.8, "tablet": 0.8,
    "aux_battery": 0.8, "portable_fan": 0.5,
}  # fmt: skip
#: Clutter of the ``cluttered`` test condition: books, notebooks, pens, clothes, wallets first.
CLUTTER_MIX: Final[dict[str, float]] = {
    "book": 1.5, "notebook": 1.5, "pen": 2.0, "clothes": 2.0, "wallet": 1.2, "keys": 0.8,
    "cable": 0.8, "glasses_case": 0.6, "umbrella": 0.4, "bottle": 0.6, "cosmetics": 0.6,
    "bag_decoration": 0.5, "buckle": 0.4, "zipper": 0.4,
}  # fmt: skip
BAGS: Final[dict[str, float]] = {"backpack": 1.0, "handbag": 0.8, "trolley": 0.6}
#: The small media, three times as frequent (the M.2 SSD twice): pen-type USB, SD and
#: microSD cards are the classes with the lowest AP, most of all under other objects, and a
#: training image holds only a few of them in the checkpoint's own mix.
SMALL_MEDIA_MIX: Final[dict[str, float]] = {
    **MEDIA_MIX, "usb_pen": 3.0, "sd_card": 1.8, "microsd": 1.5, "ssd_m2": 1.0,
}  # fmt: skip
#: The look-alikes of :data:`MEDIA_MIX` alone (labelled ``others``, never an alarm).
LOOKALIKE_MIX: Final[dict[str, float]] = {
    kind: MEDIA_MIX[kind] for kind in ("aux_battery", "portable_fan")
}

_CLUTTERED: Final = ScenePreset(
    name="cluttered",
    media_weights=MEDIA_MIX,
    n_media=(1, 3),
    clutter_weights=CLUTTER_MIX,
    n_clutter=(6, 14),
    container_weights=BAGS,
    in_tray_prob=0.5,
)
PRESETS: Final[Mapping[str, ScenePreset]] = {
    "alone": ScenePreset(
        name="alone", media_weights=MEDIA_MIX, n_media=(1, 4), avoid_overlap=True, tilt_prob=0.35
    ),
    "bag": ScenePreset(
        name="bag",
        media_weights=MEDIA_MIX,
        n_media=(1, 3),
        clutter_weights={"clothes": 2.0, "cable": 0.5, "pen": 0.5, "zipper": 0.5},
        n_clutter=(1, 3),
        container_weights=BAGS,
        in_tray_prob=0.5,
    ),
    "cluttered": _CLUTTERED,
    "small-media": replace(
        _CLUTTERED, name="small-media", media_weights=SMALL_MEDIA_MIX, n_media=(2, 4)
    ),
    "no-media": replace(_CLUTTERED, name="no-media", media_weights=LOOKALIKE_MIX, n_media=(0, 2)),
}


def get_preset(name: str) -> ScenePreset:
    """The built-in preset ``name``; raises :class:`SimulationError` listing the choices."""
    try:
        return PRESETS[name]
    except KeyError:
        raise SimulationError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}") from None


@dataclass(frozen=True)
class PlacedObject:
    """An object in a scene: parts, pose, label (``class_id`` None when unlabelled), box.

    ``box_xyxy`` is ``[x1, y1, x2, y2]`` in pixels, the exact extent of all parts after
    rotation and tilt, clipped to the image.
    """

    subtype: str
    class_id: int | None
    parts: tuple[Part, ...]
    pose: Pose
    box_xyxy: BoxXYXY


@dataclass(frozen=True)
class SceneLayout:
    """Everything needed to render one image: size, scale, and objects in drawing order."""

    width_px: int
    height_px: int
    mm_per_px: float
    objects: tuple[PlacedObject, ...]

    def labelled(self) -> list[PlacedObject]:
        """The objects that carry a class label (storage media and look-alikes)."""
        return [o for o in self.objects if o.class_id is not None]


def _weighted_choice(rng: np.random.Generator, weights: Mapping[str, float]) -> str:
    names = list(weights)
    p = np.array([weights[n] for n in names], dtype=np.float64)
    if len(names) == 0 or p.sum() <= 0:
        raise SimulationError("cannot choose from empty or zero weights")
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def object_extent(parts: Iterable[Part], pose: Pose, mm_per_px: float) -> BoxXYXY:
    """The exact ``[x1, y1, x2, y2]`` pixel extent of ``parts`` lying at ``pose``, unclipped."""
    bounds = np.array([part_bounds_px(p, pose, mm_per_px) for p in parts])
    return (
        float(bounds[:, 0].min()),
        float(bounds[:, 1].min()),
        float(bounds[:, 2].max()),
        float(bounds[:, 3].max()),
    )


def _overlaps(a: BoxXYXY, b: BoxXYXY) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


class _Placer:
    """Places objects inside a container's interior and clips their boxes to the image."""

    def __init__(
        self, container: ContainerModel, pose: Pose, width_px: int, height_px: int, mm_per_px: float
    ) -> None:
        self.container, self.pose = container, pose
        self.size, self.mm_per_px = (width_px, height_px), mm_per_px

    def pose_inside(self, rng: np.random.Generator, preset: ScenePreset) -> Pose:
        iw, ih = self.container.interior_mm
        lx, ly = rng.uniform(-iw / 2, iw / 2), rng.uniform(-ih / 2, ih / 2)
        c, s = math.cos(self.pose.angle_rad), math.sin(self.pose.angle_rad)
        tilt = (
            math.radians(rng.uniform(0, preset.max_tilt_deg))
            if rng.random() < preset.tilt_prob
            else 0.0
        )
        return Pose(
            self.pose.x_mm + c * lx - s * ly,
            self.pose.y_mm + s * lx + c * ly,
            rng.uniform(0, 2 * math.pi),
            tilt,
        )

    def clip(self, box: BoxXYXY) -> BoxXYXY | None:
        """The box clipped to the image, or None when less than half of it is visible."""
        w, h = self.size
        clipped = (max(box[0], 0.0), max(box[1], 0.0), min(box[2], float(w)), min(box[3], float(h)))
        area = (box[2] - box[0]) * (box[3] - box[1])
        kept = max(clipped[2] - clipped[0], 0.0) * max(clipped[3] - clipped[1], 0.0)
        return clipped if area > 0 and kept >= MIN_VISIBLE_SHARE * area and kept > 0 else None


def _container_pose(
    rng: np.random.Generator, centre: tuple[float, float], *, free_angle: bool
) -> Pose:
    quarter = float(rng.integers(0, 4)) * math.pi / 2
    angle = (
        quarter + rng.uniform(-0.35, 0.35)
        if free_angle
        else float(rng.integers(0, 2)) * math.pi + rng.uniform(-0.06, 0.06)
    )
    jitter = FIELD_MM * 0.03
    return Pose(
        centre[0] + rng.uniform(-jitter, jitter), centre[1] + rng.uniform(-jitter, jitter), angle
    )


def sample_layout(
    preset: ScenePreset,
    *,
    rng: np.random.Generator,
    width_px: int = 640,
    height_px: int = 640,
    registry: KindRegistry | None = None,
) -> SceneLayout:
    """Sample a scene: container(s), labelled media and clutter, with exact clipped boxes."""
    if width_px < 32 or height_px < 32:
        raise SimulationError(f"image must be at least 32x32 pixels, got {width_px}x{height_px}")
    reg = registry if registry is not None else default_registry()
    mm_per_px = FIELD_MM / max(width_px, height_px)
    centre = (width_px * mm_per_px / 2, height_px * mm_per_px / 2)
    objects: list[PlacedObject] = []
    kind = _weighted_choice(rng, preset.container_weights)
    if kind not in CONTAINERS:
        raise SimulationError(f"unknown container {kind!r}; known: {sorted(CONTAINERS)}")
    if kind != "tray" and rng.random() < preset.in_tray_prob:
        tray, tray_pose = CONTAINERS["tray"](rng), _container_pose(rng, centre, free_angle=False)
        objects.append(
            PlacedObject(
                "tray", None, tray.parts, tray_pose, object_extent(tray.parts, tray_pose, mm_per_px)
            )
        )
    container = CONTAINERS[kind](rng)
    pose = _container_pose(rng, centre, free_angle=kind != "tray")
    objects.append(
        PlacedObject(
            kind, None, container.parts, pose, object_extent(container.parts, pose, mm_per_px)
        )
    )
    placer = _Placer(container, pose, width_px, height_px, mm_per_px)
    taken: list[BoxXYXY] = []
    for weights, (lo, hi) in (
        (preset.media_weights, preset.n_media),
        (preset.clutter_weights, preset.n_clutter),
    ):
        count = int(rng.integers(lo, hi + 1)) if weights else 0
        for _ in range(count):
            obj_kind = reg.get(_weighted_choice(rng, weights))
            parts = tuple(obj_kind.build(rng))
            for _try in range(MAX_PLACEMENT_TRIES):
                obj_pose = placer.pose_inside(rng, preset)
                extent = object_extent(parts, obj_pose, mm_per_px)
                if not (preset.avoid_overlap and any(_overlaps(extent, t) for t in taken)):
                    break
            box = placer.clip(extent)
            if box is None:
                continue
            class_id = CLASS_IDS[obj_kind.class_name] if obj_kind.class_name is not None else None
            objects.append(PlacedObject(obj_kind.subtype, class_id, parts, obj_pose, box))
            taken.append(extent)
    return SceneLayout(width_px, height_px, mm_per_px, tuple(objects))
