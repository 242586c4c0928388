"""Sub-commands of the CLI: each module has `register(subparsers)` setting `run` as default."""

COMMAND_MODULES: tuple[str, ...] = (
    "drill",
    "local",
    "restore",
    "restore_from_s3",
    "replay",
    "item",
    "status",
    "tick",
    "cleanup",
    "preflight",
)
