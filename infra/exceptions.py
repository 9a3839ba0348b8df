"""Errors of the wiring layer: configuration, the embedded stack and topic provisioning."""

from leakguard.errors import LeakguardError


class InfraError(LeakguardError):
    """Base class of errors raised while configuring or running leakguard's infrastructure."""


class ConfigurationError(InfraError):
    """A setting is missing or invalid; the message names the environment variable."""


class SiteNameError(ConfigurationError):
    """A site name cannot name topics (bad characters, too long) or is listed twice."""


class BrokerError(InfraError):
    """The embedded Kafka-compatible broker could not be started, reached or stopped."""


class TopicDriftError(InfraError):
    """Existing topics differ from the topic spec in a way that cannot be fixed in place."""

    def __init__(self, drifts: list[str]) -> None:
        self.drifts = drifts
        super().__init__("topic drift from the spec:\n  " + "\n  ".join(drifts))


class ClickHouseError(InfraError):
    """A local ClickHouse server or embedded chdb session could not be started or queried."""


class ZooKeeperError(InfraError):
    """A local ZooKeeper (the coordinator of a local ClickHouse cluster) could not start."""


class DemoError(InfraError):
    """``leakguard demo`` cannot start or keep running (port taken, child died, no model)."""
