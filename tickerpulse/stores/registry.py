"""Model registry over MLflow: runs, versions and the aliases `challenger` and `champion`.

Embedded: SQLite tracking store and local artifacts under var/. Full mode: an MLflow server
with PostgreSQL and S3 artifacts; only the URIs change. MLflow is imported lazily because
it costs seconds, and the API only needs it when it loads a model.

Every call is bounded (HttpBudget) and a registry that fails raises RegistryUnavailable: only a
model or alias that does not exist reads as "none".
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pandas as pd

from tickerpulse.errors import AliasMoved, RegistryUnavailable, UntrustedModel

# log_model otherwise infers requirements by importing the model: about 24 s each time.
PIP_REQUIREMENTS = ["scikit-learn", "pandas", "numpy"]
# MLflow saves sklearn models with skops (no pickle), which loads only the types it trusts.
# One entry per type that a candidate's fitted model holds and skops does not trust by default
# (as skops.io.get_untrusted_types reports on a saved model of each candidate), with the reason
# it is safe; tests check the list against the candidates, so it neither lags nor grows stale.
TRUSTED_TYPES = [
    # Our own meta-estimator: skops rebuilds it from its attributes (a dict of fitted sklearn
    # estimators, numbers), each of which skops checks in turn; loading runs none of its code.
    "tickerpulse.forecasting.per_ticker.PerTickerModel",
    # HistGradientBoosting's fitted trees (numpy node arrays). skops distrusts it because predict
    # indexes the nodes without bounds checks: a forged file could crash the process. Only our
    # training writes the models this registry loads, so a file here is one we made; whoever can
    # write the artifact store could replace any model anyway.
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
]
# set_tracking_uri, set_registry_uri and set_experiment mirror their value here for subprocesses.
_PROCESS_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_EXPERIMENT_ID")
# Registries in one process (the API's threads) take turns with MLflow's process-wide URI.
_FLUENT_LOCK = threading.RLock()


@contextmanager
def mlflow_process_state_kept() -> Iterator[None]:
    """Whatever runs inside leaves MLflow's process-wide state as it found it: the tracking and
    registry URIs, the active experiment (each mirrored in os.environ) and this thread's stack of
    active runs. dagster-mlflow's resource sets all of them for a Dagster run; this registry sets
    the URIs for each call. MLflow offers no public way to read them unresolved, hence the
    private module attributes (the lock pins the MLflow version)."""
    from mlflow.tracking import fluent
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    saved_variables = {key: os.environ.get(key) for key in _PROCESS_VARIABLES}
    saved_tracking_uri = tracking_utils._tracking_uri
    saved_registry_uri = registry_utils._registry_uri
    saved_experiment = fluent._active_experiment_id
    active_runs = fluent._active_run_stack.get()
    saved_runs = list(active_runs)
    try:
        yield
    finally:
        # Through the setter: it also resets the tracer provider that caches the URI. None
        # (never set) is what it unsets to, though its annotation leaves None out.
        tracking_utils.set_tracking_uri(saved_tracking_uri)  # type: ignore[arg-type]
        registry_utils._registry_uri = saved_registry_uri
        fluent._active_experiment_id = saved_experiment
        active_runs[:] = saved_runs
        for key, value in saved_variables.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass(frozen=True)
class HttpBudget:
    """Bounds on each HTTP request the registry makes to an MLflow server. MLflow's defaults
    (7 retries, backoff factor 2, 120 s timeout, Retry-After honoured) keep a caller waiting for
    minutes before an outage surfaces. A refused connection fails at once; a server that
    accepts and never answers costs timeout_seconds per attempt; the first retry is immediate
    (urllib3), the second waits 2 s."""

    timeout_seconds: int
    retries: int

    def variables(self) -> dict[str, object]:
        return {
            "MLFLOW_HTTP_REQUEST_TIMEOUT": self.timeout_seconds,
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": self.retries,
            "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": 1,
            "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": 0.0,
            # A 503 with Retry-After: 600 would otherwise hold the caller for ten minutes.
            "MLFLOW_HTTP_RESPECT_RETRY_AFTER_HEADER": False,
        }


# Metadata calls (aliases, versions, tags) made while an API request waits: it must get its
# answer, or its 503, within 5 s: two attempts of 2 s at most.
FOR_REQUESTS = HttpBudget(timeout_seconds=2, retries=1)
# Metadata calls of training and batch jobs: patient with a loaded or cold-starting server (its
# first request can take seconds), still failing within about 30 s.
FOR_JOBS = HttpBudget(timeout_seconds=10, retries=2)
# Calls that move artifacts (log a run and its model, load a model): longer per request.
TRANSFER = HttpBudget(timeout_seconds=10, retries=2)
# The budget of the registry call running in this thread (a context variable: concurrent calls
# in other threads, and MLflow users outside the registry, keep their own settings).
_BUDGET: ContextVar[Mapping[str, object]] = ContextVar(
    "registry_http_budget", default=MappingProxyType({})
)


_SCOPED_KINDS: set[type] = set()


def _scope_http_settings() -> None:
    """MLflow reads its HTTP settings from os.environ at each request: process-wide, where the
    API's threads call the registry concurrently (a lock would queue every lookup behind a slow
    one). Let the budget of the registry call in progress take precedence, in its own context
    only. MLflow offers no per-client setting, hence the patched getter (the lock pins the
    MLflow version; tests check both the bound and that nothing outside a call sees it)."""
    from mlflow import environment_variables as variables

    for kind in (variables._EnvironmentVariable, variables._BooleanEnvironmentVariable):
        if kind in _SCOPED_KINDS:
            continue
        unscoped = kind.get

        def get(self: Any, unscoped: Callable[[Any], Any] = unscoped) -> Any:
            value = _BUDGET.get().get(self.name)
            return unscoped(self) if value is None else value

        kind.get = get  # type: ignore[method-assign]
        _SCOPED_KINDS.add(kind)


def _not_found(error: Exception) -> bool:
    """MLflow's answer for a model that does not exist (404) or an alias it lacks (400)."""
    code = getattr(error, "error_code", "")
    return code == "RESOURCE_DOES_NOT_EXIST" or (
        code == "INVALID_PARAMETER_VALUE" and "not found" in str(error)
    )


def _shown_version(version: str | None) -> str:
    return f"v{version}" if version is not None else "no version"


def shown_uri(uri: str) -> str:
    """The URI without credentials, fit for an error message."""
    parts = urlsplit(uri)
    if parts.username is None and parts.password is None:
        return uri
    host = f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)
    return urlunsplit(parts._replace(netloc=host))


@dataclass(frozen=True)
class ModelVersionInfo:
    name: str
    version: str
    run_id: str
    metrics: dict[str, float]
    params: dict[str, str]
    tags: dict[str, str]


class ModelRegistry:
    def __init__(
        self, tracking_uri: str, artifact_uri: str, lookups: HttpBudget = FOR_JOBS
    ) -> None:
        """`lookups`: the budget of metadata calls (FOR_REQUESTS where a client waits)."""
        import mlflow
        from mlflow import MlflowClient

        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        self.mlflow = mlflow
        self.tracking_uri = tracking_uri
        self.artifact_uri = artifact_uri
        self.lookups = lookups
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        _scope_http_settings()

    @contextmanager
    def _reaching(self, budget: HttpBudget) -> Iterator[None]:
        """The calls inside run within `budget`; a failure of the registry itself (transport,
        timeout, a 5xx) becomes RegistryUnavailable. Answers about the request (not found,
        invalid) pass through as MLflow raised them."""
        from mlflow.exceptions import MlflowException

        token = _BUDGET.set(budget.variables())
        try:
            yield
        except MlflowException as error:
            if error.get_http_status_code() < 500:
                raise
            shown = shown_uri(self.tracking_uri)
            # MLflow's message repeats the URI it called, credentials included.
            reason = str(error).replace(self.tracking_uri.rstrip("/"), shown.rstrip("/"))
            raise RegistryUnavailable(
                f"model registry at {shown} failed: {' '.join(reason.split())[:300]}"
            ) from error
        finally:
            _BUDGET.reset(token)

    @contextmanager
    def _fluent(self) -> Iterator[None]:
        """MLflow's fluent API (start_run, log_model, load_model) reads a process-wide URI and
        nests under any run active in the thread (a Dagster run's, through dagster-mlflow):
        scope both to this registry's call, so its runs land in its own store, unnested."""
        from mlflow.tracking import fluent

        with _FLUENT_LOCK, mlflow_process_state_kept():
            fluent._active_run_stack.get().clear()
            self.mlflow.set_tracking_uri(self.tracking_uri)
            self.mlflow.set_registry_uri(self.tracking_uri)
            yield

    def experiment_id(self, name: str) -> str:
        with self._reaching(self.lookups):
            experiment = self.client.get_experiment_by_name(name)
            if experiment is not None:
                return str(experiment.experiment_id)
            location = f"{self.artifact_uri.rstrip('/')}/{name}" if self.artifact_uri else None
            return str(self.client.create_experiment(name, artifact_location=location))

    def log_and_register(
        self,
        name: str,
        estimator: Any,
        *,
        params: dict[str, Any],
        metrics: dict[str, float],
        fold_metrics: list[dict[str, float]],
        input_example: pd.DataFrame,
        tags: dict[str, str],
        artifacts: dict[str, str] | None = None,
        figures: dict[str, Any] | None = None,
    ) -> ModelVersionInfo:
        """One MLflow run with params, per-fold metrics and the model; a new registered version."""
        from mlflow.models import infer_signature

        mlflow = self.mlflow
        with (
            self._reaching(TRANSFER),
            self._fluent(),
            mlflow.start_run(experiment_id=self.experiment_id(name)) as run,
        ):
            mlflow.log_params(params)
            mlflow.log_metrics(metrics)
            for fold, values in enumerate(fold_metrics):
                mlflow.log_metrics({f"fold_{k}": v for k, v in values.items()}, step=fold)
            mlflow.set_tags(tags)
            for artifact_name, text in (artifacts or {}).items():
                mlflow.log_text(text, artifact_name)
            for artifact_name, figure in (figures or {}).items():
                mlflow.log_figure(figure, artifact_name)
            signature = infer_signature(input_example, estimator.predict(input_example))
            info = mlflow.sklearn.log_model(
                estimator,
                name="model",
                signature=signature,
                input_example=input_example,
                pip_requirements=PIP_REQUIREMENTS,
                skops_trusted_types=TRUSTED_TYPES,
                registered_model_name=name,
            )
        version = str(info.registered_model_version)
        return self.version(name, version, run_id=run.info.run_id)

    def version(self, name: str, version: str, run_id: str | None = None) -> ModelVersionInfo:
        with self._reaching(self.lookups):
            if run_id is None:
                run_id = str(self.client.get_model_version(name, version).run_id)
            run = self.client.get_run(run_id)
        return ModelVersionInfo(
            name,
            version,
            run_id,
            dict(run.data.metrics),
            dict(run.data.params),
            dict(run.data.tags),
        )

    def by_alias(self, name: str, alias: str) -> ModelVersionInfo | None:
        """None only when the model or the alias does not exist; RegistryUnavailable when the
        registry cannot tell (a caller must not take an outage for "no champion")."""
        from mlflow.exceptions import MlflowException

        try:
            with self._reaching(self.lookups):
                found = self.client.get_model_version_by_alias(name, alias)
        except MlflowException as error:
            if _not_found(error):
                return None
            raise
        return self.version(name, str(found.version), run_id=found.run_id)

    def _aliased_version(self, name: str, alias: str) -> str | None:
        found = self.by_alias(name, alias)
        return found.version if found else None

    def set_alias(self, name: str, alias: str, version: str) -> None:
        with self._reaching(self.lookups):
            self.client.set_registered_model_alias(name, alias, version)

    def move_alias(self, name: str, alias: str, version: str, expected: str | None) -> None:
        """Point `alias` at `version` only if it still points at `expected` (None: nowhere),
        the version a decision compared against; AliasMoved otherwise, the alias untouched.
        MLflow has no compare-and-set: this reads, then sets, then reads back. Writers that
        hold the model's training lease never interleave here, so among them it is atomic; a
        writer outside the platform (a person in the MLflow UI) could only slip in between the
        read and the set, and the read-back then reports it instead of letting it pass."""
        current = self._aliased_version(name, alias)
        if current != expected:
            raise AliasMoved(
                f"{name}@{alias} points at {_shown_version(current)}, not at "
                f"{_shown_version(expected)} as when the decision was made: not moved to "
                f"v{version}; train again to compare against the current {alias}"
            )
        self.set_alias(name, alias, version)
        after = self._aliased_version(name, alias)
        if after != version:
            raise AliasMoved(
                f"{name}@{alias} was moved to {_shown_version(after)} by another writer while "
                f"it was being moved to v{version}"
            )

    def run_url(self, ui_url: str, name: str, run_id: str) -> str:
        """The run's page in the MLflow UI at `ui_url`."""
        return f"{ui_url}/#/experiments/{self.experiment_id(name)}/runs/{run_id}"

    def tag_version(self, name: str, version: str, key: str, value: str) -> None:
        with self._reaching(self.lookups):
            self.client.set_model_version_tag(name, version, key, value)

    def load(self, name: str, alias: str) -> Any:
        return self._load_trusted(f"models:/{name}@{alias}")

    def load_version(self, name: str, version: str) -> Any:
        return self._load_trusted(f"models:/{name}/{version}")

    def _load_trusted(self, uri: str) -> Any:
        """The model at `uri`, read with skops trusting skops' defaults and TRUSTED_TYPES only.
        Not mlflow.sklearn.load_model: it takes the format and the trust list from the model's
        own MLmodel file, so an artifact saying `pickle`, or listing any type as trusted, would
        run whatever code it holds. Anything else is UntrustedModel, and nothing of it runs."""
        import skops.io
        from mlflow.artifacts import download_artifacts
        from mlflow.models import Model
        from skops.io.exceptions import UntrustedTypesFoundException

        with (
            self._reaching(TRANSFER),
            self._fluent(),
            tempfile.TemporaryDirectory(prefix="tickerpulse-model-") as folder,
        ):
            local = Path(download_artifacts(artifact_uri=uri, dst_path=folder)).resolve()
            flavor = Model.load(str(local)).flavors.get("sklearn", {})
            if flavor.get("serialization_format") != "skops":
                raise UntrustedModel(
                    f"{uri} is saved as {flavor.get('serialization_format', 'no sklearn model')!r}"
                    ", not skops: refused (only skops files are read, never pickles)"
                )
            path = (local / str(flavor.get("pickled_model", ""))).resolve()
            if not path.is_file() or not path.is_relative_to(local):
                raise UntrustedModel(f"{uri} names no model file inside its artifacts: refused")
            try:
                return skops.io.load(path, trusted=TRUSTED_TYPES)
            except UntrustedTypesFoundException as error:
                raise UntrustedModel(
                    f"{uri} holds types this platform does not trust: refused ({error})"
                ) from error
