# Placeholder replaced by the CLI golden runner.
