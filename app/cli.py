"""The ``factoryfloor`` command: open the window, or check a design file without one.

``check`` never imports Qt, so it runs on headless machines and in CI pipelines.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from factoryfloor.resources import demo_path

EXIT_OK = 0
EXIT_OVER_CAPACITY = 1
EXIT_INVALID = 2


def check(path: Path) -> int:
    """Print the figures of the design at ``path``; the exit code says valid/over/invalid."""
    from factoryfloor.backend.design.design_file import (
        DesignFileError,
        describe_file_error,
        load_design,
    )
    from factoryfloor.backend.design.figures import compute_figures
    from factoryfloor.backend.design.report import format_report

    try:
        design = load_design(path)
    except (DesignFileError, OSError) as error:
        print(describe_file_error(path, error), file=sys.stderr)
        return EXIT_INVALID
    figures = compute_figures(design)
    print(format_report(design, figures, str(path)), end="")
    return EXIT_OVER_CAPACITY if figures.over_capacity else EXIT_OK


def show_catalog() -> int:
    from factoryfloor.backend.design.catalog import load_catalog, user_catalog_path
    from factoryfloor.backend.design.design_file import DesignFileError
    from factoryfloor.backend.design.report import fmt, format_table

    try:
        models = load_catalog()
    except DesignFileError as error:
        print(error, file=sys.stderr)
        return EXIT_INVALID
    rows = [
        [
            m.id,
            m.name,
            m.reference_workload or "-",
            fmt(m.gpu_power_w, 0),
            fmt(m.system_power_per_gpu_w, 0),
            fmt(m.tokens_per_s_per_gpu, 0),
        ]
        for m in models
    ]
    print(
        format_table(
            ["id", "name", "workload", "GPU W", "system W/GPU", "tok/s/GPU"], rows, numeric_from=3
        )
    )
    print(f"\nOverride or add entries in {user_catalog_path()} (same shape as the built-in file).")
    return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="factoryfloor",
        description="Design and run AI factories. With no arguments, opens the demo facility.",
        epilog="Subcommands: 'factoryfloor check FILE' validates a design and prints its figures "
        "(exit 0 ok, 1 over capacity, 2 invalid); 'factoryfloor catalog' lists GPU models; "
        "'factoryfloor telemetry FILE' runs the telemetry sources headless; "
        "'factoryfloor serve FILE' runs the service headless; "
        "'factoryfloor users add|remove|passwd|list' manages who may sign in to a service; "
        "'factoryfloor export --from T -o FILE' writes recorded history as CSV or Parquet; "
        "'factoryfloor alarms [--journal --since T] [--csv FILE]' reads the alarm journal "
        "('--service HOST:PORT': asks a running service); 'factoryfloor audit [--user U] "
        "[--csv FILE] [--verify]' prints, exports or checks the audit log.",
    )
    parser.add_argument("file", nargs="?", type=Path, help="design file (.json) to open")
    parser.add_argument("--demo", action="store_true", help="open the built-in demo facility")
    parser.add_argument(
        "--wall",
        action="store_true",
        help="start in Run mode, full screen in control-room mode, with the monitor and "
        "panels chosen last time (View > Control-Room Mode)",
    )
    parser.add_argument("--connect", metavar="HOST:PORT",
                        help="attach to a running service (factoryfloor serve) as a viewer, and "
                             "show its design running; File > Connect signs in")  # fmt: skip
    parser.add_argument("--service-key", metavar="KEY",
                        help="the service's public key, needed once per service (then "
                             "remembered); one on this machine is found without it")  # fmt: skip
    return parser


def _service_address(options: argparse.Namespace):
    """The service ``--connect`` names, with its key; exits with the reason if it cannot."""
    from factoryfloor.backend.service.address import AddressError, parse_address
    from factoryfloor.backend.service.client import ServiceAddress
    from factoryfloor.backend.service.keys import ServiceKeyError, resolve_service_key
    from factoryfloor.backend.service.users import default_data_folder

    try:
        host, port = parse_address(options.connect)
        key = resolve_service_key(host, port, options.service_key, None, default_data_folder())
    except (AddressError, ServiceKeyError) as error:
        raise SystemExit(f"factoryfloor --connect: {error}") from None
    return ServiceAddress(host, port, key)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["check"]:
        check_parser = argparse.ArgumentParser(
            prog="factoryfloor check",
            description="Validate a design file and print its figures, without a window.",
        )
        check_parser.add_argument("file", type=Path)
        return check(check_parser.parse_args(args[1:]).file)
    if args[:1] == ["telemetry"]:
        from factoryfloor.app.telemetry_cli import main as telemetry_main

        return telemetry_main(args[1:])
    if args[:1] == ["serve"]:
        from factoryfloor.app.serve_cli import main as serve_main

        return serve_main(args[1:])
    if args[:1] == ["users"]:
        from factoryfloor.app.users_cli import main as users_main

        return users_main(args[1:])
    if args[:1] == ["alarms"]:
        from factoryfloor.app.alarms_cli import main as alarms_main

        return alarms_main(args[1:])
    if args[:1] == ["audit"]:
        from factoryfloor.app.audit_cli import main as audit_main

        return audit_main(args[1:])
    if args[:1] == ["export"]:
        from factoryfloor.app.export_cli import main as export_main

        return export_main(args[1:])
    if args[:1] == ["catalog"]:
        argparse.ArgumentParser(
            prog="factoryfloor catalog", description="List the GPU catalog."
        ).parse_args(args[1:])
        return show_catalog()
    from factoryfloor.app.export_cli import values_joined

    options = _parser().parse_args(values_joined(args, ("--service-key",)))
    path = demo_path() if options.demo or options.file is None else options.file
    service = _service_address(options) if options.connect else None

    from factoryfloor.app.gui import run_gui

    return run_gui(path, wall=options.wall, service=service)


if __name__ == "__main__":
    sys.exit(main())
