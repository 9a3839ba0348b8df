"""The Kafka options every streaming command shares: the cluster, the topic prefix, the
security settings and the producer keyring, read from ``infra``'s settings only here (the
library code below the CLI takes plain values)."""

from __future__ import annotations

from typing import Annotated, Final

import typer

from schemas.authenticity import Tagger

__all__ = [
    "BOOTSTRAP_ENV",
    "BootstrapOption",
    "PrefixOption",
    "bootstrap_servers_or_stack",
    "client_config",
    "event_keyring_path",
    "scanner_tag",
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
