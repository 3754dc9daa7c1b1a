"""The suite's spine: registry, config resolution, Sacred experiments, launchers, database."""
