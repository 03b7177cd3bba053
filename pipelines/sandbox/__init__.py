"""The sandbox: a local stand-in for Nmbrs (SOAP, REST, identity, report tasks) with generated data.

Folder rule: a model of Nmbrs that follows docs/nmbrs-api.md, for the demo and the tests. It may use
`lib/` (settings, the bundled WSDL files); production code in `lib/` and `defs/` never imports it.
Only the application layer (`app/demo.py`), the CLI (`payroll sandbox`), the benchmarks and the tests
start it.
"""
