"""`yavio usage`, `yavio plan set`, `yavio login`/`logout` and `yavio init` as a user runs them,
against the FAKE management API (tests/cli/fake_management_api.py) on a real loopback port.
`init`'s real end to end, SDK included, is in test_init_end_to_end.py."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from tests.cli.conftest import make_home
from tests.cli.fake_management_api import FakeManagementApi
from tests.cli.test_management_commands import NOT_RUNNING, error_line, json_of
from tests.conftest import free_port
from yavio_cli.home import write_private_json
from yavio_cli.main import app
from yavio_sdk.config import resolve_config

runner = CliRunner()


@pytest.fixture
def stopped_stack(tmp_path: Path) -> Path:
    """A home whose local stack is not running: only a login can make commands work."""
    return make_home(tmp_path / "home", free_port(), None)


@pytest.fixture(autouse=True)
def no_yavio_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's own settings must not leak into what the commands read.
    for variable in ("YAVIO_TOKEN", "YAVIO_API_KEY", "YAVIO_ENDPOINT", "YAVIO_HOME"):
        monkeypatch.delenv(variable, raising=False)


def run(home: Path, *args: str, stdin: str | None = None, **env: str) -> Result:
    return runner.invoke(app, list(args), input=stdin, env={"YAVIO_HOME": str(home), **env})


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- help -------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", [["usage"], ["plan", "set"], ["login"], ["logout"], ["init"]],
                         ids=" ".join)
def test_every_new_command_has_help_with_an_example(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output and f"yavio {' '.join(command)}" in result.output


# -- usage ------------------------------------------------------------------------------------

def test_usage_shows_each_projects_events_the_total_and_the_quota(
        api: FakeManagementApi, home: Path, owner: dict[str, Any]) -> None:
    shop = api.add_project(owner["workspace"]["id"], "Shop", "shop")
    api.events.update({owner["project"]["id"]: 1_234, shop["id"]: 66})

    result = run(home, "usage")

    assert result.exit_code == 0, result.output
    assert "default" in result.stdout and "shop" in result.stdout
    assert "1,234" in result.stdout and "66" in result.stdout
    total = next(line for line in result.stdout.splitlines() if line.startswith("total"))
    assert "1,300" in total
    assert "Plan community: 1,000,000 events a month (0% used)." in result.stdout
    assert api.requests[-1].path == f"/v1/workspaces/{owner['workspace']['id']}/usage"


def test_usage_json_is_the_servers_answer(api: FakeManagementApi, home: Path,
                                          owner: dict[str, Any]) -> None:
    api.events[owner["project"]["id"]] = 7

    answer = json_of(run(home, "usage", "--month", "2026-01", "--json"))

    assert answer["month"] == "2026-01"
    assert answer["workspace"]["events"] == 7 and answer["workspace"]["slug"] == "default"
    assert {"plan", "monthlyEventQuota"} <= answer["workspace"].keys()
    assert answer["projects"] == [{"id": owner["project"]["id"], "slug": "default",
                                   "name": "Default", "events": 7}]


@pytest.mark.parametrize("month", ["2026-13", "26-01", "March"])
def test_usage_of_a_malformed_month_is_a_usage_error(api: FakeManagementApi, home: Path,
                                                     month: str) -> None:
    result = run(home, "usage", "--month", month)
    assert result.exit_code == 2 and not api.requests


def test_usage_over_the_quota_says_events_are_refused_and_how_to_raise_it(
        api: FakeManagementApi, home: Path, owner: dict[str, Any]) -> None:
    api.workspaces[owner["workspace"]["id"]]["monthlyEventQuota"] = 100
    api.events[owner["project"]["id"]] = 150

    result = run(home, "usage")

    assert result.exit_code == 0
    assert "(150% used)" in result.stdout and "refused" in result.stdout
    assert "yavio plan set" in result.stdout


def test_usage_of_an_unlimited_plan_says_there_is_no_quota(api: FakeManagementApi, home: Path,
                                                           owner: dict[str, Any]) -> None:
    api.workspaces[owner["workspace"]["id"]].update(plan="self-hosted", monthlyEventQuota=None)
    result = run(home, "usage")
    assert "Plan self-hosted: no monthly event quota." in result.stdout


def test_usage_of_an_unknown_workspace_says_how_to_list_them(home: Path) -> None:
    result = run(home, "usage", "--workspace", "nope")
    assert result.exit_code == 1
    assert error_line(result) == 'error: No workspace "nope"; see `yavio workspaces list`.'


def test_usage_against_a_stopped_stack_says_how_to_start_it(stopped_stack: Path) -> None:
    result = run(stopped_stack, "usage")
    assert result.exit_code == 1 and error_line(result) == NOT_RUNNING


# -- plan -------------------------------------------------------------------------------------

def test_plan_set_with_a_quota_sends_it_and_says_so(api: FakeManagementApi, home: Path,
                                                    owner: dict[str, Any]) -> None:
    result = run(home, "plan", "set", "community", "--quota", "5_000_000")

    assert result.exit_code == 0, result.output
    assert api.requests[-1].method == "PATCH"
    assert api.requests[-1].path == f"/v1/workspaces/{owner['workspace']['id']}/plan"
    assert api.requests[-1].body == {"plan": "community", "monthlyEventQuota": 5_000_000}
    assert "Workspace default is on the community plan: 5,000,000 events a month." \
        in result.stdout


def test_plan_set_unlimited_sends_null(api: FakeManagementApi, home: Path) -> None:
    updated = json_of(run(home, "plan", "set", "community", "--quota", "unlimited", "--json"))
    assert api.requests[-1].body == {"plan": "community", "monthlyEventQuota": None}
    assert updated["plan"] == "community" and updated["monthlyEventQuota"] is None


def test_plan_set_without_a_quota_leaves_the_plans_own(api: FakeManagementApi,
                                                       home: Path) -> None:
    result = run(home, "plan", "set", "self-hosted")
    assert api.requests[-1].body == {"plan": "self-hosted"}
    assert "self-hosted plan: no monthly event quota." in result.stdout


@pytest.mark.parametrize("args", [["enterprise"], ["community", "--quota", "lots"],
                                  ["community", "--quota", "-5"]], ids=" ".join)
def test_plan_set_of_an_unknown_plan_or_quota_is_a_usage_error(
        api: FakeManagementApi, home: Path, args: list[str]) -> None:
    result = run(home, "plan", "set", *args)
    assert result.exit_code == 2 and not api.requests


def test_plan_set_needs_the_owner(tmp_path: Path, api: FakeManagementApi,
                                  owner: dict[str, Any]) -> None:
    admin = api.add_user("admin@example.com", "Admin")
    api.roles[(owner["workspace"]["id"], admin["id"])] = "admin"
    admin_home = make_home(tmp_path / "admin", api.port,
                           {**owner, "token": api.mint_token(admin["id"]), "user": admin})

    result = run(admin_home, "plan", "set", "community")

    assert result.exit_code == 1 and "needs the owner role" in error_line(result)


# -- login and logout -------------------------------------------------------------------------

def test_login_reads_the_token_from_stdin_checks_it_and_saves_it_readable_by_you_only(
        api: FakeManagementApi, owner: dict[str, Any], stopped_stack: Path) -> None:
    args = ["login", "--server", api.url + "/"]

    result = run(stopped_stack, *args, stdin=owner["token"] + "\n")

    assert result.exit_code == 0, result.output
    # The token travels on stdin only: never in the arguments, never echoed.
    assert all(owner["token"] not in arg for arg in args)
    assert owner["token"] not in result.output
    assert (api.requests[0].path, api.requests[0].authorization) == \
        ("/v1/me", f"Bearer {owner['token']}")
    saved = stopped_stack / "login.json"
    assert mode_of(saved) == 0o600
    assert json.loads(saved.read_text()) == {
        "server": api.url, "token": owner["token"],
        "user": {"id": owner["user"]["id"], "email": "owner@localhost", "name": "Owner"},
        "workspace": owner["workspace"], "project": owner["project"]}
    assert f"Logged in to {api.url} as owner@localhost" in result.stdout
    assert "yavio logout" in result.stdout


def test_after_login_every_command_uses_the_saved_server_and_token(
        api: FakeManagementApi, owner: dict[str, Any], stopped_stack: Path) -> None:
    other = api.mint_token(owner["user"]["id"], "laptop")
    assert run(stopped_stack, "login", "--server", api.url, stdin=other).exit_code == 0

    listed = json_of(run(stopped_stack, "keys", "list", "--json"))

    assert listed == {"keys": []}
    assert api.requests[-1].authorization == f"Bearer {other}"
    assert api.requests[-1].path == f"/v1/projects/{owner['project']['id']}/keys"


def test_login_takes_the_token_from_yavio_token(api: FakeManagementApi, owner: dict[str, Any],
                                                stopped_stack: Path) -> None:
    result = run(stopped_stack, "login", "--server", api.url, "--json",
                 YAVIO_TOKEN=owner["token"])

    shown = json_of(result)
    assert shown["server"] == api.url and shown["user"]["email"] == "owner@localhost"
    assert "token" not in shown and owner["token"] not in result.stdout


@pytest.mark.parametrize("extra", [["--token", "yat_0000"], ["yat_0000"]], ids=" ".join)
def test_login_refuses_a_token_on_the_command_line(api: FakeManagementApi,
                                                   stopped_stack: Path, extra: list[str]) -> None:
    result = run(stopped_stack, "login", "--server", api.url, *extra, stdin="yat_0000\n")
    assert result.exit_code == 2 and not api.requests
    assert not (stopped_stack / "login.json").exists()


def test_login_with_a_refused_token_saves_nothing(api: FakeManagementApi, owner: dict[str, Any],
                                                  stopped_stack: Path) -> None:
    result = run(stopped_stack, "login", "--server", api.url, stdin="yat_" + "0" * 64)

    assert result.exit_code == 1
    assert "refused the access token" in error_line(result)
    assert not (stopped_stack / "login.json").exists()


def test_login_without_a_token_says_how_to_give_one(api: FakeManagementApi,
                                                    stopped_stack: Path) -> None:
    result = run(stopped_stack, "login", "--server", api.url, stdin="")
    assert result.exit_code == 1 and "No access token given" in error_line(result)
    assert not api.requests


def test_login_to_an_address_where_nothing_answers_says_to_check_it(
        owner: dict[str, Any], stopped_stack: Path) -> None:
    result = run(stopped_stack, "login", "--server", f"http://127.0.0.1:{free_port()}",
                 stdin=owner["token"])
    assert result.exit_code == 1 and "check the address" in error_line(result)


@pytest.mark.parametrize("server", ["yavio.example.com", "ftp://yavio.example.com", "http://"])
def test_login_to_a_malformed_address_is_a_usage_error(stopped_stack: Path, server: str) -> None:
    assert run(stopped_stack, "login", "--server", server, stdin="yat_0").exit_code == 2


def test_login_with_several_workspaces_saves_the_chosen_one(
        api: FakeManagementApi, owner: dict[str, Any], stopped_stack: Path) -> None:
    acme = api.add_workspace("Acme", "acme", owner["user"]["id"])
    site = api.add_project(acme["id"], "Site", "site")

    unchosen = json_of(run(stopped_stack, "login", "--server", api.url, "--json",
                           stdin=owner["token"]))
    chosen = json_of(run(stopped_stack, "login", "--server", api.url, "-w", "acme", "--json",
                         stdin=owner["token"]))

    assert unchosen["workspace"] is None and unchosen["project"] is None
    assert chosen["workspace"] == {"id": acme["id"], "slug": "acme"}
    assert chosen["project"] == {"id": site["id"], "slug": "site"}


def test_a_refused_saved_login_says_to_log_in_again(api: FakeManagementApi,
                                                    owner: dict[str, Any],
                                                    stopped_stack: Path) -> None:
    run(stopped_stack, "login", "--server", api.url, stdin=owner["token"])
    for token in api.tokens.values():
        token["revokedAt"] = "2020-01-01T00:00:00.000Z"

    result = run(stopped_stack, "projects", "list")

    assert result.exit_code == 1
    assert f"run `yavio login --server {api.url}` again" in error_line(result)


def test_a_saved_login_whose_server_stopped_says_to_check_it_or_log_out(
        stopped_stack: Path) -> None:
    write_private_json(stopped_stack / "login.json", {
        "server": f"http://127.0.0.1:{free_port()}", "token": "yat_" + "0" * 64})

    result = run(stopped_stack, "workspaces", "list")

    assert result.exit_code == 1
    assert "Nothing answers" in error_line(result) and "yavio logout" in error_line(result)


def test_logout_removes_the_login_and_commands_use_the_local_stack_again(
        api: FakeManagementApi, owner: dict[str, Any], stopped_stack: Path) -> None:
    run(stopped_stack, "login", "--server", api.url, stdin=owner["token"])

    result = run(stopped_stack, "logout")

    assert result.exit_code == 0
    assert f"Logged out of {api.url}" in result.stdout and "local stack" in result.stdout
    assert not (stopped_stack / "login.json").exists()
    assert error_line(run(stopped_stack, "workspaces", "list")) == NOT_RUNNING


def test_logout_without_a_login_says_there_was_none(stopped_stack: Path) -> None:
    result = run(stopped_stack, "logout")
    assert result.exit_code == 0 and "Not logged in" in result.stdout
    assert json_of(run(stopped_stack, "logout", "--json")) == {"loggedOut": False,
                                                               "server": None}


def test_logout_json_names_the_server_it_left(api: FakeManagementApi, owner: dict[str, Any],
                                              stopped_stack: Path) -> None:
    run(stopped_stack, "login", "--server", api.url, stdin=owner["token"])
    assert json_of(run(stopped_stack, "logout", "--json")) == {"loggedOut": True,
                                                               "server": api.url}


# -- init -------------------------------------------------------------------------------------

@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An MCP server's project folder, the current directory of the command."""
    path = tmp_path / "weather-server"
    path.mkdir()
    monkeypatch.chdir(path)
    return path


def test_init_writes_the_key_and_endpoint_readable_by_you_only_and_ignores_the_file(
        api: FakeManagementApi, home: Path, owner: dict[str, Any], folder: Path) -> None:
    result = run(home, "init")

    assert result.exit_code == 0, result.output
    rc_file = folder / ".yaviorc.json"
    assert mode_of(rc_file) == 0o600
    written = json.loads(rc_file.read_text())
    assert written.keys() == {"apiKey", "endpoint"} and written["endpoint"] == api.url
    (key,) = api.keys.values()
    assert written["apiKey"].startswith(key["prefix"])
    assert key["projectId"] == owner["project"]["id"] and key["name"] == "weather-server"
    assert (folder / ".gitignore").read_text() == ".yaviorc.json\n"
    # The key goes to the file, never to the terminal.
    assert written["apiKey"] not in result.output
    assert "accepts the key" in result.stdout and "project default" in result.stdout
    probe = api.requests[-1]
    assert (probe.path, probe.authorization, probe.body) == (
        "/v1/widget-tokens", f"Bearer {written['apiKey']}",
        {"traceId": "tr_init", "sessionId": "ses_init"})
    # What the SDK reads from this folder with no options and no environment.
    config = resolve_config(cwd=folder, environ={})
    assert (config.api_key, config.endpoint) == (written["apiKey"], api.url)


def test_init_json_describes_what_it_did_without_the_raw_key(
        api: FakeManagementApi, home: Path, owner: dict[str, Any], folder: Path) -> None:
    result = run(home, "init", "--name", "prod", "--json")

    shown = json_of(result)
    raw = json.loads((folder / ".yaviorc.json").read_text())["apiKey"]
    assert raw not in result.stdout
    assert shown == {
        "file": str(folder / ".yaviorc.json"), "endpoint": api.url,
        "project": owner["project"], "key": {k: shown["key"][k] for k in
                                             ("id", "name", "prefix", "createdAt")},
        "gitignore": "created", "server": "ok", "keyAccepted": True, "eventsWillArrive": True}
    assert shown["key"]["name"] == "prod"


def test_init_adds_itself_to_an_existing_gitignore_once(home: Path, folder: Path) -> None:
    (folder / ".gitignore").write_text("node_modules\n.env")

    first = run(home, "init")
    again = run(home, "init", "--force")

    assert first.exit_code == 0 and again.exit_code == 0
    assert (folder / ".gitignore").read_text() == "node_modules\n.env\n.yaviorc.json\n"
    assert "already keeps .yaviorc.json out of git" in again.stdout


def test_init_refuses_to_overwrite_an_existing_file_without_force(
        api: FakeManagementApi, home: Path, folder: Path) -> None:
    (folder / ".yaviorc.json").write_text('{"apiKey": "yav_mine"}')

    result = run(home, "init")

    assert result.exit_code == 1
    assert "--force" in error_line(result)
    assert (folder / ".yaviorc.json").read_text() == '{"apiKey": "yav_mine"}'
    assert not api.requests and not api.keys  # no orphan key was created


def test_init_force_replaces_the_key_and_endpoint_and_keeps_other_settings(
        api: FakeManagementApi, home: Path, folder: Path) -> None:
    old = "yav_" + "1" * 64
    rc_file = folder / ".yaviorc.json"
    rc_file.write_text(json.dumps({"apiKey": old, "endpoint": "http://old:1",
                                   "capture": {"geo": False}}))
    rc_file.chmod(0o644)

    result = run(home, "init", "--force")

    assert result.exit_code == 0, result.output
    written = json.loads(rc_file.read_text())
    assert written["apiKey"] != old and written["endpoint"] == api.url
    assert written["capture"] == {"geo": False}
    assert mode_of(rc_file) == 0o600
    assert f"({old[:12]}…) still works" in result.stdout and old not in result.stdout


def test_init_in_another_project(api: FakeManagementApi, home: Path, owner: dict[str, Any],
                                 folder: Path) -> None:
    shop = api.add_project(owner["workspace"]["id"], "Shop", "shop")
    assert run(home, "init", "--project", "shop").exit_code == 0
    (key,) = api.keys.values()
    assert key["projectId"] == shop["id"]


def test_init_says_events_will_not_arrive_when_the_key_is_refused(
        api: FakeManagementApi, home: Path, folder: Path) -> None:
    api.refuse_api_keys = True

    result = run(home, "init")

    assert result.exit_code == 1
    assert "refused the new key" in error_line(result) and "will not arrive" in error_line(result)
    assert (folder / ".yaviorc.json").exists()  # written: the user may fix the server instead


def test_init_against_a_stopped_stack_says_how_to_start_it_and_writes_nothing(
        stopped_stack: Path, folder: Path) -> None:
    result = run(stopped_stack, "init")
    assert result.exit_code == 1 and error_line(result) == NOT_RUNNING
    assert not any(folder.iterdir())


def test_init_after_login_points_the_sdk_at_the_login_server(
        api: FakeManagementApi, owner: dict[str, Any], stopped_stack: Path,
        folder: Path) -> None:
    run(stopped_stack, "login", "--server", api.url, stdin=owner["token"])

    assert run(stopped_stack, "init").exit_code == 0

    assert json.loads((folder / ".yaviorc.json").read_text())["endpoint"] == api.url


def test_init_warns_when_the_environment_hides_the_file(home: Path, folder: Path) -> None:
    result = run(home, "init", YAVIO_API_KEY="yav_from_the_shell")
    assert result.exit_code == 0
    assert "YAVIO_API_KEY is set in this shell" in result.stdout
