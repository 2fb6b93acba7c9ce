"""Reads the analytics warehouse's Parquet files with DuckDB and prints
their totals as JSON: rows, rows per event name, distinct visitors,
pageviews per date partition.

usage: warehouse_counts.py <events directory> <copy directory>

Objects in Folio's disk blob store begin with one JSON header line (content
type, etag) before the object's bytes, so the files are copied without it
first; on S3 the objects are the Parquet files themselves.
"""
import glob
import json
import os
import sys

import duckdb

root, copies = sys.argv[1], sys.argv[2]
for path in glob.glob(f"{root}/*/*.parquet"):
    with open(path, "rb") as stored:
        stored.readline()
        data = stored.read()
    target = os.path.join(copies, os.path.relpath(path, root))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "wb") as copy:
        copy.write(data)
files = f"{copies}/*/*.parquet"
con = duckdb.connect()
source = f"read_parquet('{files}', hive_partitioning = true)"
rows = con.execute(f"SELECT count(*) FROM {source}").fetchone()[0]
by_name = dict(con.execute(f"SELECT name, count(*) FROM {source} GROUP BY name").fetchall())
visitors = con.execute(f"SELECT count(DISTINCT visitor) FROM {source} WHERE visitor IS NOT NULL").fetchone()[0]
by_date = {
    str(d): n
    for d, n in con.execute(
        f"SELECT date, count(*) FILTER (WHERE name = 'pageview') FROM {source} GROUP BY date"
    ).fetchall()
}
read = con.execute(
    f"SELECT sum(seconds), sum(depth) FROM {source} WHERE name = 'read'"
).fetchone()
print(json.dumps({
    "rows": rows,
    "byName": by_name,
    "visitors": visitors,
    "pageviewsByDate": by_date,
    "readSeconds": read[0],
    "readDepth": read[1],
}))
