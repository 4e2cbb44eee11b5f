#!/usr/bin/env python3
"""Reads an audit export with two independent CSV readers (Python's csv module and DuckDB's
read_csv) and checks both against what the event log holds (expected.json, written by
audit_csv_readers_test.cc from the log's events).

usage: audit_csv_check.py EXPORT.csv EXPECTED.json   (exit 0: both readers agree with the log)
"""
import csv
import json
import sys

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralized(value):
    """The rule, written independently of the C++ writer: a leading formula character gets a quote."""
    return "'" + value if value.startswith(FORMULA_START) else value


def check(reader_name, header, rows, expected):
    problems = []
    if header != expected["columns"]:
        problems.append(f"header {header!r} != {expected['columns']!r}")
    if len(rows) != len(expected["rows"]):
        problems.append(f"{len(rows)} rows, the log has {len(expected['rows'])}")
    for index, (row, want) in enumerate(zip(rows, expected["rows"])):
        cells = dict(zip(header, row))
        for column, value in want["cells"].items():
            if cells.get(column) != neutralized(value):
                problems.append(f"row {index} {column}: {cells.get(column)!r} != {neutralized(value)!r}")
        for cell in row:
            if cell.startswith(FORMULA_START):
                problems.append(f"row {index}: a cell starts like a formula: {cell!r}")
        try:
            details = json.loads(cells.get("details", ""))
        except ValueError as error:
            problems.append(f"row {index}: details is not JSON ({error}): {cells.get('details')!r}")
            continue
        for key, value in want["details"].items():
            if details.get(key) != value:
                problems.append(f"row {index} details.{key}: {details.get(key)!r} != {value!r}")
        for secret in expected.get("secrets", []):
            if any(secret in cell for cell in row):
                problems.append(f"row {index}: a secret appears in the export")
    for problem in problems[:20]:
        print(f"{reader_name}: {problem}", file=sys.stderr)
    return not problems


def read_with_csv_module(path):
    with open(path, newline="", encoding="utf-8") as f:  # strict UTF-8: fails on a bad byte
        records = list(csv.reader(f, strict=True))
    return records[0], records[1:]


def read_with_duckdb(path, columns):
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads = 1")
    rel = con.execute(
        "SELECT * FROM read_csv(?, header = true, all_varchar = true, delim = ',', quote = '\"', "
        "escape = '\"', auto_detect = false, columns = ?)",
        [path, {name: "VARCHAR" for name in columns}],
    )
    header = [d[0] for d in rel.description]
    # DuckDB reads an empty unquoted field as NULL.
    rows = [["" if v is None else v for v in row] for row in rel.fetchall()]
    return header, rows


def main():
    path, expected_path = sys.argv[1], sys.argv[2]
    with open(expected_path, encoding="utf-8") as f:
        expected = json.load(f)
    ok = True
    header, rows = read_with_csv_module(path)
    ok &= check("python-csv", header, rows, expected)
    header, rows = read_with_duckdb(path, expected["columns"])
    ok &= check("duckdb", header, rows, expected)
    print(f"python-csv and duckdb: {len(rows)} rows checked against the log", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
