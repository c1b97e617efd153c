"""The compose files, resolved by the real `docker compose config` (the client alone: no engine
runs here): required secrets, what is published, who runs, what healthchecks show."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from tests.compose.conftest import (
    BASE,
    CLUSTER,
    COMPOSE_SOURCE,
    compose_config,
    parse_env,
    resolved,
)
from yavio_cli.commands.compose import SECRET_BYTES

VARIANTS = pytest.mark.parametrize("files", [BASE, CLUSTER], ids=["base", "cluster"])
DATASTORES = ("clickhouse", "clickhouse-2", "keeper", "postgres")


def secrets_of(deployment: Path) -> dict[str, str]:
    return parse_env((deployment / ".env").read_text())


@VARIANTS
def test_config_resolves_with_the_generated_env_file(deployment: Path, files):
    model = resolved(deployment, files)

    assert {"clickhouse", "postgres", "migrate", "ingest", "proxy"} <= set(model["services"])
    assert model["services"]["ingest"]["deploy"]["replicas"] == 2
    ingest_needs = model["services"]["ingest"]["depends_on"]
    assert ingest_needs["migrate"]["condition"] == "service_completed_successfully"


@VARIANTS
def test_config_fails_without_the_env_file(compose_folder: Path, tmp_path: Path, files):
    empty = tmp_path / "empty.env"
    empty.write_text("")

    result = compose_config(compose_folder, files, empty)

    assert result.returncode != 0
    assert "run `yavio compose init` first" in result.stderr


@VARIANTS
def test_every_secret_is_required_on_its_own(deployment: Path, tmp_path: Path, files):
    used = "\n".join((deployment / name).read_text() for name in files)
    for name, value in secrets_of(deployment).items():
        if f"${{{name}" not in used:
            continue  # the cluster secret, in the base variant
        partial = tmp_path / f"without-{name}.env"
        partial.write_text("".join(f"{other}={v}\n" for other, v in secrets_of(deployment).items()
                                   if other != name))

        result = compose_config(deployment, files, partial)

        assert result.returncode != 0, f"{name} has a default"
        assert name in result.stderr


def test_compose_files_hold_no_secret_and_no_secret_default(deployment: Path):
    generated = secrets_of(deployment).values()
    for path in COMPOSE_SOURCE.rglob("*"):
        if not path.is_file() or path.name == ".env":
            continue
        text = path.read_text(encoding="utf-8")
        assert not any(value in text for value in generated), path
        for name in SECRET_BYTES:
            # `${NAME:?…}` only: `${NAME}`, `${NAME:-x}` or `${NAME-x}` would let it be empty
            # or fixed.
            assert not re.search(rf"\$\{{{name}(?!:\?)", text), f"{path}: {name}"


@VARIANTS
def test_every_secret_setting_comes_from_the_env_file(deployment: Path, files):
    generated = set(secrets_of(deployment).values())
    for service_name, service in resolved(deployment, files)["services"].items():
        for variable, value in (service.get("environment") or {}).items():
            if re.search(r"PASSWORD|SECRET|_URL$", variable):
                assert any(secret in value for secret in generated), \
                    f"{service_name}: {variable} is not one of the generated secrets"


@VARIANTS
def test_only_the_proxy_publishes_a_port_and_on_loopback_by_default(deployment: Path, files):
    services = resolved(deployment, files)["services"]

    for name, service in services.items():
        if name != "proxy":
            assert not service.get("ports"), f"{name} publishes a port"
    [published] = services["proxy"]["ports"]
    assert published["host_ip"] == "127.0.0.1"
    assert published["published"] == "3001"


def test_the_operator_chooses_the_public_interface(deployment: Path):
    services = resolved(deployment, BASE, YAVIO_PUBLIC_BIND="0.0.0.0",
                        YAVIO_PUBLIC_PORT="443")["services"]

    [published] = services["proxy"]["ports"]
    assert (published["host_ip"], published["published"]) == ("0.0.0.0", "443")


@VARIANTS
def test_datastores_are_only_on_the_internal_network(deployment: Path, files):
    model = resolved(deployment, files)
    internal = {name for name, network in model["networks"].items() if network.get("internal")}

    for name in DATASTORES:
        if name in model["services"]:
            assert set(model["services"][name]["networks"]) <= internal, name


@VARIANTS
def test_every_service_runs_as_a_non_root_user(deployment: Path, files):
    for name, service in resolved(deployment, files)["services"].items():
        user = str(service.get("user", "")).split(":")[0]
        assert user and user not in ("0", "root"), f"{name} runs as {user or 'the image default'}"


@VARIANTS
def test_healthchecks_carry_no_secret(deployment: Path, files):
    generated = secrets_of(deployment).values()
    for name, service in resolved(deployment, files)["services"].items():
        if name == "migrate":
            continue  # a one-shot task: done is its health
        test = " ".join(service["healthcheck"]["test"])
        assert not any(value in test for value in generated), name
        assert "$" not in test, f"{name}: a healthcheck reading a variable may read a secret"


def test_the_cluster_variant_names_the_cluster_clickhouse_defines(deployment: Path):
    services = resolved(deployment, CLUSTER)["services"]
    remote_servers = ElementTree.parse(COMPOSE_SOURCE / "clickhouse" / "cluster.xml").find(
        "remote_servers")

    for name in ("migrate", "ingest"):
        cluster = services[name]["environment"]["YAVIO_CLICKHOUSE_CLUSTER"]
        assert remote_servers.find(cluster) is not None
    replicas = [host.text for host in remote_servers.iter("host")]
    assert replicas == ["clickhouse", "clickhouse-2"]
    assert all(replica in services for replica in replicas)


def test_clickhouse_has_no_passwordless_user():
    users = ElementTree.parse(COMPOSE_SOURCE / "clickhouse" / "users.xml").find("users")

    assert users.find("default").get("remove") == "remove"
    for user in users:
        if user.tag != "default":
            assert user.find("password").get("from_env") in SECRET_BYTES, user.tag
