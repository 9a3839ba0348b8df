"""The Faust applications: topics, agents (detect, outcome join, alerts, annotation queue,
dead letters), sources (scanner bridge, simulator producer), the guard console and the edge
model manager.

No SQL and no training code lives here: agents are thin loops over pure functions.
"""
