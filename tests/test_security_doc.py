"""docs/security.md as a test: every setting is documented, and every limit it states is the code's."""

import re

import pytest

from conftest import ROOT

SECURITY = (ROOT / "docs" / "security.md").read_text()
README = (ROOT / "README.md").read_text()


def limit_rows() -> dict[str, list[str]]:
    """The Limits table: the first cell of each row -> its cells."""
    table = SECURITY.split("## Limits", 1)[1].split("\n## ", 1)[0]
    rows = [line.strip("|").split(" | ") for line in table.splitlines() if line.startswith("| ")]
    return {cells[0].strip(): [cell.strip() for cell in cells] for cells in rows[1:]}


def test_every_setting_is_documented_in_the_security_doc_or_the_readme():
    from tessera.config import SETTINGS

    missing = [name for name in SETTINGS if f"`{name}`" not in SECURITY and f"`{name}`" not in README]
    assert not missing, f"document these settings in docs/security.md or README.md: {missing}"


def test_the_limits_table_gives_each_settings_default():
    from tessera.config import SETTINGS

    rows = [cells for cells in limit_rows().values() if re.match(r"`TESSERA_[A-Z_]+`", cells[2])]
    assert len(rows) >= 8
    for label, default, how, _ in rows:
        name = re.match(r"`(TESSERA_[A-Z_]+)`", how)[1]
        number = SETTINGS[name][0]
        number = int(number) if float(number).is_integer() else number
        assert re.match(rf"{number}\b", default), f"{label}: the default of {name} is {number}, not {default!r}"


def constants() -> dict[str, str]:
    """The first cell of a Limits row -> what its second cell must say, from the code's constants."""
    from tessera.brokers.memory import IDEMPOTENCY_WINDOW
    from tessera.brokers.redis import DEDUP_SECONDS
    from tessera.delivery import MAX_BACKLOG, REPLAY_PUT_TIMEOUT
    from tessera.events import MAX_ID_LENGTH, MAX_NAME_LENGTH, MAX_VALUE_LENGTH
    from tessera.protocol import MAX_PATTERNS
    from tessera.responders import ANSWER_TTL, MAX_ANSWERS, MAX_PENDING, WORKERS
    from tessera.socket_endpoint import FRAME_SLACK, SEND_BUFFER
    from tessera.topics import MAX_TOPIC_LENGTH
    from tessera.websocket import SOCKET_TIMEOUT
    from tessera.writer import PING_INTERVAL

    bridge = (ROOT / "shell" / "runtime" / "bridge.js").read_text()
    outbox = int(re.search(r"const OUTBOX_LIMIT = (\d+)", bridge)[1])
    return {
        "size of a WebSocket message, however fragmented": f"{FRAME_SLACK} × `TESSERA_MAX_EVENT_BYTES` + 1 KiB",
        "subscriptions of one page": f"{MAX_PATTERNS}",
        "frames waiting for one page": f"{SEND_BUFFER // 2**20} MiB",
        "live events held for a page while its replay is sent": f"{MAX_BACKLOG:,}",
        "time to queue one replayed event for a slow page": f"{REPLAY_PUT_TIMEOUT:g} s",
        "a write making no progress (the page's TCP window stays shut)": f"{SOCKET_TIMEOUT:g} s",
        "silence from the page": f"{2 * PING_INTERVAL:g} s (pings every {PING_INTERVAL:g} s)",
        "requests of one page queued or running": f"{MAX_PENDING}",
        "Python responders": f"{WORKERS} threads",
        "answers kept for a request resent after a reconnect": f"{ANSWER_TTL:g} s, at most {MAX_ANSWERS:,}",
        "`datacontenttype`, `dataschema`, extension attribute values": f"{MAX_VALUE_LENGTH} characters",
        "extension attribute names": f"`a-z0-9`, {MAX_NAME_LENGTH} characters",
        "topics and patterns": f"{MAX_TOPIC_LENGTH} characters",
        "idempotency keys (duplicate detection)": f"the last {IDEMPOTENCY_WINDOW:,} events (memory broker), "
                                                  f"{DEDUP_SECONDS // 3600} hour (Redis)",
        "events a page queues while offline": f"{outbox}",
        next(label for label in limit_rows() if label.startswith("`id`, `source`")): f"{MAX_ID_LENGTH} characters",
    }


@pytest.mark.parametrize("label", list(constants()))
def test_a_fixed_limit_in_the_security_doc_is_the_one_the_code_enforces(label):
    rows = limit_rows()
    assert label in rows, f"docs/security.md lost its Limits row {label!r}"
    assert rows[label][1].startswith(constants()[label]), (label, rows[label][1], constants()[label])
