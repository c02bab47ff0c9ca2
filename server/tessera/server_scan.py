"""What a fragment's ``server.py`` publishes, subscribes to and answers, read from its source.

``tessera check`` must not run user code (a ``setup`` may open connections, start threads or
publish), and what a module publishes is only known when its handlers run. So the module is
parsed, never imported, and every call ``<anything>.bus.publish("topic", ...)`` (or
``bus.publish(...)``; likewise ``subscribe`` and ``respond``, decorators included) whose topic
is a string literal is recorded with its line.

What this cannot see, by design: topics computed at run time (``bus.publish(name, ...)``, an
f-string; these are listed in ``dynamic`` so ``check`` can say so), publishing through another
name for the bus (``publish = fragment.bus.publish``), modules that ``server.py`` imports, the
app's own Python code (``--app``), and backends that publish over ``POST /_tessera/events``.
A fragment declares what comes from those with ``from = "backend"`` in its manifest.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

CALLS = ("publish", "subscribe", "respond")
TOPIC_KEYWORDS = ("type", "topic", "pattern")


@dataclass(frozen=True)
class Use:
    """One call in the source: ``bus.<call>("<topic>")`` at ``line``."""

    call: str
    topic: str
    line: int
    user: str = "absent"  # publish only: the ``user=`` argument is "absent", "none" (None) or "given"


@dataclass(frozen=True)
class ServerCode:
    """The bus calls of one server module whose topics are literals, and the lines of those that are not."""

    path: Path
    uses: tuple[Use, ...] = ()
    dynamic: tuple[Use, ...] = field(default=())  # topic "" : computed at run time

    def topics(self, call: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys(use.topic for use in self.uses if use.call == call))

    @property
    def publishes(self) -> tuple[str, ...]:
        return self.topics("publish")

    @property
    def subscribes(self) -> tuple[str, ...]:
        return self.topics("subscribe")

    @property
    def responds(self) -> tuple[str, ...]:
        return self.topics("respond")


def scan(path: Path) -> ServerCode:
    """The bus calls in the Python file ``path``; raises SyntaxError if it is not valid Python."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    uses, dynamic = [], []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not _is_bus_call(node.func):
            continue
        call = node.func.attr
        argument = node.args[0] if node.args else next(
            (k.value for k in node.keywords if k.arg in TOPIC_KEYWORDS), None)
        if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
            uses.append(Use(call, argument.value, node.lineno, _user(node)))
        else:
            dynamic.append(Use(call, "", node.lineno))
    order = lambda use: (use.line, use.call, use.topic)  # noqa: E731
    return ServerCode(path, tuple(sorted(uses, key=order)), tuple(sorted(dynamic, key=order)))


def _user(node: ast.Call) -> str:
    value = next((k.value for k in node.keywords if k.arg == "user"), None)
    if value is None:
        return "given" if any(k.arg is None for k in node.keywords) else "absent"  # **kwargs: cannot tell
    return "none" if isinstance(value, ast.Constant) and value.value is None else "given"


def _is_bus_call(func: ast.expr) -> bool:
    """``x.bus.publish`` / ``bus.publish`` (and subscribe, respond)."""
    if not isinstance(func, ast.Attribute) or func.attr not in CALLS:
        return False
    owner = func.value
    return (isinstance(owner, ast.Attribute) and owner.attr == "bus") or (isinstance(owner, ast.Name)
                                                                        and owner.id == "bus")
