"""`yavio compose init`: the secrets of the production deployment (`compose/`), generated into a
0600 `.env` that `docker compose --env-file` reads. The secrets are never printed."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from yavio_cli.home import write_private
from yavio_cli.terminal import JsonOption, fail, print_json, say

app = typer.Typer(help="The production deployment with Docker Compose (`compose/`).",
                  no_args_is_help=True)

# Every secret docker-compose.yml and its cluster overlay require, with its size in random
# bytes. Hex, because the values are spliced into URLs (`http://user:password@host`) and compose
# interpolation, where hex needs no escaping. 32 bytes for the keys the server signs with, 24 for
# passwords.
SECRET_BYTES = {
    "YAVIO_HMAC_SECRET": 32,  # API keys and access tokens are stored as HMACs under it
    "YAVIO_JWT_SECRET": 32,  # signs widget tokens (HS256 wants at least 32 bytes)
    "POSTGRES_SUPERUSER_PASSWORD": 24,
    "POSTGRES_YAVIO_PASSWORD": 24,  # the application role, not a superuser
    "CLICKHOUSE_ADMIN_PASSWORD": 24,  # migrations
    "CLICKHOUSE_INGEST_PASSWORD": 24,  # the replicas
    "CLICKHOUSE_READER_PASSWORD": 24,  # read-only access to the tenant tables
    "CLICKHOUSE_CLUSTER_SECRET": 24,  # replicas authenticating to each other (cluster variant)
}

ENV_FILE_NAME = ".env"


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(
        metavar="DIR", help="The folder of docker-compose.yml, where `.env` is written.")] = Path("compose"),
    force: Annotated[bool, typer.Option(
        "--force", help="Replace an existing .env with new secrets (an existing Postgres "
                        "volume keeps its old passwords; API keys stop working).")] = False,
    as_json: JsonOption = False,
) -> None:
    """Generate every secret of the compose deployment into DIR/.env (mode 0600).

    Refuses to replace an existing file unless `--force`. Prints where it wrote and what to run
    next, never a secret.

    Examples: `yavio compose init` (writes compose/.env), `yavio compose init ./compose --json`
    """
    if not directory.is_dir():
        raise fail(f"{directory} is not a folder: pass the compose/ folder of a Yavio checkout")
    path = (directory / ENV_FILE_NAME).absolute()
    if path.exists() and not force:
        raise fail(f"{path} exists; keep it, or pass --force to replace every secret in it")
    try:
        write_private(path, _env_text(), replace=force)
    except FileExistsError:
        raise fail(f"{path} appeared while writing; run again with --force to replace it") from None
    except OSError as error:
        raise fail(f"cannot write {path}: {error.strerror}") from None

    if as_json:
        print_json({"path": str(path), "variables": list(SECRET_BYTES)})
        return
    compose_file = directory / "docker-compose.yml"
    say(f"Wrote {len(SECRET_BYTES)} secrets to {path} (mode 0600). Back it up with the volumes.")
    say("Next:")
    say(f"  docker compose -f {compose_file} --env-file {directory / ENV_FILE_NAME} up -d")


def _env_text() -> str:
    written = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"# Written by `yavio compose init` on {written}. Secrets: keep this file 0600.",
             "# Losing YAVIO_HMAC_SECRET invalidates every API key and access token."]
    lines += [f"{name}={secrets.token_hex(size)}" for name, size in SECRET_BYTES.items()]
    return "\n".join(lines) + "\n"

