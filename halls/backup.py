"""Export and import every collection as JSON Lines, restorable into an empty database.

Each line is one document in MongoDB's canonical Extended JSON, so types survive the trip:
ObjectIds stay ObjectIds, datetimes stay UTC datetimes, 64-bit integers stay 64-bit. The same
functions run on a real server and on the embedded backend (with the embedded backend an
export is the only way to keep its data past the process).
"""

import datetime as dt
import json
from pathlib import Path

from bson import json_util
from bson.json_util import CANONICAL_JSON_OPTIONS

from halls import clock, db

SUFFIX = ".jsonl"
MANIFEST = "manifest.json"
_READ_OPTIONS = CANONICAL_JSON_OPTIONS.with_options(tz_aware=True, tzinfo=dt.UTC)


class BackupError(RuntimeError):
    """The backup cannot be written or restored as asked."""


def export_all(directory):
    """Write each collection to <directory>/<name>.jsonl; returns {name: count}."""
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    database = db.database()
    counts = {}
    for name in sorted(database.list_collection_names()):
        path = target / f"{name}{SUFFIX}"
        with path.open("w", encoding="utf-8") as out:
            count = 0
            # _id order makes two exports of the same data byte-identical.
            for document in database[name].find().sort("_id", 1):
                out.write(json_util.dumps(document, json_options=CANONICAL_JSON_OPTIONS))
                out.write("\n")
                count += 1
        counts[name] = count
    manifest = {"exported_at": clock.now().isoformat(), "collections": counts}
    (target / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return counts


def import_all(directory, batch_size=1000):
    """Load every <name>.jsonl of an export into this (empty) database; returns {name: count}."""
    source = Path(directory)
    files = sorted(source.glob(f"*{SUFFIX}"))
    if not files:
        raise BackupError(f"{source} holds no {SUFFIX} files to import.")
    database = db.database()
    busy = [path.stem for path in files if database[path.stem].estimated_document_count()]
    if busy:
        # Restoring over live data would mix two histories; restore into an empty database.
        raise BackupError(f"these collections are not empty: {', '.join(busy)}")
    counts = {}
    for path in files:
        collection = database[path.stem]
        batch, count = [], 0
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                if line.strip():
                    batch.append(json_util.loads(line, json_options=_READ_OPTIONS))
                if len(batch) >= batch_size:
                    collection.insert_many(batch, ordered=True)
                    count, batch = count + len(batch), []
        if batch:
            collection.insert_many(batch, ordered=True)
            count += len(batch)
        counts[path.stem] = count
    db.create_indexes(database)
    return counts
