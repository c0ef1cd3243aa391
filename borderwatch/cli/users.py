"""``borderwatch users``: the local accounts people sign in with (add, list, disable, roles...)."""
from __future__ import annotations

import os
import sys

from borderwatch import access, sessions
from borderwatch.auth import (AuthError, add_user, demo_accounts, end_sessions, get, list_users, reset_password,
                              set_disabled, set_role)

NAME = "users"
HELP = "local accounts: add, list, disable, enable, reset-password, role, sessions, sign-out, demo"
DESCRIPTION = "Manage the local accounts people sign in with (BORDERWATCH_AUTH=local)."


def configure(p) -> None:
    s = p.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    a = s.add_parser("add", help="add an account; prints its one-time password")
    a.add_argument("name")
    a.add_argument("--nation", required=True, help="ISO3 code of the user's nation, e.g. USA")
    a.add_argument("--role", required=True, choices=access.ROLES)
    s.add_parser("list", help="list accounts")
    for action, text in (("disable", "stop an account from signing in"), ("enable", "let a disabled account sign in"),
                         ("reset-password", "give an account a new one-time password"),
                         ("sessions", "list an account's open app sessions (reloads and new tabs stay signed in)"),
                         ("sign-out", "end every open app session of an account")):
        s.add_parser(action, help=text).add_argument("name")
    r = s.add_parser("role", help="change an account's role (and nation)")
    r.add_argument("name")
    r.add_argument("role", choices=access.ROLES)
    r.add_argument("--nation", help="new nation (ISO3)")
    s.add_parser("demo", help="create the demo accounts that are missing (one-time passwords in var/)")


def run(args) -> int:
    by = f"command line ({os.environ.get('USER', 'unknown user')})"
    try:
        if args.users_command == "add":
            password = add_user(args.name, args.nation, args.role, by=by)
            print(f"added {args.name} ({args.nation.upper()}, {args.role}); one-time password: {password}")
        elif args.users_command == "list":
            frame = list_users()
            print(frame.to_string(index=False) if len(frame) else "no accounts")
        elif args.users_command in ("disable", "enable"):
            set_disabled(args.name, args.users_command == "disable", by=by)
            print(f"{args.name} {args.users_command}d")
        elif args.users_command == "reset-password":
            print(f"{args.name}: new one-time password: {reset_password(args.name, by=by)}")
        elif args.users_command == "role":
            set_role(args.name, args.role, args.nation, by=by)
            print(f"{args.name} is now {args.role}" + (f" of {args.nation.upper()}" if args.nation else ""))
        elif args.users_command == "sessions":
            if get(args.name) is None:
                raise AuthError(f"no account named {args.name!r}")
            frame = sessions.open_sessions(args.name)
            print(frame.to_string(index=False) if len(frame) else f"{args.name} has no open session")
        elif args.users_command == "sign-out":
            print(f"{args.name}: {end_sessions(args.name, by=by)} open session(s) ended")
        elif args.users_command == "demo":
            path, created = demo_accounts()
            print(f"demo accounts: {', '.join(created) if created else 'present already'}; one-time passwords in {path}"
                  if created or path.exists() else "demo accounts present already")
    except AuthError as exc:
        print(f"borderwatch users: {exc}", file=sys.stderr)
        return 2
    return 0
