"""Ewoks graphs on pydra_lite: ``execute_graph`` and the ewoks-style ``Task``.

Write tasks and graphs as for ewokscore, import them from here, and they run
through pydra_lite's engine, cached in ewoks' ``json`` or ``nexus`` scheme
(``varinfo={"root_uri": dir, "scheme": "json"}``). See ``docs/ewoks.md``.
"""

from pydra_lite.ewoks.execute import execute_graph
from pydra_lite.ewoks.graph import EwoksGraph, load_graph
from pydra_lite.ewoks.task import MISSING_DATA, Task

__all__ = ["MISSING_DATA", "EwoksGraph", "Task", "execute_graph", "load_graph"]
