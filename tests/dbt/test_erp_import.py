"""The ERP CSV import: strict files, clear errors naming file, line and column, atomic loads."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import dagster as dg
import psycopg2
import pytest

from pipelines.app.demo import use_sandbox_erp_files
from pipelines.defs.erp.assets import chart_of_accounts, gl_movements
from pipelines.lib import erp, settings
from pipelines.lib.nmbrs.config import NmbrsSettings
from pipelines.lib.settings import temporary_env
from pipelines.sandbox.erp import ensure_demo_erp_files
from tests.support.definitions import resources
from tests.support.env import make_env

CHART = "account,name,statement\n4000,Salarissen,PL\n1500,Af te dragen loonheffing,BS\n"
MOVEMENTS = "entity,account,year,month,amount\nNL01,4000,2025,1,1234.56\nNL01,1500,2025,1,-1234.56\n"


def _write(folder: Path, chart: str = CHART, movements: str = MOVEMENTS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / erp.CHART_FILE).write_text(chart)
    (folder / erp.MOVEMENTS_FILE).write_text(movements)
    return folder


@pytest.mark.parametrize(
    ("file", "content", "message"),
    [
        (
            erp.CHART_FILE,
            "account,name,statement,owner\n4000,Salarissen,PL,x\n",
            "chart_of_accounts.csv, line 1, column 4 ('owner'): unknown column",
        ),
        (
            erp.CHART_FILE,
            "account,name\n4000,Salarissen\n",
            "chart_of_accounts.csv, line 1: missing column(s) statement",
        ),
        (
            erp.CHART_FILE,
            CHART + "4100,Sociale lasten,P&L\n",
            "chart_of_accounts.csv, line 4, column 'statement': statement 'P&L' is not PL or BS",
        ),
        (
            erp.CHART_FILE,
            CHART + "4000,Salarissen,PL\n",
            "chart_of_accounts.csv, line 4, column 'account': account '4000' is listed twice (first on line 2)",
        ),
        (
            erp.MOVEMENTS_FILE,
            MOVEMENTS + "NL01,4000,2025,1,12.3x\n",
            "gl_movements.csv, line 4, column 'amount': '12.3x' is not a number",
        ),
        (
            erp.MOVEMENTS_FILE,
            MOVEMENTS + "NL01,4000,2025,13,10.00\n",
            "gl_movements.csv, line 4, column 'month': month 13 is not a month number",
        ),
        (
            erp.MOVEMENTS_FILE,
            MOVEMENTS + "NL01,4000,2025,June,10.00\n",
            "gl_movements.csv, line 4, column 'month': 'June' is not a month number 1 to 12",
        ),
        (
            erp.MOVEMENTS_FILE,
            MOVEMENTS + "NL01,,2025,1,10.00\n",
            "gl_movements.csv, line 4, column 'account': empty value",
        ),
    ],
)
def test_bad_files_name_file_line_and_column(tmp_path, file, content, message):
    folder = _write(tmp_path)
    (folder / file).write_text(content)
    read = erp.read_chart_of_accounts if file == erp.CHART_FILE else erp.read_gl_movements
    with pytest.raises(erp.ErpFileError) as error:
        read(folder / file)
    assert message in str(error.value)
    assert "Fix:" in str(error.value)


def test_amounts_are_exact_decimals(tmp_path):
    folder = _write(tmp_path)
    movements = erp.read_gl_movements(folder / erp.MOVEMENTS_FILE)
    assert [m.amount for m in movements] == [Decimal("1234.56"), Decimal("-1234.56")]
    assert sum(m.amount for m in movements) == 0


def test_missing_folder_names_the_variable(tmp_path):
    with temporary_env({"PAYROLL_ERP_DIR": str(tmp_path / "nowhere")}):
        with pytest.raises(erp.ErpFileError, match="PAYROLL_ERP_DIR=.*is not a folder"):
            erp.erp_dir()


def test_the_sandbox_gets_its_demo_files_and_a_bad_file_keeps_the_loaded_rows(make_database, tmp_path):
    url = make_database("payroll_erp")
    env = make_env(url, tmp_path / "home", {})
    with temporary_env(env):
        settings.prepare_environment(start_embedded=False)
        demo = use_sandbox_erp_files(NmbrsSettings.from_env())  # demo mode: Nmbrs is the sandbox
        assert demo == ensure_demo_erp_files()
        assert erp.erp_dir() == demo
        assert dg.materialize([chart_of_accounts, gl_movements], resources=resources()).success
        expected = len(erp.read_gl_movements(demo / erp.MOVEMENTS_FILE))

        bad = _write(tmp_path / "bad", movements=MOVEMENTS + "NL01,4000,2025,1,abc\n")
        with temporary_env({"PAYROLL_ERP_DIR": str(bad)}):
            result = dg.materialize([gl_movements], resources=resources(), raise_on_error=False)
        assert not result.success
        failure = result.failure_data_for_node("erp__gl_movements")
        assert "gl_movements.csv, line 4, column 'amount'" in failure.error.cause.message

    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("select count(*), count(distinct _source) from erp.gl_movements")
            assert cur.fetchone() == (expected, 1)
            cur.execute("select statement, count(*) from erp.chart_of_accounts group by 1 order by 1")
            assert cur.fetchall() == [("BS", 5), ("PL", 6)]
    finally:
        conn.close()


def test_a_real_nmbrs_connection_never_reconciles_against_the_demo_erp(make_database, tmp_path):
    """Without PAYROLL_ERP_DIR, only the sandbox gets demo ERP files; real Nmbrs gets an empty ERP side and a warning."""
    url = make_database("payroll_erp_real")
    env = make_env(
        url,
        tmp_path / "home",
        {"NMBRS_USERNAME": "finance@example.nl", "NMBRS_TOKEN": "t", "NMBRS_DOMAIN": "example"},
    )
    with temporary_env(env):
        settings.prepare_environment(start_embedded=False)
        assert use_sandbox_erp_files(NmbrsSettings.from_env()) is None
        assert erp.erp_dir() is None
        result = dg.materialize([chart_of_accounts, gl_movements], resources=resources())
        assert result.success
        for materialization in result.asset_materializations_for_node("gl_movements") + (
            result.asset_materializations_for_node("chart_of_accounts")
        ):
            assert materialization.metadata["file"].value == "none (PAYROLL_ERP_DIR not set)"
        conn = psycopg2.connect(url)
        with conn, conn.cursor() as cur:
            cur.execute(
                "select (select count(*) from erp.chart_of_accounts), (select count(*) from erp.gl_movements)"
            )
            assert cur.fetchone() == (0, 0)
        conn.close()
