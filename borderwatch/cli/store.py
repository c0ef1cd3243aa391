"""``borderwatch store``: where the store is, consistent backup and restore, migration to PostgreSQL."""
from __future__ import annotations

from borderwatch.backup import CopyResult, backup, migrate, restore, row_counts
from borderwatch.store import Store, default_store

NAME = "store"
HELP = "the store: info, consistent backup and restore, migration to PostgreSQL"
DESCRIPTION = ("Inspect, back up, restore or migrate the store (the catalog named by "
               "BORDERWATCH_CATALOG, else the embedded one in BORDERWATCH_STORE).")


def _print_result(action: str, result: CopyResult) -> None:
    print(f"{action} at snapshot {result.snapshot_id} ({result.snapshot_time} UTC) in {result.seconds:.1f} s; "
          "rows per table checked:")
    for table, n in sorted(result.counts.items()):
        print(f"  {table:<20} {n:>12,}")


def run(args) -> int:
    if args.action == "info":
        store = default_store()
        store.check()
        print(store.describe())
        print(f"snapshot {store.snapshot_id()}")
        for table, n in sorted(row_counts(store).items()):
            print(f"  {table:<20} {n:>12,}")
    elif args.action == "backup":
        _print_result(f"backup of {default_store().describe()} written to {args.directory}",
                      backup(default_store(), args.directory))
    elif args.action == "restore":
        _print_result(f"restored {args.directory} into {default_store().describe()}",
                      restore(default_store(), args.directory, replace=args.replace))
    elif args.action == "migrate":
        # the environment describes the store as it is (embedded); the flags where it goes
        target, result = migrate(Store(catalog=""), args.to, args.data_path, replace=args.replace)
        _print_result(f"migrated to {target.describe()}", result)
        print(f"to use it: BORDERWATCH_CATALOG='{target.postgres.display()}' BORDERWATCH_DATA_PATH='{target.data_path}'")
    return 0


def configure(p) -> None:
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("info", help="where the store is, its latest snapshot and rows per table")
    b = actions.add_parser("backup", help="write a backup consistent at one snapshot (feeds may keep writing)")
    b.add_argument("directory", help="a new or empty directory")
    r = actions.add_parser("restore", help="replace the store's contents with a backup")
    r.add_argument("directory", help="a directory written by 'borderwatch store backup'")
    r.add_argument("--replace", action="store_true", help="overwrite a store that already holds data")
    m = actions.add_parser("migrate", help="copy the embedded store into a PostgreSQL catalog")
    m.add_argument("--to", required=True, metavar="postgresql://USER@HOST:PORT/DBNAME", help="the new catalog")
    m.add_argument("--data-path", required=True, help="directory for the table files, mounted on every host, or "
                                                      "s3://BUCKET/PREFIX/ (credentials from the environment); "
                                                      "then BORDERWATCH_DATA_PATH on every host")
    m.add_argument("--replace", action="store_true", help="overwrite a catalog that already holds data")
