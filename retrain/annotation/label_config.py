"""The Label Studio labelling interface leakguard sets up: nine classes, a subtype per box.

Boxes are ``RectangleLabels`` over the frame image, one label per class of
``leakguard/classes.py`` in id order (the table is never repeated here). A per-region
``Choices`` holds the finer ``subtype`` the analysis keeps (``aux_battery``, ``fp:zipper``):
a fixed list rather than free text so that the same look-alike is spelt the same way by
every annotator. The list covers the subtypes the cloud worker pre-fills (``fp:<class>``
for a rejected detection), the ``others`` kinds of the simulator and the confusers that
fooled the original system.
"""

from __future__ import annotations

from typing import Final
from xml.sax.saxutils import quoteattr

from leakguard.classes import CLASS_NAMES, STORAGE_MEDIA_CLASS_IDS

__all__ = [
    "BOX_FROM_NAME",
    "IMAGE_NAME",
    "SUBTYPES",
    "SUBTYPE_FROM_NAME",
    "label_config",
]

#: Names of the controls in the config; the converters in ``ls_format`` use the same ones.
IMAGE_NAME: Final = "image"
BOX_FROM_NAME: Final = "label"
SUBTYPE_FROM_NAME: Final = "subtype"

#: Look-alikes that must not alarm (the simulator's ``others`` kinds), and the confusers of
#: the original system (ARCHITECTURE, "The simulator is the data") as guard-rejected FPs.
_LOOK_ALIKES: Final = ("aux_battery", "portable_fan")
_CONFUSERS: Final = (
    "fp:bag_decoration",
    "fp:zipper",
    "fp:glasses_case",
    "fp:umbrella",
    "fp:pen",
    "fp:wallet",
    "fp:book",
    "fp:guard_rejected",
)
#: Every subtype an annotator can pick; ``fp:<class>`` is what a rejected detection of that
#: class is pre-filled with (streams/logic/annotation.py).
SUBTYPES: Final[tuple[str, ...]] = (
    *_LOOK_ALIKES,
    *_CONFUSERS,
    *(f"fp:{CLASS_NAMES[class_id]}" for class_id in sorted(STORAGE_MEDIA_CLASS_IDS)),
)


def label_config() -> str:
    """The labelling config XML of the leakguard project."""
    labels = "\n".join(
        f"    <Label value={quoteattr(name)}/>" for _, name in sorted(CLASS_NAMES.items())
    )
    choices = "\n".join(f"    <Choice value={quoteattr(subtype)}/>" for subtype in SUBTYPES)
    return (
        "<View>\n"
        f'  <Image name="{IMAGE_NAME}" value="$image" zoom="true" zoomControl="true"/>\n'
        f'  <RectangleLabels name="{BOX_FROM_NAME}" toName="{IMAGE_NAME}" strokeWidth="2">\n'
        f"{labels}\n"
        "  </RectangleLabels>\n"
        f'  <Header value="Subtype of the selected box (optional)"/>\n'
        f'  <Choices name="{SUBTYPE_FROM_NAME}" toName="{IMAGE_NAME}" perRegion="true" '
        'choice="single" showInline="true">\n'
        f"{choices}\n"
        "  </Choices>\n"
        "</View>\n"
    )
