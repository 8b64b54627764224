"""The one lookup of a horizon's champion (and challenger) in the model registry.

A horizon's model is registered as "<base name>-h<horizon>"; its aliases `champion` (what is
served) and `challenger` (the latest trained). None means the registry answered that there is
none; a registry that cannot answer raises RegistryUnavailable, never None (an outage must not
read as "no champion": training would put the random walk in the champion's place).
"""

from __future__ import annotations

from tickerpulse.stores.registry import ModelRegistry, ModelVersionInfo

CHAMPION = "champion"
CHALLENGER = "challenger"


def registered_name(base_name: str, horizon: int) -> str:
    return f"{base_name}-h{horizon}"


def champion(registry: ModelRegistry, base_name: str, horizon: int) -> ModelVersionInfo | None:
    """The version the horizon's champion alias points at."""
    return registry.by_alias(registered_name(base_name, horizon), CHAMPION)


def challenger(registry: ModelRegistry, base_name: str, horizon: int) -> ModelVersionInfo | None:
    """The version the horizon's challenger alias points at (the latest trained)."""
    return registry.by_alias(registered_name(base_name, horizon), CHALLENGER)
