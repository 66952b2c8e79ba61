"""`mlprovider load-table NAME FILE`: a CSV or Parquet file as a table of the embedded DuckDB warehouse.

DuckDB infers the column types. The warehouse is `--warehouse PATH`, the one of `--spec SPEC` (after its
defaults file), or by default the one `dag_specs/mlprovider.defaults.yaml` names (the demo's).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from airflow_mlprovider.spec.loader import DEFAULTS_FILE

TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")
READERS = {".csv": "read_csv_auto", ".tsv": "read_csv_auto", ".txt": "read_csv_auto", ".parquet": "read_parquet", ".pq": "read_parquet"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="table name (optionally schema.table)")
    parser.add_argument("file", help="a .csv/.tsv (optionally .gz) or .parquet file")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--warehouse", metavar="PATH", help="the DuckDB database file (created if missing)")
    where.add_argument("--spec", metavar="SPEC", help="use the warehouse of this *.model.yaml")
    parser.add_argument("--specs", default="dag_specs", help="without --warehouse/--spec: the folder whose defaults file names the warehouse (default dag_specs)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--replace", action="store_true", help="replace the table if it exists (the default)")
    mode.add_argument("--append", action="store_true", help="append the rows (columns matched by name); creates the table if missing")


def reader_for(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    reader = READERS.get(suffixes[-1] if suffixes else "")
    if reader is None:
        raise ValueError(f"{path}: unknown file type; give a .csv, .tsv or .parquet file")
    return reader


def warehouse_path(args: argparse.Namespace) -> Path:
    """The DuckDB file named by the arguments (ValueError when the spec or defaults name none)."""
    import yaml

    if args.warehouse:
        return Path(args.warehouse)
    if args.spec:
        from airflow_mlprovider.spec import load_specs

        spec_file = Path(args.spec).resolve()
        result = load_specs(spec_file.parent)
        if str(spec_file) in result.errors:
            raise ValueError("the spec is invalid:\n" + "\n".join(str(e) for e in result.errors[str(spec_file)]))
        specs = [s for s in result.specs if Path(s.source).resolve() == spec_file]
        if not specs:
            raise ValueError(f"{args.spec}: no such spec")
        if specs[0].warehouse.type != "duckdb":
            raise ValueError(f"{args.spec}: its warehouse is {specs[0].warehouse.type}, not the embedded DuckDB")
        return Path(specs[0].warehouse.path)
    defaults = Path(args.specs) / DEFAULTS_FILE
    warehouse = (yaml.safe_load(defaults.read_text()) or {}).get("warehouse", {}) if defaults.exists() else {}
    if warehouse.get("type", "duckdb") != "duckdb" or not warehouse.get("path"):
        raise ValueError(f"{defaults} names no DuckDB warehouse: give --warehouse PATH or --spec SPEC")
    return (defaults.parent / warehouse["path"]).resolve()


def load_table(warehouse: Path, name: str, file: Path, *, append: bool = False) -> tuple[int, list[tuple[str, str]], int]:
    """Load `file` into table `name`; returns (rows loaded, [(column, type)], rows in the table now)."""
    import duckdb

    from airflow_mlprovider.backends.local.duckdb_lock import waiting_for_lock

    if not TABLE_NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not a plain table name (letters, digits, _; optionally schema.table)")
    if not file.is_file():
        raise ValueError(f"{file}: no such file")
    table = ".".join(f'"{part}"' for part in name.split("."))
    source = f"{reader_for(file)}('{str(file.resolve()).replace(chr(39), chr(39) * 2)}')"
    warehouse.parent.mkdir(parents=True, exist_ok=True)

    def load() -> tuple[int, list[tuple[str, str]], int]:
        with duckdb.connect(str(warehouse)) as con:
            if "." in name:
                con.execute(f'CREATE SCHEMA IF NOT EXISTS "{name.split(".")[0]}"')
            loaded = con.execute(f"SELECT count(*) FROM {source}").fetchone()[0]
            exists = con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?",
                                 [name.split(".")[0] if "." in name else "main", name.split(".")[-1]]).fetchone()[0]
            if append and exists:
                con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {source}")
            else:
                con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM {source}")
            columns = [(row[0], row[1]) for row in con.execute(f"DESCRIBE {table}").fetchall()]
            total = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        return loaded, columns, total

    return waiting_for_lock(load, f"loading {name}", timeout_s=120)


def run(args: argparse.Namespace) -> int:
    import duckdb

    try:
        warehouse = warehouse_path(args)
        loaded, columns, total = load_table(warehouse, args.name, Path(args.file), append=args.append)
    except (ValueError, OSError, duckdb.Error) as exc:
        print(f"load-table: {exc}", file=sys.stderr)
        return 1
    print(f"{'appended' if args.append else 'loaded'} {loaded} rows into {args.name} in {warehouse} "
          f"({total} rows, {len(columns)} columns)")
    for column, kind in columns:
        print(f"  {column}: {kind}")
    return 0
