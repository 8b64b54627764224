from fastapi import APIRouter

from serving.deps import ServicesDep
from serving.schemas import ModelScope
from tickerpulse.forecasting.champions import challenger, champion, registered_name
from tickerpulse.forecasting.coverage import TERCILES
from tickerpulse.stores.registry import ModelVersionInfo

router = APIRouter(prefix="/v1/models", tags=["models"])


def _by_volatility(metrics: dict[str, float], label: int) -> list[float] | None:
    """Low, mid, high; None for versions registered before intervals were judged per tercile."""
    keys = [f"coverage_{label}_{tercile}_volatility" for tercile in TERCILES]
    return [metrics[key] for key in keys] if all(key in metrics for key in keys) else None


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
        "dm_pvalue": info.metrics.get("dm_pvalue"),
        **{
            f"coverage_{label}_by_volatility": _by_volatility(info.metrics, label)
            for label in (80, 95)
        },
        "coverage_80_by_fold": [
            float(value) for value in info.params.get("coverage_80_by_fold", "").split(",") if value
        ],
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
        base_name, registry = services.settings.model_name, services.registry
        scopes.append(
            {
                "name": name,
                "horizon": horizon,
                "champion": _version(champion(registry, base_name, horizon)),
                "challenger": _version(challenger(registry, base_name, horizon)),
                "history": services.operational_store.alias_history(name),
            }
        )
    return scopes
