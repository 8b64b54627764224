"""Deployment files: the compose file against the compose spec, the workspaces against the code."""

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).parents[2]


def test_the_compose_file_follows_the_compose_spec() -> None:
    checker = Path(sys.executable).parent / "check-jsonschema"
    result = subprocess.run(
        [
            str(checker),
            "--builtin-schema",
            "vendor.compose-spec",
            str(ROOT / "docker/compose.yaml"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_compose_services_run_commands_the_image_has() -> None:
    compose = yaml.safe_load((ROOT / "docker/compose.yaml").read_text())
    commands = {
        name: service["command"][0]
        for name, service in compose["services"].items()
        if service.get("image", "").startswith("tickerpulse")  # third-party images bring their own
    }
    venv_bin = Path(sys.executable).parent
    for name, command in commands.items():
        assert (venv_bin / command).exists(), (
            f"{name} runs {command}, which the project does not install"
        )


def test_workspaces_point_at_the_code_location() -> None:
    local = yaml.safe_load((ROOT / "workspace.yaml").read_text())
    assert local["load_from"][0]["python_module"]["module_name"] == "orchestration.definitions"
    compose = yaml.safe_load((ROOT / "docker/compose.yaml").read_text())
    code = compose["services"]["code"]["command"]
    assert code[code.index("-m") + 1] == "orchestration.definitions"


def test_compose_prometheus_scrapes_what_the_local_one_does_by_service_name() -> None:
    local = yaml.safe_load((ROOT / "dashboards/prometheus/prometheus.yml").read_text())
    docker = yaml.safe_load((ROOT / "docker/prometheus.yml").read_text())
    assert docker["rule_files"] == local["rule_files"]
    jobs = lambda config: {j["job_name"]: j for j in config["scrape_configs"]}  # noqa: E731
    assert set(jobs(docker)) == set(jobs(local))
    compose = yaml.safe_load((ROOT / "docker/compose.yaml").read_text())
    for name, job in jobs(docker).items():
        (target,) = job["static_configs"][0]["targets"]
        host, port = target.split(":")
        assert host in compose["services"], f"{name} scrapes {host}, which compose does not run"
        assert port in " ".join(compose["services"][host]["command"]), f"{name}: port {port}"
