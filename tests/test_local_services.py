"""LocalPostgres and LocalRedis start real servers on 127.0.0.1, accept clients, and stop cleanly."""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from airflow_mlprovider import local_services
from airflow_mlprovider.local_services import LocalPostgres, LocalRedis, LocalServiceError
from tests.integration.demo_session import free_port as _free_port
from tests.integration.demo_session import port_open as _listening


@pytest.fixture
def state_dir():
    # pytest's tmp_path sits under a 0700 root folder the postgres system user cannot traverse
    path = Path(tempfile.mkdtemp(prefix="mlp-services-"))
    os.chmod(path, 0o711)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server missing: make sysdeps")
def test_postgres_and_redis_start_serve_and_stop(state_dir):
    import psycopg2
    import redis
    from sqlalchemy.engine import make_url

    pg_port, redis_port = _free_port(), _free_port()
    pg, rd = LocalPostgres(state_dir / "pg", pg_port), LocalRedis(state_dir / "redis", redis_port)
    try:
        url = pg.start()
        assert url == f"postgresql+psycopg2://airflow:airflow@127.0.0.1:{pg_port}/airflow"
        parts = make_url(url)
        with psycopg2.connect(host=parts.host, port=parts.port, user=parts.username, password=parts.password, dbname=parts.database) as con:
            with con.cursor() as cur:
                cur.execute("CREATE TABLE t (x int)")  # the airflow role owns its database
                cur.execute("SELECT current_user, current_database()")
                assert cur.fetchone() == ("airflow", "airflow")
        assert (state_dir / "pg" / f".s.PGSQL.{pg_port}").exists()  # socket inside the data dir

        assert rd.start() == f"redis://127.0.0.1:{redis_port}/0"
        client = redis.Redis.from_url(rd.url)
        assert client.set("k", "v") and client.get("k") == b"v"
        client.close()
    finally:
        pg.stop()
        rd.stop()
    assert not _listening(pg_port) and not _listening(redis_port)
    pg.stop()  # idempotent
    rd.stop()

    # a second start reuses the cluster: the table and the role survive
    again = LocalPostgres(state_dir / "pg", pg_port)
    try:
        parts = make_url(again.start())
        with psycopg2.connect(host=parts.host, port=parts.port, user="airflow", password="airflow", dbname="airflow") as con:
            with con.cursor() as cur:
                cur.execute("SELECT count(*) FROM t")
                assert cur.fetchone() == (0,)
    finally:
        again.stop()


def test_missing_binaries_name_make_sysdeps(monkeypatch, state_dir):
    monkeypatch.setattr(local_services.shutil, "which", lambda name: None)
    monkeypatch.setattr(local_services.glob, "glob", lambda pattern: [])
    with pytest.raises(LocalServiceError, match="make sysdeps"):
        LocalPostgres(state_dir / "pg", _free_port()).start()
