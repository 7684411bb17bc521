"""infra -- kept so ``python -m infra.invoke`` and old imports work; the constructs live in ``runfox_cdk``."""

from runfox_cdk import RunfoxEngine, RunfoxStack

__all__ = ["RunfoxEngine", "RunfoxStack"]
