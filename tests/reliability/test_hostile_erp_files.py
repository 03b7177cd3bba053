"""Issue 16 item 6: clumsy and hostile ERP files are refused with one line that says where and how to
fix it, and the loaded ERP side stays as it was.

- Through `payroll sync` against the reference pipeline (its sandbox, its warehouse): a decimal comma
  and a header-only file. Exit 1, the summary line is the file's own message (no Dagster wrapper, no
  traceback on the terminal), and every raw table and mart is unchanged.
- Through the ERP assets in process, on a warehouse loaded with the sandbox's demo ERP files: each
  refusal of the amount grammar, the CSV format and the shrink guard (docs/erp-import.md), with the
  message the sync prints (the step's failure description) and the `erp` tables unchanged; then the
  confirmed shrink (PAYROLL_ERP_ALLOW_SHRINK) and an accepted file.
- Marked `scale`: 2,000,000 movements stream into PostgreSQL in a child process with peak RSS
  at most 300 MB (the import used to hold every row in Python: 1,185 MB).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest

from pipelines.lib import erp, settings
from pipelines.sandbox.erp import ensure_demo_erp_files
from tests.conftest import make_env, temporary_env
from tests.reliability.support import PAYROLL, content_hashes, differing, query, record_figure

pytestmark = pytest.mark.reliability

ERP_ONLY = ("erp",)
PEAK_RSS_LIMIT_MB = 300
MOVEMENTS_AT_SCALE = 2_000_000


def _lines(folder: Path, name: str = erp.MOVEMENTS_FILE) -> list[str]:
    return (folder / name).read_text(encoding="utf-8").splitlines()


def _write(folder: Path, lines: list[str], name: str = erp.MOVEMENTS_FILE, encoding: str = "utf-8") -> None:
    (folder / name).write_bytes(("\n".join(lines) + "\n").encode(encoding))


def _amount_on_line_3(amount: str) -> Callable[[Path], None]:
    def alter(folder: Path) -> None:
        lines = _lines(folder)
        lines[2] = lines[2].rsplit(",", 1)[0] + "," + amount
        _write(folder, lines)

    return alter


def _comma_decimal(folder: Path) -> None:
    lines = _lines(folder)
    lines[2] = lines[2][::-1].replace(".", ",", 1)[::-1]  # the amount's dot becomes a comma, unquoted
    _write(folder, lines)


def _semicolons(folder: Path) -> None:
    _write(folder, [line.replace(",", ";") for line in _lines(folder)])


def _without_month(folder: Path) -> None:
    _write(folder, [",".join(f for i, f in enumerate(line.split(",")) if i != 3) for line in _lines(folder)])


def _empty(folder: Path) -> None:
    (folder / erp.MOVEMENTS_FILE).write_bytes(b"")


def _windows_1252(folder: Path) -> None:
    lines = _lines(folder)
    lines[2] = "Café Zuid" + lines[2][lines[2].index(",") :]
    _write(folder, lines, encoding="cp1252")


def _header_only(name: str) -> Callable[[Path], None]:
    return lambda folder: _write(folder, _lines(folder, name)[:1], name)


def _a_tenth(folder: Path) -> None:
    lines = _lines(folder)
    _write(folder, lines[: 1 + (len(lines) - 1) // 10])


def _no_folder(folder: Path) -> None:
    shutil.rmtree(folder)


# id -> (how the demo files are spoiled, what the summary line must say)
REFUSALS: dict[str, tuple[Callable[[Path], None], tuple[str, ...]]] = {
    "decimal comma": (_comma_decimal, ("gl_movements.csv, line 3: 6 fields", "decimal comma", "Fix: write")),
    "quoted decimal comma": (
        _amount_on_line_3('"-12,50"'),
        (
            "gl_movements.csv, line 3, column 'amount': '-12,50' is not a number with a dot",
            "Fix: write -12.50",
        ),
    ),
    "euro sign": (
        _amount_on_line_3("€ 12.50"),
        ("gl_movements.csv, line 3, column 'amount': '€ 12.50' holds a currency sign", "Fix:"),
    ),
    "semicolons": (
        _semicolons,
        ("gl_movements.csv, line 1: the columns are separated by semicolons", "Fix:"),
    ),
    "missing column": (_without_month, ("gl_movements.csv, line 1: missing column(s) month", "Fix:")),
    "empty file": (_empty, ("gl_movements.csv, line 1: the file is empty", "Fix:")),
    "cp1252": (_windows_1252, ("gl_movements.csv, line 3: not UTF-8 (byte 0xe9", "Fix: save it as UTF-8")),
    "missing folder": (_no_folder, ("PAYROLL_ERP_DIR=", "is not a folder", "Fix:")),
    "three decimals": (
        _amount_on_line_3("-19.346"),
        ("line 3, column 'amount': '-19.346' has 3 decimals", "thousands separator", "-19346"),
    ),
    "exponent": (_amount_on_line_3("1e400"), ("line 3, column 'amount': '1e400' is in exponent notation",)),
    "17 integer digits": (
        _amount_on_line_3("12345678901234567.00"),
        ("line 3, column 'amount': '12345678901234567.00' is outside numeric(18,2)",),
    ),
    "fullwidth digits": (_amount_on_line_3("１２３"), ("line 3, column 'amount': '１２３' is not a number",)),
    "header-only movements": (
        _header_only(erp.MOVEMENTS_FILE),
        ("gl_movements.csv has a header but no rows", "erp.gl_movements keeps its", "--allow-erp-shrink"),
    ),
    "header-only chart": (
        _header_only(erp.CHART_FILE),
        ("chart_of_accounts.csv has a header but no rows", "PAYROLL_ERP_ALLOW_SHRINK=true"),
    ),
    "a tenth of the rows": (_a_tenth, ("more than it keeps", "erp.gl_movements keeps its")),
}


@pytest.fixture
def erp_warehouse(make_database, tmp_path):
    """A warehouse whose ERP side holds the sandbox's demo files; (env, demo folder)."""
    url = make_database("payroll_erp_hostile")
    folder = ensure_demo_erp_files(tmp_path / "demo-erp")
    env = make_env(url, tmp_path / "home", {"PAYROLL_ERP_DIR": str(folder), "PAYROLL_ERP_ALLOW_SHRINK": None})
    with temporary_env(env):
        settings.prepare_environment(start_embedded=False)
        assert _materialize_erp().success
    return env, folder


def _materialize_erp() -> dg.ExecuteInProcessResult:
    from pipelines.defs.erp.assets import chart_of_accounts, gl_movements

    return dg.materialize([chart_of_accounts, gl_movements], raise_on_error=False)


def _failure_lines(result: dg.ExecuteInProcessResult) -> list[str]:
    """What `payroll sync` prints for each failed ERP step: the failure's description."""
    return [
        event.step_failure_data.user_failure_data.description
        for event in result.all_events
        if event.is_step_failure and event.step_failure_data.user_failure_data is not None
    ]


@pytest.mark.parametrize("case", list(REFUSALS))
def test_each_bad_erp_file_is_refused_with_where_and_how_and_keeps_the_loaded_rows(
    erp_warehouse, tmp_path, case
):
    env, demo = erp_warehouse
    spoil, expected = REFUSALS[case]
    before = content_hashes(env["PAYROLL_DATABASE_URL"], ERP_ONLY)
    bad = tmp_path / "bad-erp"
    shutil.copytree(demo, bad)
    spoil(bad)
    with temporary_env({**env, "PAYROLL_ERP_DIR": str(bad)}):
        result = _materialize_erp()
    assert not result.success
    lines = _failure_lines(result)
    assert lines and all(part in lines[0] for part in expected), lines
    assert not any("Error occurred while executing" in line or "Traceback" in line for line in lines)
    assert differing(content_hashes(env["PAYROLL_DATABASE_URL"], ERP_ONLY), before) == []


def test_a_confirmed_shrink_loads_and_a_file_that_keeps_most_rows_needs_no_confirmation(
    erp_warehouse, tmp_path
):
    env, demo = erp_warehouse
    url = env["PAYROLL_DATABASE_URL"]
    (loaded,) = query(url, "select count(*) from erp.gl_movements")[0]
    smaller = tmp_path / "smaller"
    shutil.copytree(demo, smaller)
    lines = _lines(smaller)
    _write(smaller, lines[: 1 + (len(lines) - 1) * 2 // 3])  # removes a third: fewer than it keeps
    with temporary_env({**env, "PAYROLL_ERP_DIR": str(smaller)}):
        assert _materialize_erp().success
    assert query(url, "select count(*) from erp.gl_movements")[0][0] == (len(lines) - 1) * 2 // 3 < loaded

    _header_only(erp.MOVEMENTS_FILE)(smaller)
    with temporary_env({**env, "PAYROLL_ERP_DIR": str(smaller), "PAYROLL_ERP_ALLOW_SHRINK": "true"}):
        assert _materialize_erp().success
    assert query(url, "select count(*) from erp.gl_movements") == [(0,)]


def _sync(reference, erp_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**reference.pipeline.subprocess_env(), "PAYROLL_ERP_DIR": str(erp_dir)}
    return subprocess.run(
        [PAYROLL, "sync", *args], env=env, capture_output=True, text=True, timeout=900, check=False
    )


@pytest.mark.parametrize(
    ("case", "spoil", "summary"),
    [
        (
            "decimal comma",
            _comma_decimal,
            "gl_movements.csv, line 3: 6 fields where the header has 5: the amount",
        ),
        ("header only", _header_only(erp.MOVEMENTS_FILE), "gl_movements.csv has a header but no rows"),
    ],
)
def test_payroll_sync_prints_the_files_own_message_exits_1_and_changes_nothing(
    reference, tmp_path, case, spoil, summary
):
    bad = ensure_demo_erp_files(tmp_path / "erp")
    spoil(bad)
    started = time.monotonic()
    out = _sync(reference, bad)
    seconds = time.monotonic() - started
    assert out.returncode == 1, out.stderr[-3000:]
    failed = [line for line in out.stderr.splitlines() if line.startswith("FAILED ")]
    assert failed and failed[0].startswith(f"FAILED ERP files + dbt build: {summary}"), out.stderr[-3000:]
    assert "Fix:" in failed[0]
    for text in (out.stdout, out.stderr):
        assert "Error occurred while executing" not in text and "Traceback" not in text
    assert differing(reference.pipeline.hashes(), reference.hashes) == []
    record_figure(f"16_6_erp_{case.replace(' ', '_')}", exit_code=out.returncode, seconds=round(seconds, 1))


GENERATE = """
import sys
from decimal import Decimal
path, count = sys.argv[1], int(sys.argv[2])
cents = 0
with open(path, "w", encoding="utf-8") as out:
    out.write("entity,account,year,month,amount\\n")
    for i in range(count):
        value = (i * 7919) % 2_000_000 - 1_000_000
        cents += value
        sign = "-" if value < 0 else ""
        out.write(f"NL{i % 7:02d},{4000 + i % 97},{2020 + i % 6},{1 + i % 12},{sign}{abs(value) // 100}.{abs(value) % 100:02d}\\n")
print(Decimal(cents).scaleb(-2))
"""

# Peak RSS as the kernel's high-water mark of this process (VmHWM): ru_maxrss would carry over the
# forked parent's (pytest's) resident set.
MEASURE = """
import json, time
import dagster as dg
from benchmarks.harness import peak_rss_bytes
from pipelines.lib import settings
from pipelines.defs.erp.assets import gl_movements
settings.prepare_environment(start_embedded=False)
started = time.monotonic()
result = dg.materialize([gl_movements], raise_on_error=False)
print(json.dumps({
    "success": result.success,
    "seconds": round(time.monotonic() - started, 1),
    "peak_rss_mb": round(peak_rss_bytes() / 2**20, 1),
}))
"""


def _measure_import(env: dict[str, str | None], folder: Path) -> dict:
    child_env = dict(os.environ)
    for key, value in {**env, "PAYROLL_ERP_DIR": str(folder)}.items():
        if value is None:
            child_env.pop(key, None)
        else:
            child_env[key] = value
    out = subprocess.run(
        [sys.executable, "-c", MEASURE],
        env=child_env,
        cwd=settings.PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.scale
def test_two_million_movements_stream_in_bounded_memory(make_database, tmp_path):
    url = make_database("payroll_erp_scale")
    env = make_env(url, tmp_path / "home", {})
    small, big = tmp_path / "small", tmp_path / "big"
    demo_chart = ensure_demo_erp_files(tmp_path / "demo") / erp.CHART_FILE
    for folder, count in ((small, 1_000), (big, MOVEMENTS_AT_SCALE)):
        folder.mkdir()
        shutil.copy(demo_chart, folder / erp.CHART_FILE)
        generated = subprocess.run(
            [sys.executable, "-c", GENERATE, str(folder / erp.MOVEMENTS_FILE), str(count)],
            capture_output=True,
            text=True,
            check=True,
        )
        total = Decimal(generated.stdout.strip())
    baseline = _measure_import(env, small)
    at_scale = _measure_import(env, big)
    assert baseline["success"] and at_scale["success"]
    assert query(url, "select count(*), sum(amount) from erp.gl_movements") == [(MOVEMENTS_AT_SCALE, total)]
    assert at_scale["peak_rss_mb"] <= PEAK_RSS_LIMIT_MB, at_scale
    record_figure(
        "16_6_erp_2m_movements",
        movements=MOVEMENTS_AT_SCALE,
        file_mb=round((big / erp.MOVEMENTS_FILE).stat().st_size / 2**20, 1),
        peak_rss_mb=at_scale["peak_rss_mb"],
        peak_rss_mb_at_1000_rows=baseline["peak_rss_mb"],
        seconds=at_scale["seconds"],
    )
