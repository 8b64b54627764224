"""What the full-mode services need before anything uses them, made if missing (idempotent):
PostgreSQL databases, S3 buckets, and an emptied Redis database. Used by scripts/mlflow.sh and
scripts/up-full.sh; run with the project's Python (.venv/bin/python scripts/provision.py ...)."""

from __future__ import annotations

import argparse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--postgres", help="a server URL, e.g. postgresql://user@host:port/db")
    parser.add_argument("--database", action="append", default=[], help="create if missing")
    parser.add_argument("--s3", help="the S3 endpoint URL (MinIO, moto_server)")
    parser.add_argument("--bucket", action="append", default=[], help="create if missing")
    parser.add_argument("--flush-redis", help="a Redis URL whose database starts empty")
    args = parser.parse_args()
    if args.database:
        import sqlalchemy as sa

        engine = sa.create_engine(args.postgres, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            for name in args.database:
                exists = sa.text("select 1 from pg_database where datname = :name")
                if not connection.execute(exists, {"name": name}).first():
                    connection.execute(sa.text(f'create database "{name}"'))
        engine.dispose()
    if args.bucket:
        import boto3

        s3 = boto3.client("s3", endpoint_url=args.s3)
        existing = {bucket["Name"] for bucket in s3.list_buckets()["Buckets"]}
        for name in args.bucket:
            if name not in existing:
                s3.create_bucket(Bucket=name)
    if args.flush_redis:
        import redis

        redis.Redis.from_url(args.flush_redis).flushdb()


if __name__ == "__main__":
    main()
