"""The `payroll` CLI: one module per command, each exposing a click command named `command`.

Folder rule: argument parsing, progress and summaries only. A command calls the application layer
(`app/`: headless runs, the demo), the definitions (`defs/`) or the library (`lib/`); nothing else
imports a command.
"""
