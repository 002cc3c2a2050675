"""A process that raises and clears alarms until it is killed, for the journal's kill -9 test:
run as ``python tests/alarm_child.py DIR``.

Second by second, racks R1..R8 of the small hall start and stop leaking in a fixed pattern; after
each step it prints the number of journal entries it has been told are on disk, so the test
knows what must survive.
"""

from __future__ import annotations

import sys
from pathlib import Path

from alarm_plans import Feed, small_hall

from factoryfloor.backend.design.alarm_rules import default_rules
from factoryfloor.backend.service.alarms.system import AlarmSystem

RACKS = 8


def leaking(second: int, rack: int) -> bool:
    return (second // rack) % 2 == 1


def main(folder: Path) -> None:
    system = AlarmSystem(small_hall(default_rules()[:1], racks=RACKS), folder)
    feed = Feed()
    journaled = 0
    second = 0
    while True:
        second += 1
        readings = {f"rack/R{r}/leak": float(leaking(second, r)) for r in range(1, RACKS + 1)}
        feed.write(float(second), readings)
        journaled += len(system.step(feed.snapshot(float(second)), [], float(second)))
        print(second, journaled, flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
