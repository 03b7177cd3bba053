"""The application layer: how the product runs, on top of the library and the definitions.

Folder rule:
- `pipelines/lib/`: plain Python, no dagster import; clients, parsers, warehouse, mapping, exports,
  settings. It imports nothing from `defs/`, `commands/`, `app/` or the sandbox.
- `pipelines/defs/`: the Dagster definitions, one folder per domain; it may use `lib/`.
- `pipelines/app/` (here): headless runs (`sync.run_sync`), the demo (`demo`), the pipeline's status
  (`status.collect`), and the Dagster instance the repository's dagster.yaml names (`instance`); it
  may use `defs/` and `lib/`.
- `pipelines/commands/`: the `payroll` CLI, one module per command, on top of all of the above.
- `pipelines/sandbox/`: the local stand-in for Nmbrs; only the application layer, the CLI and the
  tests start it.
"""
