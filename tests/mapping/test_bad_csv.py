"""Issue 7 item 9: every kind of broken mapping CSV gets an error naming the file, line and column."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pipelines.lib.mapping.files import MAPPING_FILE
from tests.support.mapping import run_payroll


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def _line_of(lines: list[str], prefix: str) -> int:
    """1-based line number of the first line starting with prefix (the test's anchor row)."""
    return next(number for number, line in enumerate(lines, start=1) if line.startswith(prefix))


def _edit_line(path: Path, prefix: str, edit: Callable[[str], str]) -> int:
    lines = _lines(path)
    number = _line_of(lines, prefix)
    lines[number - 1] = edit(lines[number - 1])
    path.write_text("".join(lines), encoding="utf-8")
    return number


def _check(mappings: Path, chart: Path):
    return run_payroll(
        "mapping", "check", "--source", "files", "--mappings-dir", str(mappings), "--erp-chart", str(chart)
    )


def test_project_mapping_passes_against_the_demo_chart(mappings_copy, erp_chart):
    result = _check(mappings_copy, erp_chart)
    assert result.exit_code == 0, result.output
    assert "The mapping is complete and consistent." in result.output
    assert f"{erp_chart}" in result.output  # says which chart it checked against
    assert "Synced data:     none" in result.output  # and that the data was not available


def _bom(path: Path) -> tuple[int, str, str]:
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    return 1, "column 1 (company_id)", "byte order mark"


def _semicolons(path: Path) -> tuple[int, str, str]:
    path.write_text(path.read_text(encoding="utf-8").replace(",", ";"), encoding="utf-8")
    return 1, "", "uses ';' as delimiter"


def _semicolons_in_one_row(path: Path) -> tuple[int, str, str]:
    line = _edit_line(path, ",1100,", lambda text: text.replace(",", ";"))
    return line, "", "';'-separated"


def _trailing_space(path: Path) -> tuple[int, str, str]:
    line = _edit_line(path, ",1100,", lambda text: text.replace(",4010,", ",4010 ,"))
    return line, "column 5 (gl_account)", "value '4010 ' has leading or trailing spaces"


def _duplicate_key(path: Path) -> tuple[int, str, str]:
    lines = _lines(path)
    first = _line_of(lines, ",1000,")
    text = "".join(lines)
    path.write_text(
        text + ("" if text.endswith("\n") else "\n") + lines[first - 1].rstrip("\n") + "\n", encoding="utf-8"
    )
    return len(lines) + 1, "column 2 (wage_component_code)", f"already on line {first}"


def _unknown_statement(path: Path) -> tuple[int, str, str]:
    line = _edit_line(path, ",1000,", lambda text: text.replace(",PL,", ",P&L,"))
    return line, "column 4 (statement)", "'P&L' is not a statement; use PL"


def _unknown_account(path: Path) -> tuple[int, str, str]:
    line = _edit_line(path, ",1000,", lambda text: text.replace(",4000,", ",4999,"))
    return line, "column 5 (gl_account)", "account 4999 is not in the ERP chart"


def _statement_contradicts_account(path: Path) -> tuple[int, str, str]:
    line = _edit_line(path, ",4000,", lambda text: text.replace(",BS,", ",PL,"))
    return line, "column 4 (statement)", "contradicts account 1500"


def _empty_account(path: Path) -> tuple[int, str, str]:
    line = _edit_line(path, ",1000,", lambda text: text.replace(",4000,", ",,"))
    return line, "column 5 (gl_account)", "gl_account is empty"


def _bad_hidden(path: Path) -> tuple[int, str, str]:
    line = _edit_line(path, ",1000,", lambda text: text.replace(",false,", ",nee,"))
    return line, "column 6 (hidden)", "'nee' is not true or false"


def _unknown_column(path: Path) -> tuple[int, str, str]:
    _edit_line(path, "company_id,", lambda text: text.replace("gl_account", "grootboek"))
    return 1, "column 5 (grootboek)", "unknown column 'grootboek'"


@pytest.mark.parametrize(
    "damage",
    [
        _bom,
        _semicolons,
        _semicolons_in_one_row,
        _trailing_space,
        _duplicate_key,
        _unknown_statement,
        _unknown_account,
        _statement_contradicts_account,
        _empty_account,
        _bad_hidden,
        _unknown_column,
    ],
    ids=lambda f: f.__name__.strip("_"),
)
def test_bad_mapping_csv_names_file_line_and_column(mappings_copy, erp_chart, damage):
    path = mappings_copy / MAPPING_FILE
    line, column, message = damage(path)
    before = path.read_bytes()
    result = _check(mappings_copy, erp_chart)
    assert result.exit_code == 1, result.output
    expected_location = f"{path}, line {line}" + (f", {column}" if column else "")
    matching = [text for text in result.output.splitlines() if expected_location in text and message in text]
    assert matching, f"no line with {expected_location!r} and {message!r} in:\n{result.output}"
    assert "problem(s): fix them" in result.output
    assert path.read_bytes() == before  # a check never rewrites the analyst's file


def test_entity_file_problems_are_reported_too(mappings_copy, erp_chart):
    path = mappings_copy / "company_entity_mapping.csv"
    path.write_text(path.read_text(encoding="utf-8") + "101,NL09\n", encoding="utf-8")
    result = _check(mappings_copy, erp_chart)
    assert result.exit_code == 1
    assert (
        f"{path}, line 5, column 1 (company_id): company 101 already has an entity on line 2" in result.output
    )
