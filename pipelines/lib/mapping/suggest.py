"""`payroll mapping suggest`: append the missing wage components, leaving every existing byte alone.

With `--from-journals`, each appended row carries the statement, GL account and sign that Nmbrs's own
journals book the component on (pipelines/lib/mapping/journals.py), with the evidence; an ambiguous
one says so in its description."""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import shutil
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipelines.lib.erp import Account
from pipelines.lib.mapping.checks import unmapped_components
from pipelines.lib.mapping.csvfile import BOM, FORMAT, CsvTable, MappingFileError, read_csv_table
from pipelines.lib.mapping.files import MAPPING_COLUMNS, MAPPING_FILE, MappingRow, parse_mapping
from pipelines.lib.mapping.journals import Booking, propose
from pipelines.lib.mapping.sources import SeenComponent


@dataclass(frozen=True)
class Suggestion:
    company_id: int | None
    code: str
    description: str
    statement: str = ""
    gl_account: str = ""
    sign: int | None = None
    evidence: str = ""
    ambiguous: bool = False


def from_journals(
    new: Sequence[Suggestion], bookings: Sequence[Booking], chart: dict[str, Account] | None
) -> list[Suggestion]:
    """Each missing component as Nmbrs's journals book it (one row per statement), with the evidence;
    a component no journal line matches stays a row to fill in, saying so."""
    result = []
    for suggestion in _per_company_where_nmbrs_differs(new, bookings):
        found = [
            b for b in bookings if b.code == suggestion.code and suggestion.company_id in (None, b.company_id)
        ]
        proposals = propose(found, chart)
        if not proposals:
            result.append(
                dataclasses.replace(
                    suggestion, evidence="no journal line matches its description: fill in the account"
                )
            )
            continue
        for proposal in proposals:
            description = suggestion.description + (f" ({proposal.note})" if proposal.ambiguous else "")
            result.append(
                dataclasses.replace(
                    suggestion,
                    description=description,
                    statement=proposal.statement,
                    gl_account=proposal.account,
                    sign=proposal.sign,
                    evidence=proposal.evidence + (f"; {proposal.note}" if proposal.ambiguous else ""),
                    ambiguous=proposal.ambiguous,
                )
            )
    return result


def suggestions(rows: Sequence[MappingRow], seen: Sequence[SeenComponent]) -> list[Suggestion]:
    """One row per missing component: for all companies when no company maps the code at all, else per company."""
    missing = unmapped_components(rows, seen)
    by_code: dict[str, list[SeenComponent]] = defaultdict(list)
    for component in missing:
        by_code[component.code].append(component)
    companies_with_code: dict[str, set[int]] = defaultdict(set)
    for component in seen:
        companies_with_code[component.code].add(component.company_id)
    result = []
    for code in sorted(by_code, key=_code_order):
        components = by_code[code]
        code_in_file = any(r.code == code for r in rows)
        description = Counter(c.description for c in components).most_common(1)[0][0]
        if not code_in_file and {c.company_id for c in components} == companies_with_code[code]:
            result.append(Suggestion(None, code, description))
        else:
            result.extend(Suggestion(c.company_id, code, c.description) for c in components)
    return result


def _per_company_where_nmbrs_differs(
    new: Sequence[Suggestion], bookings: Sequence[Booking]
) -> list[Suggestion]:
    """A row for all companies stays one row where every company's journals book the component alike;
    where they differ (e.g. a company override in Nmbrs), one row per company instead."""
    result: list[Suggestion] = []
    for suggestion in new:
        per_company: dict[int, set[tuple[str, int]]] = defaultdict(set)
        names: dict[int, str] = {}
        for booking in bookings:
            if booking.code == suggestion.code:
                per_company[booking.company_id].add((booking.account, booking.sign))
                names[booking.company_id] = booking.description
        if suggestion.company_id is None and len({frozenset(v) for v in per_company.values()}) > 1:
            result.extend(
                dataclasses.replace(suggestion, company_id=company_id, description=names[company_id])
                for company_id in sorted(per_company)
            )
        else:
            result.append(suggestion)
    return result


def _code_order(code: str) -> tuple[int, int | str]:
    return (0, int(code)) if code.isdigit() else (1, code)


def append_suggestions(path: Path, table: CsvTable, new: Sequence[Suggestion]) -> list[int]:
    """Append rows without touching a byte of what is there; returns the new rows' line numbers.

    The new lines follow the file's line ending and quoting style. The file is replaced atomically,
    so an interrupted run leaves either the old file or the complete new one.
    """
    if not new:
        return []
    original = path.read_bytes()
    newline = "\r\n" if b"\r\n" in original.split(b"\n", 1)[0] + b"\n" else "\n"
    first_line = original.removeprefix(BOM).split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8")
    quote_all = all(f.startswith('"') and f.endswith('"') for f in first_line.split(","))
    false_spelling = next(_false_spellings(table), "false")
    buffer = io.StringIO()
    writer = csv.writer(
        buffer, lineterminator=newline, quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL
    )
    for suggestion in new:
        values = {
            "company_id": "" if suggestion.company_id is None else str(suggestion.company_id),
            "wage_component_code": suggestion.code,
            "description": suggestion.description,
            "statement": suggestion.statement,
            "gl_account": suggestion.gl_account,
            "hidden": false_spelling,
            "sign": "" if suggestion.sign is None else str(suggestion.sign),
        }
        writer.writerow([values[column] for column in table.header])
    separator = b"" if original.endswith(b"\n") or not original else newline.encode()
    content = original + separator + buffer.getvalue().encode("utf-8")
    _replace_atomically(path, content)
    lines_before = original.count(b"\n") + (1 if separator else 0)
    return list(range(lines_before + 1, lines_before + 1 + len(new)))


def _false_spellings(table: CsvTable) -> Iterator[str]:
    position = table.header.index("hidden")
    for _, record in table.records:
        if len(record) == len(table.header) and record[position].strip().lower() == "false":
            yield record[position].strip()


def _replace_atomically(path: Path, content: bytes) -> None:
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        shutil.copymode(path, temp)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def suggest(
    mappings_dir: Path,
    seen: Sequence[SeenComponent],
    bookings: Sequence[Booking] | None = None,
    chart: dict[str, Account] | None = None,
) -> tuple[str, list[Suggestion], list[int]]:
    """Append the missing components to the mapping file; refuses a file it cannot read exactly.
    With `bookings` (Nmbrs's journals), each row is filled in as Nmbrs books the component."""
    path = mappings_dir / MAPPING_FILE
    table, problems = read_csv_table(path, MAPPING_COLUMNS)
    if table is None:
        raise MappingFileError(problems)
    rows, row_problems = parse_mapping(table)
    blocking = [p for p in [*problems, *row_problems] if p.kind == FORMAT]
    if blocking:
        raise MappingFileError(blocking)
    new = suggestions(rows, seen)
    if bookings is not None:
        new = from_journals(new, bookings, chart)
    return table.file, new, append_suggestions(path, table, new)
