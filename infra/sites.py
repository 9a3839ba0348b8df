"""Sites: the checkpoints one edge group and its consoles serve, each on topics of its own.

A site's frames, detections and verdicts travel on ``scanner.frames.<site>``,
``detections.<site>`` and ``guard.verdicts.<site>``, so a site's edge group and consoles
read only their own checkpoints' traffic instead of filtering the whole fleet's, a site is
sized (partitions) and secured (one ACL per topic) apart, and adding one touches no other
(issue #22). Without a site the base names stay in use: the embedded demo and a one-site
installation need no configuration. The fleet's consumers (the cloud join, the ClickHouse
sink) read the base topics and every configured site's; the rest of the catalogue
(outcomes, alerts, model updates...) stays fleet-wide.

A static site list rather than a regex subscription: Faust cannot mix a pattern with the
named topics of the join's table (faust-streaming/faust#62), and a list says which sites a
fleet has, where a pattern would silently take a mistyped topic.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from typing import Final

from infra.exceptions import SiteNameError
from schemas.topics import Topics

__all__ = [
    "MAX_SITE_CHARS",
    "SITE_TOPIC_FIELDS",
    "check_site",
    "check_sites",
    "fleet_routes",
    "site_base",
    "site_catalogues",
    "site_topic_name",
    "site_topics",
]

#: The catalogue fields a site has its own topic for: what one site's edge and consoles read
#: and write. Everything else is read by fleet-wide consumers only.
SITE_TOPIC_FIELDS: Final[tuple[str, ...]] = ("frames", "detections", "verdicts")
#: Longest site name: short enough for a readable topic name, consumer group
#: (``leakguard-edge-<site>``) and metric label, far below Kafka's 249-character topic limit
#: even with a test prefix.
MAX_SITE_CHARS: Final = 40
#: Lower-case letters, digits and inner hyphens. No dot: ``detections.<site>`` must name one
#: site unambiguously. No upper case: Kafka names are case-sensitive, "North" and "north"
#: would be two sites.
_SITE: Final = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
#: The base topics that have per-site copies.
_SITE_BASES: Final = frozenset(getattr(Topics(), name) for name in SITE_TOPIC_FIELDS)


def _is_site_name(name: str) -> bool:
    return len(name) <= MAX_SITE_CHARS and _SITE.fullmatch(name) is not None


def check_site(name: str) -> str:
    """``name`` if it is a valid site name, else a :class:`SiteNameError` saying why."""
    if not _is_site_name(name):
        raise SiteNameError(
            f"invalid site name {name!r}: use 1 to {MAX_SITE_CHARS} lower-case letters, digits "
            "and hyphens, starting and ending with a letter or digit (it becomes part of topic "
            f"names such as scanner.frames.<site>)"
        )
    return name


def check_sites(names: Iterable[str]) -> tuple[str, ...]:
    """Valid, distinct site names, in the order given: a site listed twice is a typo or a
    copy-paste, and would subscribe the same topics twice."""
    checked = tuple(check_site(name) for name in names)
    repeated = sorted({name for name in checked if checked.count(name) > 1})
    if repeated:
        raise SiteNameError(f"site listed more than once: {', '.join(repeated)}")
    return checked


def site_topic_name(base: str, site: str) -> str:
    """The name of ``site``'s copy of the base topic ``base``."""
    return f"{base}.{check_site(site)}"


def site_base(name: str) -> str | None:
    """The base topic ``name`` is a site's copy of, if it is one (unprefixed names)."""
    base, _, site = name.rpartition(".")
    if base in _SITE_BASES and _is_site_name(site):
        return base
    return None


def site_topics(topics: Topics, site: str | None) -> Topics:
    """The catalogue a process of ``site`` uses: ``topics`` with the site's own frames,
    detections and verdicts; ``topics`` itself without a site."""
    if site is None:
        return topics
    return dataclasses.replace(
        topics,
        **{field: site_topic_name(getattr(topics, field), site) for field in SITE_TOPIC_FIELDS},
    )


def site_catalogues(topics: Topics, sites: Iterable[str]) -> tuple[Topics, ...]:
    """Each site's catalogue: what a fleet-wide consumer reads besides ``topics``."""
    return tuple(site_topics(topics, site) for site in check_sites(sites))


def fleet_routes(topics: Topics, sites: Iterable[str], events: Iterable[str]) -> dict[str, str]:
    """Topic name -> event for ``events`` on the base topics and every site's copies."""
    wanted = tuple(events)
    routes: dict[str, str] = {}
    for catalogue in (topics, *site_catalogues(topics, sites)):
        routes.update(catalogue.routes(wanted))
    return routes
