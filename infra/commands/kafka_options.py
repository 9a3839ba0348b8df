"""The Kafka options every streaming command shares: the cluster, the topic prefix, the site,
the security settings and the producer keyring, read from ``infra``'s settings only here
(the library code below the CLI takes plain values)."""

from __future__ import annotations

from typing import Annotated, Final

import typer

from schemas.authenticity import Tagger
from schemas.topics import Topics

__all__ = [
    "BOOTSTRAP_ENV",
    "BootstrapOption",
    "PrefixOption",
    "SiteOption",
    "bootstrap_servers_or_stack",
    "client_config",
    "event_keyring_path",
    "scanner_tag",
    "site_of",
    "site_stream_topics",
]

#: The settings' variable for the Kafka cluster (infra/settings.py, ``kafka.bootstrap_servers``).
BOOTSTRAP_ENV: Final[str] = "LEAKGUARD_KAFKA__BOOTSTRAP_SERVERS"

BootstrapOption = Annotated[
    str | None,
    typer.Option(
        "--bootstrap-servers",
        envvar=BOOTSTRAP_ENV,
        help="Kafka bootstrap servers (default: the `leakguard stack up` broker).",
        show_default=False,
    ),
]
PrefixOption = Annotated[
    str, typer.Option("--topic-prefix", help="Prefix of every topic and the app id (tests).")
]
SiteOption = Annotated[
    str | None,
    typer.Option(
        "--site",
        help="The site whose own topics to use: scanner.frames.SITE, detections.SITE, "
        "guard.verdicts.SITE (default: LEAKGUARD_SITE, else the fleet-wide topics).",
        show_default=False,
    ),
]


def site_of(site: str | None) -> str | None:
    """``site`` if given, else the settings' ``LEAKGUARD_SITE``; a bad ``--site`` is a usage
    error naming the option (a bad variable fails in the settings, naming the variable)."""
    from infra.exceptions import SiteNameError
    from infra.settings import load_settings
    from infra.sites import check_site

    if site is None:
        return load_settings().site
    try:
        return check_site(site)
    except SiteNameError as exc:
        raise typer.BadParameter(str(exc), param_hint="--site") from exc


def site_stream_topics(topic_prefix: str, site: str | None) -> Topics:
    """The catalogue of a process of one site (:func:`site_of`): the site's frames,
    detections and verdicts, the fleet-wide topics for the rest."""
    from infra.sites import site_topics

    return site_topics(Topics().prefixed(topic_prefix), site_of(site))


def client_config() -> dict[str, str]:
    """The settings' Kafka security block (``LEAKGUARD_KAFKA__*``), for every client."""
    from infra.settings import load_settings

    return load_settings().kafka.client_config()


def event_keyring_path() -> str | None:
    """The settings' producer keyring (``LEAKGUARD_SECURITY__EVENT_KEYRING``), if any."""
    from infra.settings import load_settings

    path = load_settings().security.event_keyring
    return None if path is None else str(path)


def scanner_tag(checkpoint: str) -> Tagger | None:
    """How a scanner of ``checkpoint`` tags its frames: with the keyring's key of that
    checkpoint's scanners, else its ``scanner:*`` key (None without a keyring)."""
    from infra.settings import load_settings

    keyring = load_settings().security.keyring()
    if keyring is None:
        return None
    if f"scanner:{checkpoint}" in keyring.principals:
        return keyring.tagger("scanner", checkpoint)
    return keyring.tagger("scanner", None)


def bootstrap_servers_or_stack(servers: str | None) -> str:
    """``servers`` if given, else the configured cluster or the running ``stack up`` broker.

    Raises ``infra``'s ``BrokerError`` (one red line from the CLI root) when there is none.
    """
    if servers:
        return servers
    from infra.settings import load_settings
    from infra.stack import require_bootstrap_servers

    return require_bootstrap_servers(load_settings())
