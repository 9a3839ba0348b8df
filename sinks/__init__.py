"""Where events leave the stream: the ClickHouse writer and DDL runner, Grafana
dashboards-as-code and annotations, and alert delivery to the control centre's API.

Sinks record outcomes; they never decide them.
"""
