#!/usr/bin/env python3
"""Audit export: `clawvisor audit export` beside DuckDB's COPY ... TO ... (FORMAT CSV), same run.

  ops/bench/audit_export_bench.py [--events N] [--build DIR] [--dir DIR]

1. `audit_export_bench generate` writes N events of one account into a fresh data directory.
2. `clawvisor audit export` writes them as CSV (one thread), timed, peak RSS from wait4().
3. The same rows are loaded into a DuckDB database (untimed), then DuckDB, in a fresh process
   with `SET threads = 1`, runs COPY (SELECT * FROM rows) TO '...' (FORMAT CSV, HEADER), timed
   inside the process, peak RSS from wait4().
DuckDB comes from PyPI through ops/fetch-duckdb.sh (cached outside the repository).
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def peak_rss_mib(argv):
    """Runs argv with wait4 to learn its peak RSS; returns (wall, rss MiB, stdout, stderr)."""
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # communicate() would reap the child itself; read the pipes, then wait4 for the rusage.
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - started
    if proc.returncode != 0:
        sys.exit(f"{argv[0]} failed ({proc.returncode}):\n{err.decode()}")
    return wall, usage.ru_maxrss / 1024.0, out.decode(), err.decode()


DUCKDB_COPY = r"""
import sys, time, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
con.execute("SET threads = 1")
con.execute("SET enable_progress_bar = false")
con.execute("SET preserve_insertion_order = true")
started = time.monotonic()
con.execute(f"COPY (SELECT * FROM rows) TO '{sys.argv[2]}' (FORMAT CSV, HEADER)")
print(time.monotonic() - started)
"""

DUCKDB_LOAD = r"""
import sys, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("SET enable_progress_bar = false")
con.execute("CREATE TABLE rows AS SELECT * FROM read_csv(?, header = true, all_varchar = true, "
            "delim = ',', quote = '\"', escape = '\"')", [sys.argv[2]])
print(con.execute("SELECT count(*) FROM rows").fetchone()[0])
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    parser.add_argument("--dir", default=None, help="scratch directory (default: under /var/tmp)")
    args = parser.parse_args()

    clawvisor = os.path.join(args.build, "adapters/cli/clawvisor")
    generator = os.path.join(args.build, "ops/bench/audit_export_bench")
    for binary in (clawvisor, generator):
        if not os.access(binary, os.X_OK):
            sys.exit(f"{binary} is missing: build it (ninja -C {args.build} clawvisor audit_export_bench)")
    python = subprocess.run([os.path.join(ROOT, "ops/fetch-duckdb.sh")], check=True,
                            capture_output=True, text=True).stdout.strip()
    scratch = tempfile.mkdtemp(prefix="clawvisor-audit-bench-", dir=args.dir or "/var/tmp")
    try:
        data = os.path.join(scratch, "data")
        print(f"generating {args.events} events ...", file=sys.stderr)
        subprocess.run([generator, "generate", "--data-dir", data, "--events", str(args.events)],
                       check=True, stdout=subprocess.DEVNULL)
        ours_csv = os.path.join(scratch, "clawvisor.csv")
        wall, ours_rss, _, err = peak_rss_mib(
            [clawvisor, "audit", "export", "--data-dir", data, "--account", "acct_bench",
             "--reveal-personal-data", "-o", ours_csv])
        summary = [l for l in err.splitlines() if l.startswith("exported ")][-1]
        ours_rows = int(summary.split()[1])
        ours_seconds = float(summary.split(" in ")[1].split()[0])  # the export itself
        ours_bytes = os.path.getsize(ours_csv)

        db = os.path.join(scratch, "rows.duckdb")
        loaded = subprocess.run([python, "-c", DUCKDB_LOAD, db, ours_csv], check=True,
                                capture_output=True, text=True).stdout.strip()
        duck_csv = os.path.join(scratch, "duckdb.csv")
        _, duck_rss, out, _ = peak_rss_mib([python, "-c", DUCKDB_COPY, db, duck_csv])
        duck_seconds = float(out.strip().splitlines()[-1])
        duck_rows = int(loaded.splitlines()[-1])
        duck_bytes = os.path.getsize(duck_csv)
        # The interpreter and DuckDB's library before any query, to read DuckDB's RSS fairly.
        _, idle_rss, _, _ = peak_rss_mib([python, "-c", "import duckdb; duckdb.connect()"])

        print(f"\naudit export of {args.events} events of one account, one thread each "
              f"(same rows, same machine, same run)")
        print(f"{'':34} {'rows':>9} {'seconds':>8} {'rows/s':>10} {'peak RSS MiB':>13} {'MiB out':>8}")
        print(f"{'clawvisor audit export':34} {ours_rows:>9} {ours_seconds:>8.2f} "
              f"{ours_rows / ours_seconds:>10.0f} {ours_rss:>13.1f} {ours_bytes / 2**20:>8.1f}")
        print(f"{'duckdb COPY ... TO (FORMAT CSV)':34} {duck_rows:>9} {duck_seconds:>8.2f} "
              f"{duck_rows / duck_seconds:>10.0f} {duck_rss:>13.1f} {duck_bytes / 2**20:>8.1f}")
        print(f"(clawvisor: read from its RocksDB log, decode, map, quote, neutralize, write; its "
              f"wall time with start-up was {wall:.2f} s. DuckDB: from its own table file; "
              f"python+duckdb idle RSS {idle_rss:.1f} MiB.)")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
