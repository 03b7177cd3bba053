"""`payroll mapping suggest --from-journals` proposes Nmbrs's own ledger set-up with its evidence and
never touches an analyst's row; `payroll mapping check` warns where the CSV disagrees with Nmbrs."""

from __future__ import annotations

import csv
import io

from click.testing import CliRunner

from pipelines.cli import main
from pipelines.lib.mapping import files
from pipelines.sandbox import erp, ledger

HEADER = "company_id,wage_component_code,description,statement,gl_account,hidden,sign"
# A fresh environment: one analyst row (with its own wording and CRLF line ends) and the totals hidden.
ANALYST = f"{HEADER}\r\n,1000,Salaris (analyst),PL,4000,false,1\r\n,9900,Totaal bruto,,,true,\r\n,9910,Totaal werkgeverslasten,,,true,\r\n"


def _invoke(*args: str):
    return CliRunner().invoke(main, ["mapping", *args], catch_exceptions=False)


def test_suggest_from_journals_proposes_the_sandbox_ledger_with_evidence(demo_warehouse_url, tmp_path):
    (tmp_path / files.MAPPING_FILE).write_bytes(ANALYST.encode())
    (tmp_path / files.ENTITY_FILE).write_text("company_id,erp_entity\n101,NL01\n102,NL02\n103,NL03\n")
    result = _invoke("suggest", "--from-journals", "--mappings-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    content = (tmp_path / files.MAPPING_FILE).read_bytes()
    assert content.startswith(ANALYST.encode())  # the analyst's rows, byte for byte
    rows = list(csv.DictReader(io.StringIO(content.decode(), newline="")))[3:]
    proposed: dict[tuple[int | None, str], set[tuple[str, int]]] = {}
    for row in rows:
        key = (int(row["company_id"]) if row["company_id"] else None, row["wage_component_code"])
        proposed.setdefault(key, set()).add((row["gl_account"], int(row["sign"])))
        assert row["hidden"] == "false" and row["statement"] in ("PL", "BS")
    assert not any(code == "1000" for _, code in proposed)  # the analyst mapped it already
    # Nmbrs's ledger set-up in the sandbox: the default mapping, with its company override of 1100.
    for (company, code), accounts in proposed.items():
        assert accounts == set(erp.mapping_for(company or 101, code)), (company, code)
    assert {c for c, code in proposed if code == "1100"} == {101, 102, 103}  # per company: Nmbrs differs
    assert (None, "5000") in proposed and len(proposed[(None, "5000")]) == 2  # one row per statement
    # 4200 of company 101 is booked on 1510 in one run: proposed on 1500, marked ambiguous.
    diff = ledger.NMBRS_DIFFERENCE
    [ambiguous] = [r for r in rows if "ambiguous" in r["description"]]
    assert (ambiguous["company_id"], ambiguous["wage_component_code"], ambiguous["gl_account"]) == (
        str(diff.company_id),
        diff.code,
        diff.mapping_account,
    )
    assert f"also {diff.nmbrs_account} in 1 run(s)" in ambiguous["description"]
    assert "AMBIGUOUS -> BS 1500 credit" in result.output
    assert "journal line 'Salaris'" not in result.output
    assert "journal line 'Nettoloon' on 1600 (credit) in " in result.output
    assert "amounts equal in" in result.output

    again = _invoke("suggest", "--from-journals", "--mappings-dir", str(tmp_path))
    assert again.exit_code == 0 and "nothing appended" in again.output
    assert (tmp_path / files.MAPPING_FILE).read_bytes() == content


def test_check_warns_where_the_csv_disagrees_with_nmbrs(demo_warehouse_url, mappings_copy):
    result = _invoke("check", "--mappings-dir", str(mappings_copy))
    diff = ledger.NMBRS_DIFFERENCE
    assert "WARN  Where the CSV disagrees with Nmbrs's journals (1)" in result.output
    [line] = [
        line for line in result.output.splitlines() if line.startswith(f"    company {diff.company_id}, code")
    ]
    assert f"code {diff.code} " in line and f"the CSV posts on {diff.mapping_account} (credit)" in line
    assert f"on {diff.nmbrs_account} (credit) in 1 run(s)" in line
    assert result.exit_code == 0  # a warning, not a failure: the mapping itself is complete
