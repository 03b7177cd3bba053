"""`make bench` must not rot: every benchmark runs on tiny sizes and writes its section of the results."""

from __future__ import annotations

from decimal import Decimal

import pytest

from benchmarks import peers, run
from benchmarks.report_xml import write_period_report
from pipelines.lib.settings import temporary_env


def test_generated_report_totals_are_exact_and_use_comma_decimals(tmp_path):
    report = write_period_report(tmp_path / "r.xml", 1_234)

    rows = list(peers.lxml_iterparse_lines(report.path))

    assert len(rows) == report.lines == 1_234
    assert sum(row[6] for row in rows) == report.total
    assert all(isinstance(row[6], Decimal) for row in rows)
    text = report.path.read_text(encoding="utf-8")
    assert "<ComponentValue>" in text and any(f",{d}" in text for d in "0123456789")


@pytest.fixture
def bench_server(pg_server):
    with temporary_env({"PAYROLL_BENCH_DATABASE_URL": pg_server, "RUNTIME__DLTHUB_TELEMETRY": "false"}):
        yield pg_server


def test_quick_load_and_parse_write_exact_results(bench_server, tmp_path):
    output = tmp_path / "RESULTS.md"

    code = run.main(["--quick", "--only", "load", "--only", "parse", "--output", str(output)])

    assert code == 0
    text = output.read_text(encoding="utf-8")
    assert "FAILED" not in text
    assert "Machine of the latest run" in text and "PostgreSQL 1" in text
    for method in (
        "bare COPY",
        "ours: iter_report_lines + replace_partition",
        "ours, REST: parse_run_output + per-period sum + replace_partition",
        "pandas to_sql",
        "dlt (default",
        "dlt (loader_file_format",
    ):
        assert method in text
    assert "REST run-output path end to end (documents → committed rows) ÷ bare COPY | ≥ 0.35×" in text
    assert "load alone ÷ bare COPY" in text and "peak RSS at 20,000 lines" in text


def test_only_keeps_the_other_sections_of_the_results_file(bench_server, tmp_path):
    output = tmp_path / "RESULTS.md"
    output.write_text(
        run.render({"load": "## 1. Load throughput\n\nearlier figures"}, "an earlier machine", "yesterday")
    )

    assert run.main(["--quick", "--only", "parse", "--output", str(output)]) == 0

    text = output.read_text(encoding="utf-8")
    assert "earlier figures" in text
    assert text.index("1. Load throughput") < text.index("2. Report parsing")


def test_a_failing_benchmark_is_reported_and_fails_the_run(bench_server, tmp_path, monkeypatch):
    from benchmarks import report_parsing

    def broken(ctx):
        raise RuntimeError("ours read 9 lines totalling 1.00 from a report of 10 lines")

    monkeypatch.setattr(report_parsing, "run", broken)
    output = tmp_path / "RESULTS.md"

    assert run.main(["--quick", "--only", "parse", "--output", str(output)]) == 1
    assert "parse: FAILED" in output.read_text(encoding="utf-8")
    assert "ours read 9 lines" in output.read_text(encoding="utf-8")


@pytest.mark.scale
@pytest.mark.timeout(1800)
def test_quick_orchestration_benchmark_runs_against_the_sandbox(bench_server, tmp_path):
    """The pipeline-driving benchmarks share one harness (sandbox, `payroll sync`, bare extraction, dbt);
    orchestration exercises all of it in one pass. Incremental and scale run in `make bench`."""
    output = tmp_path / "RESULTS.md"

    code = run.main(["--quick", "--only", "orchestration", "--output", str(output)])

    text = output.read_text(encoding="utf-8")
    assert code == 0, text
    assert "FAILED" not in text
    assert "Both warehouses ended with identical row counts and totals" in text


def test_scale_sizes_measure_the_cost_per_extra_company_year_at_the_size_asked_and_at_20():
    from benchmarks import scale

    assert scale.sizes_for(200, 100) == {
        "asked": (200, 100),
        "reference": (20, 100),
        "base": (2, 100),
        "few employees": (2, 10),
    }
    assert scale.sizes_for(50, 100)["reference"] == (20, 100)
    assert scale.sizes_for(4, 3) == {
        "asked": (4, 3),
        "reference": (2, 3),
        "base": (1, 3),
        "few employees": (1, 1),
    }

    class Sync:
        def __init__(self, seconds):
            self.seconds = seconds

    small = {"sync": Sync(40.0), "company_years": 4}
    big = {"sync": Sync(180.0), "company_years": 40}
    assert scale.per_extra_company_year(small, big) == pytest.approx(140.0 / 36)


def test_scale_compares_the_rest_and_soap_paths_per_company_year_at_each_size():
    from benchmarks import scale

    class Sync:
        def __init__(self, seconds):
            self.seconds = seconds

    def result(companies, calls_rest, calls_soap, seconds):
        return {
            "companies": companies,
            "employees": 100,
            "years": 2,
            "company_years": companies * 2,
            "rest": calls_rest,
            "soap": calls_soap,
            "sync": Sync(seconds),
        }

    rest = {"asked": result(20, 1940, 0, 80.0), "base": result(2, 194, 0, 20.0)}
    soap = {"asked": result(20, 0, 800, 40.0), "base": result(2, 0, 80, 16.0)}

    table = scale.compare_paths(rest, soap)

    assert table.rows == [
        ("20 × 100 × 2 (asked)", "48.5", "20.0", "2.42×", "2.00 s", "1.00 s", "2.00×"),
        ("2 × 100 × 2 (base)", "48.5", "20.0", "2.42×", "5.00 s", "4.00 s", "1.25×"),
    ]


def test_the_rest_run_outputs_hold_the_soap_reports_lines_and_sum_back_to_them(tmp_path):
    """The load benchmark's two paths load the same lines: the run outputs, parsed and summed per
    period the product's way, give the SOAP report's rows, count and total to the cent."""
    from benchmarks import load_throughput
    from benchmarks.report_xml import write_run_outputs

    soap = write_period_report(tmp_path / "r.xml", 1_234)
    rest = write_run_outputs(tmp_path / "runs", 1_234)

    rows = load_throughput._rest_rows(rest)

    assert (rest.lines, rest.total, len(rest.runs)) == (soap.lines, soap.total, 12)
    assert len(rows) == 1_234 and sum(row[6] for row in rows) == soap.total
    soap_rows = list(peers.lxml_iterparse_lines(soap.path))
    assert {(r[2], r[3], r[4]): r[6] for r in rows} == {(r[2], r[3], r[4]): r[6] for r in soap_rows}
    assert {r[7] for r in rows} == {"run_output"}
