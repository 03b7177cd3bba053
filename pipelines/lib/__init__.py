"""The library: plain Python with no dagster import.

Folder rule: clients (lib/nmbrs), parsers, the warehouse, mapping, exports and the settings live
here. Nothing in `lib/` imports dagster, `pipelines.defs`, `pipelines.commands`, `pipelines.app` or
`pipelines.sandbox`; the definitions (`defs/`), the application layer (`app/`) and the CLI
(`commands/`) build on it. tests/foundation/test_layout.py holds the rule.
"""
