"""Deployment files: the compose file against the compose spec, the workspaces against the code."""

import configparser
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

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


def test_every_service_of_our_image_has_a_health_check_of_its_own() -> None:
    """The image's HEALTHCHECK asks the API's port; any other service must say how it is
    checked (or that it has no port to ask), or compose would call it unhealthy."""
    compose = yaml.safe_load((ROOT / "docker/compose.yaml").read_text())
    ours = {
        name: service
        for name, service in compose["services"].items()
        if service.get("image", "").startswith("tickerpulse")
    }
    assert set(ours) >= {"api", "relay", "code", "dagster-webserver", "dagster-daemon"}
    for name, service in ours.items():
        if name != "api":
            assert "healthcheck" in service, f"{name} inherits the API's health check"


def test_the_image_builds_the_page_and_runs_unprivileged() -> None:
    dockerfile = (ROOT / "docker/Dockerfile").read_text()
    stages = [line.split()[-1] for line in dockerfile.splitlines() if line.startswith("FROM ")]
    assert stages == ["web", "python", "runtime"]
    runtime = dockerfile.split("AS runtime", 1)[1]
    assert "COPY --from=web" in runtime and "/app/dashboards/web/dist" in runtime
    users = [line.split()[1] for line in runtime.splitlines() if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    assert "HEALTHCHECK" in runtime
    for line in dockerfile.splitlines():  # every path the build copies from the repository
        if line.startswith("COPY ") and "--from=" not in line:
            for source in line.split()[1:-1]:
                if not source.startswith("--"):
                    assert (ROOT / source).exists(), f"the Dockerfile copies missing {source}"


def test_every_variable_compose_needs_is_documented() -> None:
    import re

    compose = (ROOT / "docker/compose.yaml").read_text()
    example = (ROOT / ".env.example").read_text()
    for name in set(re.findall(r"\$\{(\w+)", compose)):
        assert re.search(rf"^# {name}=", example, re.M), f"{name} is not in .env.example"


# Consoles with no authentication of their own (or whose users can change what the API
# serves): published on the host's loopback only; docs/operations.md says how to expose them.
CONSOLES = ("mlflow", "dagster-webserver", "minio", "prometheus")


def _published(service: dict[str, Any]) -> list[tuple[str | None, str]]:
    """(host address, host port) of each published port, short or long syntax."""
    found = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            found.append((port.get("host_ip"), str(port.get("published"))))
        else:
            parts = str(port).rsplit(":", 2)
            found.append((parts[0] if len(parts) == 3 else None, parts[-2]))
    return found


def test_the_consoles_are_published_on_the_loopback_only() -> None:
    compose = yaml.safe_load((ROOT / "docker/compose.yaml").read_text())
    for name in CONSOLES:
        published = _published(compose["services"][name])
        assert published, f"{name} publishes no port"
        for address, port in published:
            assert address == "127.0.0.1", f"{name} publishes {port} on every interface"


def test_mlflow_runs_its_basic_auth_app_and_the_platform_signs_in() -> None:
    compose = yaml.safe_load((ROOT / "docker/compose.yaml").read_text())
    mlflow = compose["services"]["mlflow"]
    command = mlflow["command"]
    assert command[command.index("--app-name") + 1] == "basic-auth"
    env = mlflow["environment"]
    # The admin's credentials come from the environment, never from the committed file.
    assert env["MLFLOW_AUTH_ADMIN_PASSWORD"].startswith("${MLFLOW_PASSWORD:?")
    assert env["MLFLOW_FLASK_SERVER_SECRET_KEY"].startswith("${MLFLOW_SECRET_KEY:?")
    config_path = env["MLFLOW_AUTH_CONFIG_PATH"]
    mounted = {v.split(":")[1]: v.split(":")[0] for v in mlflow["volumes"]}
    config = configparser.ConfigParser()
    config.read(ROOT / "docker" / mounted[config_path])
    assert "admin_password" not in config["mlflow"]
    # Anyone else who signs up only reads: moving the champion needs EDIT on the model.
    assert config["mlflow"]["default_permission"] == "READ"
    # Its user store lives on a volume of its own, not in the container.
    database = config["mlflow"]["database_uri"].removeprefix("sqlite:///")
    assert any(database.startswith(f"{path}/") for path in mounted if path.startswith("/data"))
    # Every service of our image signs in as that admin.
    app_env = compose["x-app"]["environment"]
    assert app_env["MLFLOW_TRACKING_USERNAME"] == env["MLFLOW_AUTH_ADMIN_USERNAME"]
    assert app_env["MLFLOW_TRACKING_PASSWORD"].startswith("${MLFLOW_PASSWORD")


def test_the_service_ports_lie_below_the_kernels_ephemeral_range() -> None:
    # A listener cannot bind a port that any client socket on the machine holds as its own
    # end of a connection; the kernel hands those out from ip_local_port_range. A CI run lost
    # every S3 test to 'Port 55900 is in use' that way: the fixed ports sit below the range.
    lowest_ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    defaults = {
        match.group(1): int(match.group(2))
        for script in (ROOT / "scripts").glob("*.sh")
        for match in re.finditer(r"\$\{(TP_\w+_PORT):-(\d+)\}", script.read_text())
    }
    assert {"TP_PG_PORT", "TP_REDIS_PORT", "TP_KAFKA_PORT", "TP_S3_PORT"} <= defaults.keys()
    inside = {name: port for name, port in defaults.items() if port >= lowest_ephemeral}
    assert not inside, f"default ports at or above {lowest_ephemeral}: {inside}"
