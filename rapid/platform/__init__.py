"""The platform: job specs, the registry, the runner, cluster submission, results and metrics."""
