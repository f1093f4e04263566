"""Message ids from the read-ahead pool: uuid4's form, never repeated, not even across a fork."""

from __future__ import annotations

import os
import uuid

from at_once import at_once

from analytics.catalog import CATALOG
from analytics.message_ids import POOL_IDS, new_message_id
from analytics.messages import build_message


def test_ids_are_version_4_uuids_in_uuid4s_form() -> None:
    for _ in range(POOL_IDS + 3):  # across a refill of the pool
        text = new_message_id()
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_threads_drawing_at_once_never_get_the_same_id() -> None:
    drawn = at_once(lambda: [new_message_id() for _ in range(3 * POOL_IDS)], threads=8)
    every = [text for into in drawn for text in into]
    assert len(set(every)) == len(every) == 8 * 3 * POOL_IDS


def test_a_forked_child_does_not_reuse_the_parents_unused_bytes() -> None:
    new_message_id()  # the pool now holds the next POOL_IDS - 1 ids' bytes
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        os.close(reader)
        os.write(writer, " ".join(new_message_id() for _ in range(5)).encode())
        os._exit(0)
    os.close(writer)
    with os.fdopen(reader) as pipe:
        childs = set(pipe.read().split())
    os.waitpid(child, 0)
    parents = {new_message_id() for _ in range(5)}
    assert len(childs) == 5
    assert not childs & parents


def test_built_messages_take_their_ids_from_the_pool() -> None:
    spec = CATALOG.event("ProjectCreate").example_spec()
    ids = {build_message(spec)["messageId"] for _ in range(100)}
    assert len(ids) == 100
    assert all(uuid.UUID(text).version == 4 for text in ids)
