"""Scenario 14: the sandbox's scale scenario through a small `nmbrs_api` pool, with throttling.

20 companies × 20 employees × 1 year, PAYROLL_NMBRS_POOL_SIZE=2, and the sandbox answering 429
(Retry-After 1 s) to every tenth SOAP and REST request. Four processes run at once (as the
instance's max_concurrent_runs of 4 would), each loading company-year partitions as Dagster runs; the pool must hold the
Nmbrs API steps to two at a time, which the sandbox measures as the peak of concurrent requests.
No run may fail from the throttling, and the raw tables must equal the sandbox's truth.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest

from tests.support.pipeline import load_partitions_in_parallel, new_pipeline, record_figure, step_errors
from tests.support.sandboxes import sandboxes

pytestmark = [pytest.mark.reliability, pytest.mark.scale]

COMPANIES = 20
POOL_SIZE = 2
WORKERS = 4


def test_scale_scenario_keeps_to_the_pool_and_survives_throttling(make_database, tmp_path_factory):
    from pipelines.defs.nmbrs.partitions import company_year_key

    year = dt.date.today().year
    with sandboxes() as start:
        sandbox = start("scale", 7, companies=COMPANIES, employees_per_company=20, years=1, throttle=0.1)
        pipeline = new_pipeline(
            make_database,
            tmp_path_factory.mktemp("load-home"),
            sandbox,
            PAYROLL_NMBRS_POOL_SIZE=str(POOL_SIZE),
        )
        reference = pipeline.sync(since=year, companies=[], include_dbt=False)  # registers the companies
        assert reference.success, step_errors(reference)
        company_ids = [company.number for company in sandbox.state.world.companies()]  # the keys
        assert len(company_ids) == COMPANIES
        keys = [str(company_year_key(company_id, year)) for company_id in company_ids]
        sandbox.state.counters.reset()

        started = time.monotonic()
        outcomes = load_partitions_in_parallel(pipeline, [{"keys": keys[i::WORKERS]} for i in range(WORKERS)])
        seconds = time.monotonic() - started
        assert sorted(outcome["key"] for outcome in outcomes) == sorted(keys)
        failed = [outcome["key"] for outcome in outcomes if not outcome["success"]]
        assert failed == [], f"{len(failed)} run(s) failed under throttling"

        counters = sandbox.state.counters.snapshot()
        requests = sum(n for name, n in counters["calls"].items() if name.startswith(("soap:", "rest:")))
        throttled = requests // 10  # every tenth request (deterministic), to within one
        assert counters["max_in_flight"] <= POOL_SIZE, f"{counters['max_in_flight']} requests at once"

        truth = sandbox.state.truth
        for table in ("wage_components", "payslips", "payroll_runs"):
            loaded = pipeline.query(f"select count(*) from nmbrs.{table} where year = %s", (year,))[0][0]  # noqa: S608
            assert loaded == truth.rows(table, year=year), table
        rows, total = pipeline.query("select count(*), sum(value) from nmbrs.wage_components")[0]
        assert total == truth.total("wage_components", year=year), "wage components differ from the truth"
    record_figure(
        "14_load",
        partitions=len(keys),
        concurrent_runs=WORKERS,
        pool_size=POOL_SIZE,
        max_in_flight_requests=counters["max_in_flight"],
        requests=requests,
        answered_429=throttled,
        failed_runs=0,
        wage_component_rows=rows,
        seconds=round(seconds, 1),
    )
