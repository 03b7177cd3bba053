"""A REST-only sync of the demo sandbox is complete, and every mart equals a SOAP-only sync of the
same sandbox, row for row, to the cent (docs/nmbrs-api.md, "Keys").

The REST side is the session's synced demo (the default mode, `rest`: extraction, ERP import and
`dbt build`); the SOAP side is one more full sync of the same sandbox into its own warehouse with
NMBRS_SOURCE_MODE=soap. Compared are all models in dbt_project/models/marts, every column except
- load metadata: `*loaded_at`, run ids, the API that delivered a row (`*_source`);
- the API-id columns (`soap_*_id`, `rest_*_id`);
- SOAP_ONLY: what only the SOAP API carries (REST has no KvK number and no display name), which is
  null after a REST-only sync. Asserted below: null in rest, filled in soap;
- REST_ONLY: what only REST carries: the run type (SOAP's RunInfo has none) and everything drawn from
  Nmbrs's journals (REST documents; SOAP has no journals). Asserted below: filled in rest, not in soap.
The cost-centre and department marts split costs by the REST department and cost-centre histories
(SOAP has none: all `unassigned`), so they are compared summed over that split (DIMENSIONED).
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from pipelines.lib import settings
from tests.support.env import make_env
from tests.support.pipeline import Pipeline

MARTS = sorted(p.stem for p in (settings.DBT_PROJECT_DIR / "models" / "marts").rglob("*.sql"))
IGNORED = re.compile(r"(^|_)loaded_at$|(^|_)run_id$|(^|_)source$|^(soap|rest)_\w+_id$")
SOAP_ONLY = {"dim_companies": {"kvk_number"}, "dim_employees": {"display_name"}}
REST_ONLY = {
    "fct_payslip_lines": {"run_type"},
    # The journal leg and what is judged against it (the reference is the journal when it is loaded).
    "payroll_three_way_reconciliation": {
        "journal_amount",
        "mapping_difference",
        "journal_loaded",
        "erp_difference",
        "difference",
        "status",
    },
    "payroll_reconciliation_explained": {"nmbrs_gl_accounts", "journal_amount", "difference"},
}
# Rows that only the journal leg brings: an account Nmbrs books on and the mapping does not, and the
# explanation of a mapping that differs from Nmbrs's own booking (the demo world has one, ledger.py).
JOURNAL_ROWS = {
    "payroll_three_way_reconciliation": "payroll_amount = 0 and coalesce(erp_amount, 0) = 0",
    "payroll_reconciliation_explained": "status = 'mapping_differs_from_nmbrs'",
}
DIMENSIONED = {
    "payroll_costs_by_cost_centre_monthly": "cost_centre",
    "payroll_costs_by_department_monthly": "department",
}


@pytest.fixture(scope="module")
def soap_sync(make_database, sandbox, synced_demo, tmp_path_factory) -> Pipeline:
    url = make_database("payroll_soap_only")
    home = tmp_path_factory.mktemp("payroll-soap-only")
    pipeline = Pipeline(
        sandbox, make_env(url, home, {**sandbox.env_vars(), "NMBRS_SOURCE_MODE": "soap"}), url
    )
    result = pipeline.sync()
    assert result.success, [f"{s.name}: {s.error}" for s in result.failures]
    assert result.source_mode == "soap"
    return pipeline


def _columns(url: str, mart: str) -> list[str]:
    rows = Pipeline.query(Pipeline(None, {}, url), _COLUMNS_SQL, (mart,))
    return [name for (name,) in rows]


_COLUMNS_SQL = (
    "select column_name from information_schema.columns where table_schema = 'marts' and table_name = %s "
    "order by ordinal_position"
)


def _rows(url: str, mart: str, columns: list[str]) -> Counter:
    if mart in DIMENSIONED:
        keys = [c for c in columns if c not in {DIMENSIONED[mart], "amount"}]
        select = ", ".join(f'"{c}"::text' for c in keys)
        statement = f"select {select}, sum(amount)::text from marts.{mart} group by {select}"  # noqa: S608
        return Counter(Pipeline(None, {}, url).query(statement))
    select = ", ".join(f'"{c}"::text' for c in columns)
    where = f" where not ({JOURNAL_ROWS[mart]})" if mart in JOURNAL_ROWS else ""
    return Counter(Pipeline(None, {}, url).query(f"select {select} from marts.{mart}{where}"))  # noqa: S608


def test_rest_only_sync_is_complete_for_every_company_year(synced_demo, demo_warehouse_url, sandbox):
    assert synced_demo.source_mode == "rest"
    demo = Pipeline(sandbox, {}, demo_warehouse_url)
    coverage = demo.query(
        "select source_mode, wage_component_source, coverage, count(*) from nmbrs.source_coverage group by 1, 2, 3"
    )
    assert coverage == [("rest", "run_output", "complete", len(synced_demo.partitions))]
    assert demo.query("select count(*) from nmbrs.wage_components where source <> 'run_output'") == [(0,)]
    assert demo.query("select count(*) from nmbrs.payslips")[0][0] > 0


def test_every_mart_equals_a_soap_only_sync_to_the_cent(synced_demo, demo_warehouse_url, soap_sync):
    assert (
        len(MARTS) >= 14
        and "payroll_gl_reconciliation" in MARTS
        and "payroll_three_way_reconciliation" in MARTS
    )
    differing = {}
    for mart in MARTS:
        rest_columns = _columns(demo_warehouse_url, mart)
        assert rest_columns == _columns(soap_sync.database_url, mart), mart
        skipped = SOAP_ONLY.get(mart, set()) | REST_ONLY.get(mart, set())
        compared = [c for c in rest_columns if not IGNORED.search(c) and c not in skipped]
        rest_rows = _rows(demo_warehouse_url, mart, compared)
        soap_rows = _rows(soap_sync.database_url, mart, compared)
        assert sum(soap_rows.values()) > 0 or mart == "unmapped_wage_components", mart
        if rest_rows != soap_rows:
            differing[mart] = (
                sorted((rest_rows - soap_rows).elements())[:5],
                sorted((soap_rows - rest_rows).elements())[:5],
            )
    assert differing == {}


def test_the_soap_only_columns_are_null_after_a_rest_only_sync(demo_warehouse_url, soap_sync):
    for mart, columns in SOAP_ONLY.items():
        for column in columns:
            count = f"select count(*), count({column}) from marts.{mart}"  # noqa: S608 - fixed names
            total, filled = Pipeline(None, {}, demo_warehouse_url).query(count)[0]
            assert total > 0 and filled == 0, (mart, column)
            total, filled = soap_sync.query(count)[0]
            assert total > 0 and filled == total, (mart, column)


def test_the_rest_only_columns_are_filled_by_rest_alone(demo_warehouse_url, soap_sync):
    rest = Pipeline(None, {}, demo_warehouse_url)
    runs = "select count(*), count(run_type) from marts.fct_payslip_lines"
    assert rest.query(runs)[0][0] == rest.query(runs)[0][1] > 0
    assert soap_sync.query(runs)[0][0] > 0 and soap_sync.query(runs)[0][1] == 0
    journal = (
        "select bool_and(journal_loaded), bool_or(journal_loaded) from marts.payroll_three_way_reconciliation"
    )
    assert rest.query(journal) == [(True, True)]
    assert soap_sync.query(journal) == [(False, False)]
    # The demo world's deliberate booking difference (ledger.py) is only visible with the journals.
    for mart, rows in JOURNAL_ROWS.items():
        found = f"select count(*) from marts.{mart} where {rows}"  # noqa: S608 - fixed names
        assert rest.query(found)[0][0] > 0, mart
        assert soap_sync.query(found)[0][0] == 0, mart
    for mart, dimension in DIMENSIONED.items():
        split = f"select count(*), count({dimension}) from marts.{mart}"  # noqa: S608 - fixed names
        assert rest.query(split)[0][1] > 0, mart
        assert soap_sync.query(split)[0][1] == 0, mart
