"""``factoryfloor serve``: run the service headless, for as long as the machine runs.

Watches and records the facility of one design with no window, and serves every window that
attaches (``factoryfloor --connect HOST:PORT``). Logs go to standard error (the journal, under
systemd) and to ``service.log`` in the platform's log folder. SIGTERM and SIGINT stop it
cleanly; SIGUSR1 prints every thread's stack to standard error. The service's public key is
printed at start, with its fingerprint: windows on other machines need it once
(``--service-key``), then remember it.

Exit codes: 0 stopped, 2 the design, the data folder or the address could not be used.
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import logging
import signal
import sys
from pathlib import Path

from platformdirs import user_log_path

from factoryfloor.backend.design.design_file import DesignFileError, describe_file_error
from factoryfloor.backend.service.address import DEFAULT_PORT, AddressError, parse_address
from factoryfloor.backend.service.keys import ServiceKeyError, fingerprint, service_key_pair
from factoryfloor.backend.service.server import Listening, Service, ServiceConfig
from factoryfloor.backend.service.users import default_data_folder

EXIT_OK = 0
EXIT_INVALID = 2


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="factoryfloor serve",
                                     description=__doc__.splitlines()[0])  # fmt: skip
    parser.add_argument("design", type=Path, help="the design file the service runs")
    parser.add_argument("--data", type=Path, metavar="DIR",
                        help=f"users, audit log, design versions and history "
                             f"(default: {default_data_folder()})")  # fmt: skip
    parser.add_argument("--listen", default=f"127.0.0.1:{DEFAULT_PORT}", metavar="HOST:PORT",
                        help="where windows attach (default: %(default)s; frames on PORT+1). "
                             "Every link is encrypted, loopback included")  # fmt: skip
    parser.add_argument("--history-budget", type=_size, metavar="SIZE",
                        help="the most disk the history may take, such as 200G or 500M (1 G is "
                             "10^9 bytes); the oldest days go first, with a warning before. "
                             "Default: no limit")  # fmt: skip
    parser.add_argument("--show-key", action="store_true",
                        help="print the service's public key and exit")  # fmt: skip
    return parser


_UNITS = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}


def _size(text: str) -> int:
    """``200G`` -> bytes; argparse shows the ValueError's message."""
    number, unit = text.strip().upper().rstrip("B"), ""
    if number and number[-1] in _UNITS:
        number, unit = number[:-1], number[-1]
    try:
        size = float(number) * _UNITS[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (such as 200G)") from None
    if size <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a budget must be more than 0")
    return int(size)


def _configure_logging() -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    try:
        folder = user_log_path("factoryfloor", appauthor=False)
        folder.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(folder / "service.log", encoding="utf-8"))
    except OSError as error:
        print(f"factoryfloor serve: logging to standard error only: {error}", file=sys.stderr)
    logging.basicConfig(level=logging.INFO, handlers=handlers,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")  # fmt: skip


def main(argv: list[str]) -> int:
    options = parser().parse_args(argv)
    data = options.data or default_data_folder()
    try:
        keys = service_key_pair(data)
        host, port = parse_address(options.listen)
    except (ServiceKeyError, AddressError, OSError) as error:
        print(f"factoryfloor serve: {error}", file=sys.stderr)
        return EXIT_INVALID
    if options.show_key:
        print(keys.public)
        return EXIT_OK
    _configure_logging()
    faulthandler.register(signal.SIGUSR1)  # kill -USR1 prints every thread's stack: a hang's why
    config = ServiceConfig(str(options.design), keys, str(data), host=host, port=port,
                           history_budget_bytes=options.history_budget)  # fmt: skip
    try:
        asyncio.run(_serve(config))
    except (DesignFileError, OSError) as error:
        print(describe_file_error(options.design, error), file=sys.stderr)
        return EXIT_INVALID
    except Exception as error:  # zmq.ZMQError: address in use, or not this machine's
        print(f"factoryfloor serve: cannot listen on {options.listen}: {error}", file=sys.stderr)
        return EXIT_INVALID
    return EXIT_OK


async def _serve(config: ServiceConfig) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)

    def announce(listening: Listening) -> None:
        print(f"FactoryFloor service listening on {listening.host}:{listening.port} "
              f"(frames on {listening.frames_port})\n"
              f"service key: {config.keys.public}  ({fingerprint(config.keys.public)})",
              flush=True)  # fmt: skip

    await Service(config).run(stopping, announce)
