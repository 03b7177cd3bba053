"""What the tests share besides fixtures: one home per helper.

Conftest modules only declare fixtures and hooks; no test imports from a conftest. Helpers live here:
- `env`: the environment of one isolated pipeline instance, the artifacts folder;
- `sandboxes`: the one factory that starts private sandboxes and stops them;
- `pipeline`: an isolated pipeline (sandbox, warehouse, Dagster home), content hashes, figures;
- `extract`, `automation`, `dbt`, `nmbrs`, `soap`, `security`, `ui`, `webhook`: the helpers of one
  suite each; `definitions`: the code location's resources for in-process materializations;
- `run_partitions`: the child process that loads partitions for the concurrency tests.
"""
