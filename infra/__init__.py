"""Wiring and operations: topic specs, ClickHouse DDL, Grafana provisioning, the embedded
local stack (broker, analytics store), settings and the CLI root.

No business logic lives here: it starts, configures and connects the other packages.
"""
