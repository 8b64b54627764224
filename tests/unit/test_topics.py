"""Every declared topic is one the code writes, and docs/realtime.md's table lists exactly
the declared topics: a topic nobody publishes (as forecasts-published was) fails here."""

import re
from pathlib import Path

from tickerpulse.stores.events import DEAD_LETTERS, TOPICS

ROOT = Path(__file__).parents[2]
WIRE = ROOT / "tickerpulse" / "stores" / "events" / "wire.py"
APPS = ("tickerpulse", "serving", "realtime", "orchestration")


def sources_naming(topic: str) -> list[Path]:
    """The modules, other than the one declaring the topics, that name `topic` as a string."""
    literal = re.compile(rf"""["']{re.escape(topic)}["']""")
    return [
        path
        for app in APPS
        for path in sorted((ROOT / app).rglob("*.py"))
        if path != WIRE and literal.search(path.read_text())
    ]


def documented_topics() -> dict[str, str]:
    """docs/realtime.md's topics table: topic -> its "written by" cell."""
    text = (ROOT / "docs" / "realtime.md").read_text()
    table = text.split("## Topics", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([^`]+)` \| ([^|]+) \|", table, flags=re.MULTILINE)
    return {topic: writers.strip() for topic, writers in rows}


def test_every_declared_topic_is_named_by_the_code_that_uses_it() -> None:
    unused = [topic for topic in TOPICS if not sources_naming(topic)]
    assert unused == []


def test_the_docs_list_the_declared_topics_each_with_a_writer() -> None:
    documented = documented_topics()
    assert set(documented) == {*TOPICS, DEAD_LETTERS}
    assert [t for t, writers in documented.items() if writers.startswith("nobody")] == []
