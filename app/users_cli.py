"""``factoryfloor users``: manage who may sign in to a service, and with which role.

Changes the users file in the service's data folder (the platform's data folder unless ``--data``
says otherwise); a running service sees a change at the next sign-in. Passwords are asked twice
at a prompt, or read as one line from standard input with ``--password-stdin`` for scripts, and
never taken from the command line, where other users of the machine could read them. Each
change is written to the audit log with the local account that made it.

Exit codes: 0 done, 1 refused (the message says why), 2 a users file that cannot be read.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

from factoryfloor.backend.design.design_file import DesignFileError, describe_file_error
from factoryfloor.backend.design.report import format_table
from factoryfloor.backend.service.roles import ROLE_NAMES, Role
from factoryfloor.backend.service.users import UserError, UserStore, default_data_folder

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_INVALID = 2


class PasswordEntryError(Exception):
    """The password could not be read: the two entries differ, or standard input was empty."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="factoryfloor users",
                                     description=__doc__.splitlines()[0])  # fmt: skip
    data = argparse.ArgumentParser(add_help=False)
    data.add_argument(
        "--data",
        type=Path,
        metavar="DIR",
        help=f"the service's data folder (default: {default_data_folder()})",
    )
    password = argparse.ArgumentParser(add_help=False)
    password.add_argument("--password-stdin", action="store_true",
                          help="read the password as one line from standard input")  # fmt: skip
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add = commands.add_parser("add", parents=[data, password], help="add a user")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=ROLE_NAMES,
                     help="viewer watches; operator also acts; engineer also edits the design "
                     "and manages users")  # fmt: skip
    remove = commands.add_parser("remove", parents=[data], help="remove a user")
    remove.add_argument("name")
    passwd = commands.add_parser("passwd", parents=[data, password],
                                 help="set a user's password")  # fmt: skip
    passwd.add_argument("name")
    commands.add_parser("list", parents=[data], help="list the users and their roles")
    return parser


def read_password(from_stdin: bool) -> str:
    """The new password: standard input's first line (its line ending dropped), or typed twice
    at a prompt that does not echo it."""
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise PasswordEntryError("no password on standard input")
        return line.removesuffix("\n").removesuffix("\r")
    first = getpass.getpass("New password: ")
    if getpass.getpass("Repeat it: ") != first:
        raise PasswordEntryError("the two passwords differ; nothing was changed")
    return first


def local_actor() -> str:
    """Who made a change from this machine's command line, for the audit log."""
    try:
        return f"local:{getpass.getuser()}"
    except (OSError, KeyError):  # no user name for this uid (some containers)
        return f"local:uid {os.getuid()}" if hasattr(os, "getuid") else "local"


def run(args: argparse.Namespace) -> int:
    store = UserStore(args.data or default_data_folder())
    if args.command == "list":
        users = store.users()
        if not users:
            print(f"No users in {store.path}: windows that attach can only watch.")
        else:
            print(format_table(["name", "role"], [[u.name, u.role.value] for u in users], 2))
        return EXIT_OK
    actor = local_actor()
    if args.command == "add":
        user = store.add(args.name, read_password(args.password_stdin), Role(args.role), actor)
        print(f"Added {user.name} ({user.role.value}) to {store.path}")
    elif args.command == "passwd":
        store.set_password(args.name, read_password(args.password_stdin), actor)
        print(f"Changed the password of {args.name}")
    else:
        store.remove(args.name, actor)
        print(f"Removed {args.name} from {store.path}")
    return EXIT_OK


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        return run(args)
    except (UserError, PasswordEntryError) as error:
        print(f"factoryfloor users {args.command}: {error}", file=sys.stderr)
        return EXIT_REFUSED
    except (DesignFileError, OSError) as error:
        path = getattr(error, "filename", None) or args.data or default_data_folder()
        print(describe_file_error(path, error), file=sys.stderr)
        if args.command != "list":
            print("Nothing was changed.", file=sys.stderr)
        return EXIT_INVALID
