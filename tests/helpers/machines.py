"""Settings of the stateful property tests that drive a real router."""

from __future__ import annotations

from hypothesis import HealthCheck, settings


def machine_settings(examples: int, steps: int) -> settings:
    """``examples`` runs of up to ``steps`` rules each; no deadline and no health checks, since
    each step works a real router and store."""
    return settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
