"""The stable class ids shared by the simulator, the detector, the events and the analytics.

Ids never change meaning: models, stored events and analytics rows written years apart must
agree on them. The first eight classes are storage media and raise the alarm; ``others``
holds look-alikes that must never alarm (power banks, portable fans, and every false
positive a guard rejected).

The Avro ``ObjectClass`` enum in ``schemas/`` lists the same names in the same order; a test
proves they agree.
"""

from __future__ import annotations

from typing import Final, Literal, TypeAlias

#: A class name, as a type: what mypy checks event fields and detections against.
ClassName: TypeAlias = Literal[
    "hdd", "ssd", "phone", "usb", "usb_pen", "sdcard", "laptop", "tablet", "others"
]

#: Class id -> name, in id order. Id 0 is the detector's background and is never an object.
CLASS_NAMES: Final[dict[int, ClassName]] = {
    1: "hdd",
    2: "ssd",
    3: "phone",
    4: "usb",
    5: "usb_pen",
    6: "sdcard",
    7: "laptop",
    8: "tablet",
    9: "others",
}

#: Name -> class id.
CLASS_IDS: Final[dict[str, int]] = {name: class_id for class_id, name in CLASS_NAMES.items()}

#: The class of look-alikes that must not alarm.
OTHERS_CLASS_ID: Final[int] = 9

#: The storage-media classes: a detection of any of them raises the checkpoint alarm.
STORAGE_MEDIA_CLASS_IDS: Final[frozenset[int]] = frozenset(range(1, 9))

#: Number of object classes, background excluded.
NUM_CLASSES: Final[int] = len(CLASS_NAMES)


#: Score at or above which a storage-medium detection alarms unless an operator sets another
#: (the edge's ``--alarm-threshold``, the evaluation's operating point, the retrain gate).
DEFAULT_ALARM_THRESHOLD: Final[float] = 0.5


def is_storage_medium(class_id: int) -> bool:
    """Whether objects of ``class_id`` raise the alarm (every class but ``others``)."""
    return class_id in STORAGE_MEDIA_CLASS_IDS


def alarm_thresholds(value: float = DEFAULT_ALARM_THRESHOLD) -> dict[int, float]:
    """The same alarm threshold for every storage-medium class (``others`` never alarms)."""
    return dict.fromkeys(sorted(STORAGE_MEDIA_CLASS_IDS), value)
