"""``leakguard demo``: the plan, its child processes, the live tally and the run's lifecycle."""
