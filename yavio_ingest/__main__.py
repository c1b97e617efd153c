"""`python -m yavio_ingest [serve|migrate|bootstrap]`: the server process and its one-shot tasks.

All configuration comes from `YAVIO_*` variables and the secrets file (see settings.py).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import sys

from pydantic import ValidationError

from yavio_ingest.settings import Settings, SettingsError, without_password

log = logging.getLogger("yavio.ingest")

STORE_WAIT_S = 15


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m yavio_ingest",
                                     description="The Yavio ingestion and API server.")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="migrate both stores and serve HTTP (the default)")
    commands.add_parser("migrate", help="apply pending migrations to both stores and exit")
    bootstrap = commands.add_parser(
        "bootstrap", help="ensure an owner, workspace and default project; print a new token")
    bootstrap.add_argument("--email", default="owner@localhost")
    bootstrap.add_argument("--name", default="Owner")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env()
    except (SettingsError, ValidationError, ValueError) as error:
        print(f"yavio-ingest: invalid configuration: {error}", file=sys.stderr)
        return 2

    if args.command == "bootstrap":
        return _bootstrap(settings, args.email, args.name)
    return _serve(settings, migrate_only=args.command == "migrate")


def _bootstrap(settings: Settings, email: str, name: str) -> int:
    from yavio_ingest.bootstrap import bootstrap_owner
    from yavio_ingest.store.postgres import PostgresStore

    store = PostgresStore(settings.database_url, settings.hmac_secret, max_size=1)
    try:
        store.migrate()
        # The token goes to stdout, a pipe read by `yavio up`; it is never logged.
        print(json.dumps(bootstrap_owner(store, email, name)))
    finally:
        store.close()
    return 0


def _serve(settings: Settings, *, migrate_only: bool) -> int:
    import uvloop
    from aiohttp import web
    from psycopg_pool import PoolTimeout

    from yavio_ingest.app import create_app
    from yavio_ingest.store.clickhouse import ClickHouseStore
    from yavio_ingest.store.postgres import PostgresStore

    postgres = PostgresStore(settings.database_url, settings.hmac_secret)
    clickhouse = None
    try:
        try:
            postgres.pool.wait(timeout=STORE_WAIT_S)
        except PoolTimeout:
            log.error("Postgres at %s did not accept connections within %d s; check "
                      "YAVIO_DATABASE_URL or `yavio logs postgres`",
                      without_password(settings.database_url), STORE_WAIT_S)
            return 1
        try:
            clickhouse = ClickHouseStore(settings.clickhouse_url,
                                         retention_days=settings.retention_days,
                                         cluster=settings.clickhouse_cluster)
        except Exception as error:  # the driver raises several types for one cause
            log.error("ClickHouse at %s is unreachable (%s); check YAVIO_CLICKHOUSE_URL",
                      without_password(settings.clickhouse_url), _root_cause(error))
            return 1
        for store_name, store in (("postgres", postgres), ("clickhouse", clickhouse)):
            applied = store.migrate()
            log.info("%s migrations: %s", store_name, ", ".join(applied) or "up to date")
        if migrate_only:
            return 0
        app = create_app(settings, postgres, clickhouse)
        # Start-up objects live for the whole process: keep them out of every GC pass.
        gc.freeze()
        # uvloop roughly halves the event loop's cost per request (libuv instead of selectors).
        web.run_app(app, host=settings.host, port=settings.port, print=None,
                    access_log=None, handle_signals=True, loop=uvloop.new_event_loop())
    finally:
        postgres.close()
        if clickhouse is not None:
            clickhouse.close()
    return 0


def _root_cause(error: BaseException) -> str:
    while error.__cause__ is not None:
        error = error.__cause__
    return str(error) or type(error).__name__


if __name__ == "__main__":
    sys.exit(main())
