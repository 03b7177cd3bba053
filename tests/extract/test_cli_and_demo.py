"""`payroll sync` on the command line, and the shared synced_demo (Nmbrs + ERP + dbt build)."""

from __future__ import annotations

import dagster as dg
from click.testing import CliRunner

from pipelines.cli import main


def test_synced_demo_runs_extraction_then_erp_and_dbt(synced_demo, demo_env):
    names = [step.name for step in synced_demo.steps]
    assert names[0] == "nmbrs reference data" and names[-1] == "ERP files + dbt build"
    assert len(synced_demo.partitions) == 6  # 3 companies x 2 years
    dbt_step = synced_demo.steps[-1]
    assert {load.asset for load in dbt_step.loads} >= {"erp/gl_movements", "erp/chart_of_accounts"}
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs(filters=dg.RunsFilter(run_ids=[s.run_id for s in synced_demo.steps]))
        assert {run.status for run in runs} == {dg.DagsterRunStatus.SUCCESS}  # visible in the UI's run list


def test_sync_runs_are_named_jobs_with_a_readable_name_and_who_started_them(synced_demo, demo_env):
    """Issue 14 item 5: the UI's run list shows what each run is, not `__ASSET_JOB` / "Manually launched"."""
    with dg.DagsterInstance.get() as instance:
        runs = {
            run.run_id: run
            for run in instance.get_runs(filters=dg.RunsFilter(run_ids=[s.run_id for s in synced_demo.steps]))
        }
    assert len(runs) == len(synced_demo.steps)
    jobs = {step.name: runs[step.run_id].job_name for step in synced_demo.steps}
    assert "__ASSET_JOB" not in jobs.values()
    assert jobs["nmbrs reference data"] == "nmbrs_reference_refresh"
    assert jobs["ERP files + dbt build"] == "payroll_reconciliation_rebuild"
    for step in synced_demo.steps:
        tags = runs[step.run_id].tags
        assert tags["payroll/started_by"] == "sync"
        assert tags["payroll/run"] == f"sync: {step.name}"
        assert tags["user"] == "payroll sync"  # the UI's "Launched by"
        if step.partition:
            company, year = step.partition.split("|")
            assert jobs[step.name] == "nmbrs_company_year_load"
            assert step.name == f"company {company}, year {year}"
            assert tags["dagster/partition/company"] == company and tags["dagster/partition/year"] == year


def test_cli_sync_prints_progress_and_summary(make_pipeline):
    pipeline = make_pipeline("soap")
    with pipeline.active():
        outcome = CliRunner().invoke(main, ["sync", "--no-dbt", "--company", "103"])
    assert outcome.exit_code == 0, outcome.output
    assert "company 103, year" in outcome.output and "company 101" not in outcome.output
    assert "rows per table:" in outcome.output and "sync finished" in outcome.output


def test_cli_sync_exits_non_zero_with_the_clear_error_and_no_traceback(make_pipeline):
    from pipelines.sandbox.contract import ALL_OPERATIONS

    pipeline = make_pipeline("soap")
    operation = "ReportService.Reports_Accountant_Company_CompanyWageComponentsPerPeriod_Background"
    token = pipeline.sandbox.state.add_token(ALL_OPERATIONS - {operation})
    pipeline.env["NMBRS_TOKEN"] = token
    with pipeline.active():
        outcome = CliRunner().invoke(main, ["sync", "--no-dbt", "--company", "103"])
        verbose = CliRunner().invoke(main, ["sync", "--no-dbt", "--company", "103", "--verbose"])
    assert outcome.exit_code == 1
    assert f"allow {operation} in Nmbrs under API user templates" in outcome.output
    assert "Traceback" not in outcome.output and "--verbose" in outcome.output
    assert verbose.exit_code == 1 and 'File "' in verbose.output  # the stack of the failed step
    assert token not in outcome.output + verbose.output


def test_cli_sync_unknown_company_is_a_configuration_error(make_pipeline):
    pipeline = make_pipeline("rest+soap")
    with pipeline.active():
        outcome = CliRunner().invoke(main, ["sync", "--no-dbt", "--company", "999"])
    assert outcome.exit_code == 2
    assert "--company 999" in outcome.output and "101, 102, 103" in outcome.output
