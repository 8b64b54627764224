from fastapi import APIRouter

from serving.deps import ServicesDep
from serving.schemas import ModelScope
from tickerpulse.forecasting.training import registered_name
from tickerpulse.stores.registry import ModelVersionInfo

router = APIRouter(prefix="/v1/models", tags=["models"])


def _version(info: ModelVersionInfo | None) -> dict | None:
    if info is None:
        return None
    return {
        "version": info.version,
        "model": info.params.get("model", "?"),
        "relative_mae": info.metrics.get("relative_mae", float("nan")),
        "directional_accuracy": info.metrics.get("directional_accuracy", float("nan")),
        "coverage_80": info.metrics.get("coverage_80", float("nan")),
        "coverage_95": info.metrics.get("coverage_95", float("nan")),
        "trained_window": f"{info.params.get('data_start', '?')}..{info.params.get('data_end', '?')}",
        "run_id": info.run_id,
    }


@router.get(
    "",
    response_model=list[ModelScope],
    summary="Champion and challenger of each horizon, with metrics and promotion history",
)
def get_models(services: ServicesDep) -> list[dict]:
    scopes = []
    for horizon in services.settings.horizons:
        name = registered_name(services.settings.model_name, horizon)
        scopes.append(
            {
                "name": name,
                "horizon": horizon,
                "champion": _version(services.registry.by_alias(name, "champion")),
                "challenger": _version(services.registry.by_alias(name, "challenger")),
                "history": services.raw_store.alias_history(name),
            }
        )
    return scopes
