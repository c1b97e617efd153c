"""`yavio keys|projects|workspaces|tokens|members|invitations` as a user runs them, against the
FAKE management API (tests/cli/fake_management_api.py) on a real loopback port, found through
a home directory laid out the way `yavio up` leaves it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from tests.cli.conftest import make_home
from tests.cli.fake_management_api import FakeManagementApi
from tests.conftest import free_port
from yavio_cli.home import write_private_json
from yavio_cli.main import app

runner = CliRunner()
NOT_RUNNING = "error: Yavio is not running. Start it with `yavio up`."

COMMANDS = {
    "keys": ["create", "list", "revoke", "rotate"],
    "projects": ["create", "list", "delete"],
    "workspaces": ["create", "list", "delete"],
    "tokens": ["create", "list", "revoke"],
    "members": ["list", "invite", "role", "remove"],
    "invitations": ["accept"],
}
# One invocation of each command that reaches the server, for the connection-failure tests.
REACHING_THE_SERVER = [
    ["keys", "create"], ["keys", "list"], ["keys", "revoke", "yav_0000"],
    ["keys", "rotate", "yav_0000"], ["projects", "create", "Shop"], ["projects", "list"],
    ["projects", "delete", "default", "--yes"], ["workspaces", "create", "Acme"],
    ["workspaces", "list"], ["workspaces", "delete", "default", "--yes"], ["tokens", "create"],
    ["tokens", "list"], ["tokens", "revoke", "yat_0000"], ["members", "list"],
    ["members", "invite", "ana@example.com"], ["members", "role", "ana@example.com", "admin"],
    ["members", "remove", "ana@example.com"],
]


def home_of(tmp_path: Path, api: FakeManagementApi, owner: dict[str, Any], role: str) -> Path:
    """The home of another user with `role` in the owner's default workspace."""
    user = api.add_user(f"{role}@example.com", role.title())
    api.roles[(owner["workspace"]["id"], user["id"])] = role
    return make_home(tmp_path / role, api.port,
                     {**owner, "token": api.mint_token(user["id"]), "user": user})


def yavio(home: Path, *args: str) -> Result:
    return runner.invoke(app, list(args), env={"YAVIO_HOME": str(home)})


def json_of(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def error_line(result: Result) -> str:
    """The one line a user error prints."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


# -- help and usage ---------------------------------------------------------------------------

@pytest.mark.parametrize("group,command", [(g, c) for g, cs in COMMANDS.items() for c in cs])
def test_every_management_command_has_help_with_an_example(group: str, command: str) -> None:
    result = runner.invoke(app, [group, command, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output and f"yavio {group} {command}" in result.output


def test_deleting_a_project_says_in_its_help_that_events_are_erased() -> None:
    assert "events" in runner.invoke(app, ["projects", "delete", "--help"]).output


def test_a_missing_argument_is_a_usage_error(home: Path) -> None:
    assert yavio(home, "keys", "revoke").exit_code == 2


# -- finding the server and the token ---------------------------------------------------------

@pytest.mark.parametrize("args", REACHING_THE_SERVER, ids=" ".join)
def test_every_command_says_how_to_start_a_stopped_stack(tmp_path: Path, args: list[str]) -> None:
    home = make_home(tmp_path / "home", free_port(), {
        "token": "yat_" + "0" * 64, "user": {"id": "u", "email": "owner@localhost"},
        "workspace": {"id": "00000000-0000-0000-0000-000000000001", "slug": "default"},
        "project": {"id": "00000000-0000-0000-0000-000000000002", "slug": "default"}})

    result = yavio(home, *args)

    assert result.exit_code == 1
    assert error_line(result) == NOT_RUNNING


def test_a_home_never_started_says_how_to_start(tmp_path: Path) -> None:
    # The default port may be any stack's on this machine: a free one stands for "none".
    result = runner.invoke(app, ["keys", "list"], env={
        "YAVIO_HOME": str(tmp_path / "nothing-here"), "YAVIO_PORT": str(free_port())})
    assert result.exit_code == 1
    assert error_line(result) == NOT_RUNNING


@pytest.mark.parametrize("args", REACHING_THE_SERVER, ids=" ".join)
def test_a_refused_token_says_to_run_up_again(api: FakeManagementApi, home: Path,
                                               args: list[str]) -> None:
    for token in api.tokens.values():
        token["revokedAt"] = "2020-01-01T00:00:00.000Z"

    result = yavio(home, *args)

    assert result.exit_code == 1
    line = error_line(result)
    assert "saved access token" in line and "refused" in line and "`yavio up` again" in line


def test_a_home_without_credentials_says_how_to_get_a_token(tmp_path: Path,
                                                            api: FakeManagementApi) -> None:
    home = make_home(tmp_path / "home", api.port, None)
    result = yavio(home, "workspaces", "list")
    assert result.exit_code == 1
    assert "No access token saved" in error_line(result) and "yavio up" in error_line(result)


def test_the_address_saved_with_the_credentials_is_used_without_state(
        tmp_path: Path, api: FakeManagementApi, owner: dict[str, Any]) -> None:
    home = tmp_path / "home"
    write_private_json(home / "credentials.json", {"server": api.url, **owner})
    assert yavio(home, "projects", "list").exit_code == 0


def test_requests_carry_the_saved_token(api: FakeManagementApi, home: Path,
                                        owner: dict[str, Any]) -> None:
    yavio(home, "workspaces", "list")
    assert api.requests[-1].authorization == f"Bearer {owner['token']}"


# -- keys -------------------------------------------------------------------------------------

def test_keys_create_with_no_flags_uses_the_default_project_and_shows_the_key_once(
        api: FakeManagementApi, home: Path, owner: dict[str, Any]) -> None:
    result = yavio(home, "keys", "create", "--name", "production")

    assert result.exit_code == 0, result.output
    (key,) = api.keys.values()
    assert key["projectId"] == owner["project"]["id"] and key["name"] == "production"
    lines = result.stdout.splitlines()
    raw = next(line for line in lines if line.startswith("yav_"))
    assert raw.startswith(key["prefix"]) and len(raw) == 68
    assert "will not be shown again" in result.stdout
    assert [r.path for r in api.requests] == [f"/v1/projects/{owner['project']['id']}/keys"]


def test_keys_create_json_carries_the_raw_key_and_its_record(api: FakeManagementApi,
                                                            home: Path) -> None:
    created = json_of(yavio(home, "keys", "create", "--json"))
    assert created["key"].startswith("yav_")
    assert {"id", "projectId", "name", "prefix", "createdAt", "lastUsedAt", "revokedAt"} \
        <= created.keys()
    assert api.requests[-1].body == {}


def test_keys_list_shows_prefixes_never_whole_keys(api: FakeManagementApi, home: Path,
                                                   owner: dict[str, Any]) -> None:
    raw, key = api.add_key(owner["project"]["id"], "staging")

    table = yavio(home, "keys", "list")
    listed = json_of(yavio(home, "keys", "list", "--json"))

    assert table.exit_code == 0
    assert f"{key['prefix']}…" in table.stdout and "staging" in table.stdout
    assert "active" in table.stdout
    assert raw not in table.stdout and raw not in json.dumps(listed)
    assert listed == {"keys": [key]}


def test_keys_list_of_an_empty_project_says_how_to_create_one(home: Path) -> None:
    result = yavio(home, "keys", "list")
    assert result.exit_code == 0 and "yavio keys create" in result.stdout


def test_keys_list_of_another_project_by_slug(api: FakeManagementApi, home: Path,
                                              owner: dict[str, Any]) -> None:
    shop = api.add_project(owner["workspace"]["id"], "Shop", "shop")
    _, key = api.add_key(shop["id"])
    assert json_of(yavio(home, "keys", "list", "--project", "shop", "--json")) == {"keys": [key]}


def test_keys_list_of_an_unknown_project_slug_says_how_to_list_projects(home: Path) -> None:
    result = yavio(home, "keys", "list", "--project", "nope")
    assert result.exit_code == 1
    assert error_line(result) == ('error: No project "nope"; see `yavio projects list '
                                  '--workspace default`.')


def test_a_project_the_caller_cannot_see_answers_the_servers_404(
        api: FakeManagementApi, home: Path) -> None:
    stranger = api.add_user("other@example.com")
    elsewhere = api.add_workspace("Other", "other", stranger["id"])
    hidden = api.add_project(elsewhere["id"], "Secret", "secret")

    result = yavio(home, "keys", "create", "--project", hidden["id"])

    assert result.exit_code == 1
    assert error_line(result) == "error: No such project."
    assert not api.keys


@pytest.mark.parametrize("typed", ["id", "prefix", "short prefix", "whole key"])
def test_keys_revoke_finds_the_key_by_what_the_user_typed(
        api: FakeManagementApi, home: Path, owner: dict[str, Any], typed: str) -> None:
    raw, key = api.add_key(owner["project"]["id"], "old")
    api.add_key(owner["project"]["id"], "other")
    argument = {"id": key["id"], "prefix": key["prefix"], "short prefix": raw[:10],
                "whole key": raw}[typed]

    revoked = json_of(yavio(home, "keys", "revoke", argument, "--json"))

    assert revoked["id"] == key["id"] and revoked["revokedAt"]
    assert "key" not in revoked


def test_keys_revoke_says_when_it_takes_effect(api: FakeManagementApi, home: Path,
                                               owner: dict[str, Any]) -> None:
    raw, key = api.add_key(owner["project"]["id"], "old")
    result = yavio(home, "keys", "revoke", key["prefix"])
    assert result.exit_code == 0
    assert "Revoked" in result.stdout and "within a minute" in result.stdout
    assert raw not in result.stdout


def test_keys_revoke_of_an_unknown_key_says_how_to_list_them(home: Path) -> None:
    result = yavio(home, "keys", "revoke", "yav_ffff")
    assert result.exit_code == 1
    assert error_line(result) == 'error: No key "yav_ffff"; see `yavio keys list`.'


def test_keys_revoke_of_an_ambiguous_prefix_asks_for_the_id(api: FakeManagementApi, home: Path,
                                                            owner: dict[str, Any]) -> None:
    api.add_key(owner["project"]["id"])
    api.add_key(owner["project"]["id"])
    result = yavio(home, "keys", "revoke", "yav_")
    assert result.exit_code == 1 and "matches 2 keys" in error_line(result)


@pytest.mark.parametrize("grace,seconds", [("30m", 1800), ("24h", 86400), ("7d", 604800),
                                           ("3600s", 3600), ("1h30m", 5400)])
def test_keys_rotate_sends_the_grace_in_seconds(api: FakeManagementApi, home: Path,
                                                owner: dict[str, Any], grace: str,
                                                seconds: int) -> None:
    _, key = api.add_key(owner["project"]["id"], "prod")

    rotated = json_of(yavio(home, "keys", "rotate", key["prefix"], "--grace", grace, "--json"))

    assert api.requests[-1].body == {"graceSeconds": seconds}
    assert rotated["key"].startswith("yav_") and rotated["replaces"]["id"] == key["id"]


def test_keys_rotate_prints_the_new_key_once_and_when_the_old_one_stops(
        api: FakeManagementApi, home: Path, owner: dict[str, Any]) -> None:
    old_raw, key = api.add_key(owner["project"]["id"], "prod")

    result = yavio(home, "keys", "rotate", key["id"])

    assert result.exit_code == 0, result.output
    assert api.requests[-1].body == {"graceSeconds": 86400}
    (new,) = [k for k in api.keys.values() if k["id"] != key["id"]]
    raw = next(line for line in result.stdout.splitlines() if line.startswith("yav_"))
    assert raw.startswith(new["prefix"]) and old_raw not in result.stdout
    assert "will not be shown again" in result.stdout
    assert f"({key['prefix']}…) keeps working until" in result.stdout


def test_keys_rotate_with_no_grace_says_the_old_key_stopped(api: FakeManagementApi, home: Path,
                                                            owner: dict[str, Any]) -> None:
    _, key = api.add_key(owner["project"]["id"])
    result = yavio(home, "keys", "rotate", key["id"], "--grace", "0")
    assert result.exit_code == 0 and "stopped working now" in result.stdout


@pytest.mark.parametrize("grace", ["soon", "24x", "-5m", ""])
def test_keys_rotate_with_a_bad_grace_is_a_usage_error(api: FakeManagementApi, home: Path,
                                                       owner: dict[str, Any],
                                                       grace: str) -> None:
    _, key = api.add_key(owner["project"]["id"])
    result = yavio(home, "keys", "rotate", key["id"], "--grace", grace)
    assert result.exit_code == 2
    assert not api.requests


def test_a_member_may_create_keys_but_a_viewer_is_told_their_role_is_too_low(
        tmp_path: Path, api: FakeManagementApi, owner: dict[str, Any]) -> None:
    member = home_of(tmp_path, api, owner, "member")
    viewer = home_of(tmp_path, api, owner, "viewer")

    assert yavio(member, "keys", "create").exit_code == 0
    refused = yavio(viewer, "keys", "create")

    assert refused.exit_code == 1
    assert error_line(refused) == "error: This needs the member role; yours is viewer."


# -- projects ---------------------------------------------------------------------------------

def test_projects_create_in_the_default_workspace(api: FakeManagementApi, home: Path,
                                                  owner: dict[str, Any]) -> None:
    result = yavio(home, "projects", "create", "Checkout bot")

    assert result.exit_code == 0, result.output
    assert "Created project checkout-bot" in result.stdout
    assert "yavio keys create --project checkout-bot" in result.stdout
    assert api.requests[-1].path == f"/v1/workspaces/{owner['workspace']['id']}/projects"
    assert api.requests[-1].body == {"name": "Checkout bot"}


def test_projects_create_json_is_the_new_project(home: Path, owner: dict[str, Any]) -> None:
    created = json_of(yavio(home, "projects", "create", "Shop", "--slug", "shop", "--json"))
    assert created["slug"] == "shop" and created["workspaceId"] == owner["workspace"]["id"]
    assert {"id", "name", "createdAt"} <= created.keys()


def test_projects_create_with_a_taken_slug_prints_the_servers_message(home: Path) -> None:
    result = yavio(home, "projects", "create", "Another default", "--slug", "default")
    assert result.exit_code == 1
    assert error_line(result) == "error: A project with the slug default exists."


def test_projects_create_with_an_invalid_slug_prints_the_servers_message(home: Path) -> None:
    result = yavio(home, "projects", "create", "Shop", "--slug", "Not A Slug")
    assert result.exit_code == 1
    assert "slug must be" in error_line(result)


def test_projects_list_in_another_workspace(api: FakeManagementApi, home: Path,
                                            owner: dict[str, Any]) -> None:
    acme = api.add_workspace("Acme", "acme", owner["user"]["id"])
    project = api.add_project(acme["id"], "Site", "site")

    listed = json_of(yavio(home, "projects", "list", "--workspace", "acme", "--json"))
    table = yavio(home, "projects", "list", "-w", acme["id"])

    assert listed == {"projects": [project]}
    assert "site" in table.stdout and "default" not in table.stdout


def test_projects_delete_without_yes_refuses_and_sends_nothing(api: FakeManagementApi,
                                                               home: Path) -> None:
    result = yavio(home, "projects", "delete", "default")

    assert result.exit_code == 1
    line = error_line(result)
    assert "erases" in line and "events" in line and "--yes" in line
    assert not api.requests and len(api.projects) == 1


def test_projects_delete_with_yes_erases_the_project(api: FakeManagementApi, home: Path,
                                                     owner: dict[str, Any]) -> None:
    api.add_project(owner["workspace"]["id"], "Shop", "shop")

    deleted = json_of(yavio(home, "projects", "delete", "shop", "--yes", "--json"))

    assert deleted["deleted"]["slug"] == "shop"
    assert [p["slug"] for p in api.projects.values()] == ["default"]
    assert api.requests[-1].method == "DELETE"


def test_projects_delete_of_an_unknown_project_says_how_to_list_them(home: Path) -> None:
    result = yavio(home, "projects", "delete", "nope", "--yes")
    assert result.exit_code == 1
    assert error_line(result) == ('error: No project "nope"; see `yavio projects list '
                                  '--workspace default`.')


def test_projects_delete_needs_the_owner(tmp_path: Path, api: FakeManagementApi,
                                         owner: dict[str, Any]) -> None:
    admin = home_of(tmp_path, api, owner, "admin")
    result = yavio(admin, "projects", "delete", "default", "--yes")
    assert result.exit_code == 1 and "needs the owner role" in error_line(result)


# -- workspaces -------------------------------------------------------------------------------

def test_workspaces_create_makes_the_caller_its_owner(home: Path) -> None:
    created = json_of(yavio(home, "workspaces", "create", "Acme Inc", "--json"))
    assert created["slug"] == "acme-inc" and created["role"] == "owner"


def test_workspaces_create_with_a_taken_slug_prints_the_servers_message(home: Path) -> None:
    result = yavio(home, "workspaces", "create", "Default")
    assert result.exit_code == 1 and error_line(result) == "error: The slug default is taken."


def test_workspaces_list_marks_the_default_and_shows_the_role(api: FakeManagementApi,
                                                              home: Path,
                                                              owner: dict[str, Any]) -> None:
    api.add_workspace("Acme", "acme", owner["user"]["id"])

    table = yavio(home, "workspaces", "list")
    listed = json_of(yavio(home, "workspaces", "list", "--json"))

    assert "Default (default)" in table.stdout and "acme" in table.stdout
    assert "owner" in table.stdout
    assert [w["slug"] for w in listed["workspaces"]] == ["default", "acme"]
    assert {"id", "name", "slug", "role", "plan", "monthlyEventQuota"} \
        <= listed["workspaces"][0].keys()


def test_workspaces_delete_without_yes_refuses(api: FakeManagementApi, home: Path) -> None:
    result = yavio(home, "workspaces", "delete", "default")
    assert result.exit_code == 1 and "--yes" in error_line(result)
    assert not api.requests


def test_workspaces_delete_with_yes(api: FakeManagementApi, home: Path,
                                    owner: dict[str, Any]) -> None:
    acme = api.add_workspace("Acme", "acme", owner["user"]["id"])
    deleted = json_of(yavio(home, "workspaces", "delete", "acme", "--yes", "--json"))
    assert deleted == {"deleted": {**acme, "role": "owner"}}
    assert acme["id"] not in api.workspaces


def test_workspaces_delete_of_one_you_do_not_belong_to_says_how_to_list_yours(
        api: FakeManagementApi, home: Path) -> None:
    api.add_workspace("Other", "other", api.add_user("x@example.com")["id"])
    result = yavio(home, "workspaces", "delete", "other", "--yes")
    assert result.exit_code == 1
    assert error_line(result) == 'error: No workspace "other"; see `yavio workspaces list`.'


# -- tokens -----------------------------------------------------------------------------------

def test_tokens_create_sends_the_expiry_in_days_and_shows_the_token_once(
        api: FakeManagementApi, home: Path) -> None:
    result = yavio(home, "tokens", "create", "--name", "ci", "--expires", "30d")

    assert result.exit_code == 0, result.output
    assert api.requests[-1].body == {"name": "ci", "expiresInDays": 30}
    assert any(line.startswith("yat_") and len(line) == 68 for line in result.stdout.splitlines())
    assert "valid until" in result.stdout and "will not be shown again" in result.stdout


def test_tokens_create_json_has_the_raw_token(home: Path) -> None:
    created = json_of(yavio(home, "tokens", "create", "--expires", "2w", "--json"))
    assert created["token"].startswith("yat_") and created["expiresAt"]


@pytest.mark.parametrize("expires", ["36h", "0d", "soon"])
def test_tokens_create_with_an_expiry_of_no_whole_days_is_a_usage_error(
        api: FakeManagementApi, home: Path, expires: str) -> None:
    result = yavio(home, "tokens", "create", "--expires", expires)
    assert result.exit_code == 2 and not api.requests


def test_tokens_list_shows_prefixes_never_whole_tokens(home: Path, owner: dict[str, Any]) -> None:
    table = yavio(home, "tokens", "list")
    listed = json_of(yavio(home, "tokens", "list", "--json"))

    assert owner["token"] not in table.stdout and owner["token"] not in json.dumps(listed)
    assert f"{owner['token'][:12]}…" in table.stdout and "yavio up" in table.stdout
    (token,) = listed["tokens"]
    assert {"id", "name", "prefix", "createdAt", "expiresAt", "lastUsedAt", "revokedAt"} \
        == token.keys()


def test_tokens_revoke_by_prefix(api: FakeManagementApi, home: Path,
                                 owner: dict[str, Any]) -> None:
    other = api.mint_token(owner["user"]["id"], "ci")

    revoked = json_of(yavio(home, "tokens", "revoke", other[:12], "--json"))

    assert revoked["name"] == "ci" and revoked["revokedAt"]
    assert yavio(home, "tokens", "list").exit_code == 0


def test_tokens_revoke_of_the_clis_own_token_says_so(home: Path, owner: dict[str, Any]) -> None:
    result = yavio(home, "tokens", "revoke", owner["token"][:12])
    assert result.exit_code == 0
    assert "token this CLI uses" in result.stdout


def test_tokens_revoke_of_an_unknown_token_says_how_to_list_them(home: Path) -> None:
    result = yavio(home, "tokens", "revoke", "yat_ffff")
    assert result.exit_code == 1
    assert error_line(result) == 'error: No token "yat_ffff"; see `yavio tokens list`.'


# -- members and invitations ------------------------------------------------------------------

def test_members_list(home: Path, owner: dict[str, Any]) -> None:
    table = yavio(home, "members", "list")
    listed = json_of(yavio(home, "members", "list", "--json"))
    assert "owner@localhost" in table.stdout and "owner" in table.stdout
    assert listed == {"members": [{"userId": owner["user"]["id"], "email": "owner@localhost",
                                   "name": "Owner", "role": "owner"}]}


def test_members_invite_prints_the_invitation_once_and_how_to_accept_it(
        api: FakeManagementApi, home: Path) -> None:
    result = yavio(home, "members", "invite", "ana@example.com", "--role", "viewer")

    assert result.exit_code == 0, result.output
    assert api.requests[-1].body == {"email": "ana@example.com", "role": "viewer"}
    token = next(line for line in result.stdout.splitlines() if line.startswith("yvi_"))
    assert f"yavio invitations accept {token}" in result.stdout
    assert "will not be shown again" in result.stdout


def test_members_invite_defaults_to_the_member_role(api: FakeManagementApi, home: Path) -> None:
    invitation = json_of(yavio(home, "members", "invite", "ana@example.com", "--json"))
    assert invitation["role"] == "member" and invitation["token"].startswith("yvi_")
    assert {"email", "expiresAt"} <= invitation.keys()


def test_members_invite_with_an_unknown_role_is_a_usage_error(api: FakeManagementApi,
                                                              home: Path) -> None:
    result = yavio(home, "members", "invite", "ana@example.com", "--role", "boss")
    assert result.exit_code == 2 and not api.requests


def test_members_invite_of_an_owner_prints_the_servers_message(home: Path) -> None:
    result = yavio(home, "members", "invite", "ana@example.com", "--role", "owner")
    assert result.exit_code == 1
    assert error_line(result) == "error: role must be admin, member or viewer."


def test_members_invite_needs_the_admin_role(tmp_path: Path, api: FakeManagementApi,
                                             owner: dict[str, Any]) -> None:
    member = home_of(tmp_path, api, owner, "member")
    result = yavio(member, "members", "invite", "ana@example.com")
    assert result.exit_code == 1
    assert error_line(result) == "error: This needs the admin role; yours is member."


def test_members_role_by_email(tmp_path: Path, api: FakeManagementApi, home: Path,
                               owner: dict[str, Any]) -> None:
    home_of(tmp_path, api, owner, "viewer")

    result = yavio(home, "members", "role", "VIEWER@example.com", "admin")
    changed = json_of(yavio(home, "members", "role", "viewer@example.com", "member", "--json"))

    assert result.exit_code == 0 and "viewer@example.com is now admin" in result.stdout
    assert changed["role"] == "member" and changed["email"] == "viewer@example.com"


def test_members_remove_by_user_id(tmp_path: Path, api: FakeManagementApi, home: Path,
                                   owner: dict[str, Any]) -> None:
    home_of(tmp_path, api, owner, "viewer")
    (viewer,) = [u for u in api.users.values() if u["email"] == "viewer@example.com"]

    removed = json_of(yavio(home, "members", "remove", viewer["id"], "--json"))

    assert removed["removed"]["email"] == "viewer@example.com"
    assert (owner["workspace"]["id"], viewer["id"]) not in api.roles


def test_members_remove_of_an_unknown_member_says_how_to_list_them(home: Path) -> None:
    result = yavio(home, "members", "remove", "nobody@example.com")
    assert result.exit_code == 1
    assert error_line(result) == ('error: No member "nobody@example.com"; see `yavio members '
                                  'list --workspace default`.')


def test_invitations_accept_joins_as_the_invited_email_and_prints_a_new_token(
        api: FakeManagementApi, home: Path, owner: dict[str, Any]) -> None:
    invitation = json_of(yavio(home, "members", "invite", "ana@example.com", "--json"))

    result = yavio(home, "invitations", "accept", invitation["token"], "--name", "Ana Lima")

    assert result.exit_code == 0, result.output
    assert api.requests[-1].authorization is None
    assert api.requests[-1].body == {"token": invitation["token"], "name": "Ana Lima"}
    assert "ana@example.com joined workspace default as member" in result.stdout
    assert any(line.startswith("yat_") for line in result.stdout.splitlines())
    assert "will not be shown again" in result.stdout


def test_invitations_accept_json(home: Path) -> None:
    invitation = json_of(yavio(home, "members", "invite", "ana@example.com", "--json"))
    accepted = json_of(yavio(home, "invitations", "accept", invitation["token"], "--json"))
    assert accepted["role"] == "member" and accepted["user"]["email"] == "ana@example.com"
    assert accepted["workspace"]["slug"] == "default"
    assert accepted["accessToken"].startswith("yat_")


def test_invitations_accept_of_an_unknown_token_prints_the_servers_message(home: Path) -> None:
    result = yavio(home, "invitations", "accept", "yvi_" + "0" * 64)
    assert result.exit_code == 1
    assert error_line(result) == "error: This invitation is unknown, already used or expired."


def test_invitations_accept_on_a_stopped_stack_says_how_to_start_it(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home", free_port(), None)
    result = yavio(home, "invitations", "accept", "yvi_abc")
    assert result.exit_code == 1 and error_line(result) == NOT_RUNNING
