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
        "pandas to_sql",
        "dlt (default",
        "dlt (loader_file_format",
    ):
        assert method in text
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


def test_scale_skips_the_rest_path_with_its_reason_while_rest_mode_is_refused(tmp_path):
    from benchmarks import scale
    from benchmarks.harness import BenchContext

    refusal = scale.rest_refusal()
    if refusal is None:
        pytest.skip("this checkout loads NMBRS_SOURCE_MODE=rest: the scale benchmark measures that path")
    ctx = BenchContext(quick=True, admin_url="unused", workdir=tmp_path, options={"source_modes": ["rest"]})

    section = scale.run(ctx)

    assert section.tables == [] and section.targets == []
    assert any(
        note.startswith("Not measured: the REST run-output path") and refusal in note
        for note in section.notes
    )
