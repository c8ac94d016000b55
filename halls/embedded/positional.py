"""find_one_and_update whose positional `$` updates the array element the filter matched.

On a server, `{"$set": {"addons.$.price": 5}}` with a filter on `addons.key` changes the
element whose key matched. mongomock's find_one_and_update finds the document, then updates it
by its `_id` alone, which forgets the element: it changed the first one. Here the document is
found the same way, then updated by update_one with the whole filter pinned to its `_id`
(update_one applies `$` as a server does). Any other update goes to mongomock's own.
"""

import functools

import mongomock
from pymongo import ReturnDocument


def teach():
    collection = mongomock.Collection
    collection.find_one_and_update = _positional_aware(collection.find_one_and_update)


def _positional_aware(find_one_and_update):
    @functools.wraps(find_one_and_update)
    def modify(
        self,
        filter,
        update,
        projection=None,
        sort=None,
        upsert=False,
        return_document=ReturnDocument.BEFORE,
        **kwargs,
    ):
        args = (filter, update, projection, sort, upsert, return_document)
        if kwargs or not _positional(update):
            return find_one_and_update(self, *args, **kwargs)
        target = self.find_one(filter, {"_id": 1}, sort=sort)
        if target is None:  # nothing to update; an upsert as mongomock makes it
            return find_one_and_update(self, *args)
        pinned = {"_id": target["_id"]}
        before = self.find_one(pinned, projection)
        self.update_one({**filter, **pinned}, update)
        after = return_document is ReturnDocument.AFTER
        return self.find_one(pinned, projection) if after else before

    return modify


def _positional(update):
    """Whether an update's operators name a field through `.$` (a pipeline update never does)."""
    operators = update.values() if isinstance(update, dict) else []
    return any(".$" in path for fields in operators if isinstance(fields, dict) for path in fields)
