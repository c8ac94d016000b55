"""Export then import into an empty database gives back identical documents."""

import datetime as dt

import pytest
from bson import Int64, ObjectId

from halls import backup, create_app, db, embedded
from tests.helpers import today_plus


@pytest.fixture
def filled(app, owner, customer, make_venue):
    owner_user, _ = owner
    venue = make_venue(owner_user, venue_name="Backup Hall — ہال")
    db.bookings().insert_one(
        {
            "venue_id": venue["_id"],
            "user_id": customer.user["_id"],
            "date": today_plus(3),
            "guests": 120,
            "price_locked": {"total": 150000, "lines": []},
            "big": Int64(2**40),
            "created_at": dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC),
        }
    )
    return venue


def _dump(database):
    return {
        name: list(database[name].find().sort("_id", 1))
        for name in sorted(database.list_collection_names())
    }


def test_export_then_import_restores_identical_documents(app, app_config, filled, tmp_path):
    counts = backup.export_all(tmp_path)
    assert counts["venues"] == 1 and counts["bookings"] == 1 and counts["users"] == 2
    assert (tmp_path / "manifest.json").exists()
    original = _dump(db.database())

    restored_db = embedded.new_client()["restored"]
    restored = create_app({**app_config, "DATABASE": restored_db})
    with restored.app_context():
        assert backup.import_all(tmp_path) == counts
        copy = _dump(restored_db)
    assert copy == original
    booking = copy["bookings"][0]
    assert isinstance(booking["_id"], ObjectId)
    assert booking["created_at"] == dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC)
    assert isinstance(booking["big"], int) and booking["big"] == 2**40
    # Indexes came back with the data: the unique email index refuses a duplicate.
    assert "email_unique" in restored_db.users.index_information()


def test_two_exports_of_the_same_data_are_byte_identical(filled, tmp_path):
    backup.export_all(tmp_path / "a")
    backup.export_all(tmp_path / "b")
    for path in (tmp_path / "a").glob("*.jsonl"):
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes()


def test_import_refuses_a_database_that_has_data(filled, tmp_path):
    backup.export_all(tmp_path)
    before = db.venues().count_documents({})
    with pytest.raises(backup.BackupError, match="not empty"):
        backup.import_all(tmp_path)
    assert db.venues().count_documents({}) == before


def test_import_refuses_a_folder_without_an_export(app, tmp_path):
    with pytest.raises(backup.BackupError, match="no .jsonl"):
        backup.import_all(tmp_path)


def test_export_and_import_commands(app, app_config, filled, tmp_path):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["export", str(tmp_path / "dump")])
    assert result.exit_code == 0, result.output
    assert "exported" in result.output and "collections" in result.output

    refused = runner.invoke(args=["import", str(tmp_path / "dump")])
    assert refused.exit_code != 0
    assert "not empty" in refused.output

    restored_db = embedded.new_client()["restored_cli"]
    restored = create_app({**app_config, "DATABASE": restored_db})
    # The test already runs inside the first app's context; the command must use the second.
    with restored.app_context():
        result = restored.test_cli_runner().invoke(args=["import", str(tmp_path / "dump")])
    assert result.exit_code == 0, result.output
    assert restored_db.venues.count_documents({}) == 1
    assert restored_db.users.count_documents({}) == 2
