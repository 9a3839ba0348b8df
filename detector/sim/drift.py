"""Drift scenarios: a new confuser starts turning up in the bags.

A scenario is a named change of a preset's mix: it adds confuser kinds to the clutter, so
the media in a scene stay what they were and the confuser comes on top, as it would at a
checkpoint when a fashion reaches the staff. The confusers are labelled ``others`` (their
ground truth says what they are; a guard would reject an alarm on one), which lets a
benchmark count the false alarms they cause. ``leakguard data generate --drift NAME`` and
``leakguard scanner simulate --drift NAME`` switch one on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Final

from detector.exceptions import SimulationError
from detector.sim.scenes import ScenePreset

__all__ = ["DRIFTS", "DriftScenario", "drifted", "get_drift"]


@dataclass(frozen=True, kw_only=True)
class DriftScenario:
    """A confuser mix added to a preset's clutter: subtype -> relative weight."""

    name: str
    description: str
    clutter_weights: Mapping[str, float]

    @property
    def subtypes(self) -> frozenset[str]:
        """The confuser subtypes this scenario brings (what a benchmark counts alarms on)."""
        return frozenset(self.clutter_weights)

    def apply(self, preset: ScenePreset) -> ScenePreset:
        """``preset`` with the confusers in its clutter, named ``<preset>+<scenario>``.

        Raises :class:`SimulationError` for a preset without clutter (``alone``): the
        confusers come on top of the clutter, and such a preset has none.
        """
        if preset.n_clutter[1] == 0:
            raise SimulationError(
                f"drift {self.name!r} adds clutter, and preset {preset.name!r} has none; "
                "use a preset with clutter (bag, cluttered)"
            )
        return replace(
            preset.with_weights(clutter=self.clutter_weights), name=f"{preset.name}+{self.name}"
        )


#: About one phone-shaped decoration in every other ``bag`` scene and 0.8 per ``cluttered``
#: scene (weight 1.2 against the clutter mix's 13.3): false alarms show within a few dozen
#: frames, and about 40 % of the ``cluttered`` frames still hold none.
DRIFTS: Final[Mapping[str, DriftScenario]] = {
    "phone-decoration": DriftScenario(
        name="phone-decoration",
        description="metal bag decorations shaped like phones",
        clutter_weights={"phone_decoration": 1.2},
    ),
}


def get_drift(name: str) -> DriftScenario:
    """The scenario ``name``; raises :class:`SimulationError` listing the choices."""
    try:
        return DRIFTS[name]
    except KeyError:
        raise SimulationError(f"unknown drift {name!r}; choose one of {sorted(DRIFTS)}") from None


def drifted(preset: ScenePreset, drift: str | None) -> ScenePreset:
    """``preset`` with the drift scenario ``drift`` applied, or unchanged for None."""
    return preset if drift is None else get_drift(drift).apply(preset)
