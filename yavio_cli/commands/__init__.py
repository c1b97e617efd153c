"""The management commands, one module per group (`yavio keys …`, `yavio projects …`), each
exposing a Typer `app` that `yavio_cli.main` mounts under the group's name."""
