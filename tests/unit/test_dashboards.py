"""The committed Grafana JSON is what dashboards/grafana/build.py builds (`make dashboards`)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest
import yaml

ROOT = Path(__file__).parents[2]
GRAFANA = ROOT / "dashboards" / "grafana"


def load_build() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dashboards_build", GRAFANA / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def panel_targets(dashboard: dict) -> list[tuple[str, str]]:
    """(panel title, PromQL) of every query, rows' nested panels included."""
    found = []
    for panel in dashboard["panels"]:
        for inner in [panel, *panel.get("panels", [])]:
            found += [(inner["title"], target["expr"]) for target in inner.get("targets", [])]
    return found


build = load_build()


@pytest.mark.parametrize("name", sorted(build.DASHBOARDS))
def test_committed_json_is_up_to_date(name: str) -> None:
    committed = (GRAFANA / f"{name}.json").read_text()
    assert committed == build.render(build.DASHBOARDS[name]), (
        f"dashboards/grafana/{name}.json is stale: run `make dashboards` and commit the result"
    )


def test_dashboards_use_the_provisioned_datasource_and_unique_ids() -> None:
    datasources = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"]
    uids = {source["uid"] for source in datasources}
    seen_uids = set()
    for name in build.DASHBOARDS:
        dashboard = json.loads((GRAFANA / f"{name}.json").read_text())
        assert dashboard["uid"] not in seen_uids
        seen_uids.add(dashboard["uid"])
        ids = [panel["id"] for panel in dashboard["panels"]]
        assert len(ids) == len(set(ids))
        assert panel_targets(dashboard), f"{name} has no query"
        for panel in dashboard["panels"]:
            if panel.get("targets"):
                assert panel["datasource"]["uid"] in uids


def test_the_provider_loads_the_folder_compose_mounts() -> None:
    provider = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "tickerpulse.yml").read_text()
    )["providers"][0]
    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"../dashboards/grafana:{provider['options']['path']}:ro" in mounts
