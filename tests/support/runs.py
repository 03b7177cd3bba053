"""The sandbox's run history as the tests need it, whatever the day: Nmbrs keeps a company's last run
unlocked and locks it when the company's next run (regular or correction) is made, which changes
that run too. In January the last run is December's, in the year the tests usually correct."""

from __future__ import annotations

from pipelines.sandbox.model import RunInfo
from pipelines.sandbox.state import SandboxState


def unlocked_run(state: SandboxState, company_id: int) -> RunInfo:
    """The company's one unlocked run (its latest)."""
    world = state.world
    return next(
        run for year in world.years(company_id) for run in world.runs(company_id, year) if not run.locked
    )


def keep_last_run_out_of(state: SandboxState, company_id: int, year: int) -> bool:
    """Make sure a correction of `year` changes only its own run there: when the company's unlocked
    run is in `year` (in January, last December's), add its next regular run, in the next year.
    True when a run was added (the caller syncs it before it counts calls)."""
    if unlocked_run(state, company_id).year != year:
        return False
    added = state.add_run(company_id)
    assert added.year > year, f"company {company_id} still has periods to run in {year}"
    return True
