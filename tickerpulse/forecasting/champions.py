"""The one lookup of a horizon's champion (and challenger) in the model registry, and its load.

A horizon's model is registered as "<base name>-h<horizon>"; its aliases `champion` (what is
served) and `challenger` (the latest trained). None means the registry answered that there is
none; a registry that cannot answer raises RegistryUnavailable, never None (an outage must not
read as "no champion": training would put the random walk in the champion's place).
"""

from __future__ import annotations

from tickerpulse.forecasting.forecast import LoadedChampion, served_quantiles
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


def load_champion(registry: ModelRegistry, info: ModelVersionInfo) -> LoadedChampion:
    """The version `info` names, loaded to forecast with. By version, not by alias: the alias
    may move between the lookup and the load, and the forecast must name what it ran."""
    return LoadedChampion(
        info.name,
        info.version,
        info.params.get("model", "unknown"),
        served_quantiles(info.metrics),
        registry.load_version(info.name, info.version),
    )
