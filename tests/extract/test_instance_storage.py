"""The instance storage a sync holds open (pipelines/app/instance.py: pooled_storage) on a real
Dagster instance in the warehouse database."""

from __future__ import annotations

import dagster as dg

from pipelines.app.instance import pooled_storage
from pipelines.lib import settings
from pipelines.lib.settings import temporary_env
from tests.support.env import make_env


def test_a_sync_asks_the_catalog_once_per_existing_table_and_again_for_a_missing_one(
    make_database, tmp_path, monkeypatch
):
    with temporary_env(make_env(make_database(), tmp_path / "home", {})):
        settings.prepare_environment(start_embedded=False)
        with dg.DagsterInstance.get() as instance:
            storage = instance.event_log_storage
            catalog = type(storage).has_table
            asked: list[str] = []

            def counted(self, table_name: str) -> bool:  # the real query, counted
                asked.append(table_name)
                return catalog(self, table_name)

            monkeypatch.setattr(type(storage), "has_table", counted)
            with pooled_storage(instance):
                assert all(storage.has_table("asset_event_tags") for _ in range(3))
                assert not any(storage.has_table("no_such_table") for _ in range(2))
            assert asked == ["asset_event_tags", "no_such_table", "no_such_table"]

            assert "has_table" not in vars(storage)  # after the block: the storage's own method again
            assert storage.has_table("asset_event_tags")
            assert asked[-1] == "asset_event_tags"
