"""Every ``leakguard`` command group: the wiring of settings, engines and the roles' code.

Roles (``streams``, ``sinks``, ``retrain``) and the ``detector`` hold library code and never
read settings or start services; the commands here do that and hand them plain objects.
"""
