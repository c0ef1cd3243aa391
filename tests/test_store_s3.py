"""The lake's table files in S3-compatible object storage (BORDERWATCH_DATA_PATH=s3://...),
against a real server (moto's, tests/s3server.py) that checks credentials and signatures."""
from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time

import duckdb
import pytest

import queries
from borderwatch import backup, demo, objectstore, reference
from borderwatch.store import Store, StoreError, load_extension
from store_helpers import add_incidents, cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SECOND_PROCESS = """
import sys
from borderwatch.store import Store
store = Store(sys.argv[1])
print(store.cursor().execute("SELECT count(*) FROM incidents WHERE dataset = 'from-s3'").fetchone()[0])
"""


@pytest.fixture(params=["embedded", "postgresql"])
def s3_store(request, s3_lake, tmp_path):
    """A store whose table files are in a fresh bucket, with each kind of catalog."""
    if request.param == "postgresql":
        catalog = request.getfixturevalue("postgres").create_database()
        request.getfixturevalue("monkeypatch").setenv("BORDERWATCH_CATALOG", catalog)
    store = Store(tmp_path / "store")
    assert store.kind == request.param and store.s3 is not None and store.data_dir is None
    yield store, *s3_lake
    store.close()


def test_scenario_in_a_bucket_read_by_queries_and_another_process(s3_store, tmp_path):
    store, server, bucket = s3_store
    summary = demo.build_demo(store, incidents=300, show_progress=False)
    assert summary["incidents"] == 300
    time.sleep(1.2)
    before = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
    time.sleep(1.2)
    assert add_incidents(store, "from-s3", 12) == 12
    total = queries.df("count_rows", store=store, idents={"table": "incidents"}).iloc[0, 0]
    assert total == 312
    # time travel reads the objects of an older snapshot
    then = Store(store.path, as_of=before)
    assert queries.df("count_rows", store=then, idents={"table": "incidents"}).iloc[0, 0] == 300
    then.close()
    # the table files are objects in the bucket, under the data path's prefix; none on local disk
    keys = server.keys(bucket)
    parquet = [k for k in keys if k.endswith(".parquet")]
    assert parquet and all(k.startswith("lake/") for k in keys)
    assert any("/incidents/" in k for k in parquet)
    assert not (tmp_path / "store" / "files").exists()
    # a second process, configured by the same environment, sees the rows
    proc = subprocess.run([sys.executable, "-c", SECOND_PROCESS, str(store.path)], capture_output=True, text=True,
                          timeout=180, env=dict(os.environ, PYTHONPATH=ROOT), cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "12"
    # `store info` shows where the files are, without the secret key
    info = cli("store", "info", env={"BORDERWATCH_STORE": str(store.path)})
    assert info.returncode == 0, info.stderr
    assert f"s3://{bucket}/lake/ at {server.endpoint}" in info.stdout
    assert "path-style URLs" in info.stdout and "TLS off" in info.stdout
    assert server.secret not in info.stdout and server.key_id not in info.stdout
    assert "312" in info.stdout.replace(",", "")


def _nothing_written(server, bucket: str, store_dir) -> None:
    assert server.keys(bucket) == []
    assert not (store_dir / "catalog.sqlite").exists()


@pytest.mark.parametrize("case", ["wrong secret", "unknown key", "missing bucket", "unreachable endpoint"])
def test_wrong_object_store_settings_say_so_in_one_sentence(case, s3_lake, tmp_path, monkeypatch):
    import pg

    server, bucket = s3_lake
    expected = {
        "wrong secret": "refused the access key",
        "unknown key": "refused the access key",
        "missing bucket": "the bucket 'no-such-bucket' does not exist",
        "unreachable endpoint": "cannot reach the object store at http://127.0.0.1:",
    }[case]
    wrong_secret = "not-the-" + server.secret
    if case == "wrong secret":
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", wrong_secret)
    elif case == "unknown key":
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAUNKNOWNKEY000000")
    elif case == "missing bucket":
        monkeypatch.setenv("BORDERWATCH_DATA_PATH", "s3://no-such-bucket/lake/")
    else:
        monkeypatch.setenv("BORDERWATCH_S3_ENDPOINT", f"http://127.0.0.1:{pg.free_port()}")
    store = Store(tmp_path / "store", catalog="")
    with pytest.raises(StoreError) as err:
        store.cursor()
    text = str(err.value)
    assert expected in text and "\n" not in text, text
    assert server.secret not in text and wrong_secret not in text
    _nothing_written(server, bucket, tmp_path / "store")
    # the command line says the same in one line on stderr, exit status 2
    proc = cli("store", "info", env={"BORDERWATCH_STORE": str(tmp_path / "store"), "BORDERWATCH_CATALOG": ""})
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], proc.stderr
    _nothing_written(server, bucket, tmp_path / "store")


@pytest.mark.parametrize("env, words", [
    ({"AWS_ACCESS_KEY_ID": ""}, "needs the object store's access key in AWS_ACCESS_KEY_ID"),
    ({"BORDERWATCH_S3_URL_STYLE": "sideways"}, "must be 'path' or 'vhost'"),
    ({"BORDERWATCH_S3_ENDPOINT": "ftp://host:21"}, "must be http://HOST:PORT or https://HOST[:PORT]"),
    ({"BORDERWATCH_S3_ENDPOINT": "host/with/path"}, "must be a host name with an optional port"),
    ({"BORDERWATCH_S3_ENDPOINT": "https://h:9000", "BORDERWATCH_S3_USE_SSL": "false"}, "says https:// but"),
    ({"BORDERWATCH_S3_USE_SSL": "maybe"}, "must be true or false"),
    ({"BORDERWATCH_DATA_PATH": "s3://Bad_Bucket/x/"}, "bucket name of 3 to 63"),
    ({"BORDERWATCH_DATA_PATH": "s3://bucket/../x/"}, "may not contain"),
    ({"AWS_SECRET_ACCESS_KEY": "abc\ndef"}, "AWS_SECRET_ACCESS_KEY contains a control character"),
])
def test_object_store_settings_are_checked(env, words):
    base = {"BORDERWATCH_DATA_PATH": "s3://bucket/lake/", "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE0000",
            "AWS_SECRET_ACCESS_KEY": "secret", "BORDERWATCH_S3_ENDPOINT": "http://127.0.0.1:9000"}
    base.update(env)
    with pytest.raises(StoreError) as err:
        objectstore.S3DataPath.parse(base["BORDERWATCH_DATA_PATH"], base)
    assert words in str(err.value) and "\n" not in str(err.value)
    assert "abc" not in str(err.value)


def test_secret_values_are_escaped_not_spliced():
    hostile = "x'); CREATE TABLE pwned AS SELECT 1; --"
    s3 = objectstore.S3DataPath.parse("s3://bucket/a/b", {
        "AWS_ACCESS_KEY_ID": "AKIA'QUOTE", "AWS_SECRET_ACCESS_KEY": hostile, "AWS_REGION": "eu-west-1",
        "BORDERWATCH_S3_ENDPOINT": "https://objects.example.org:9000"})
    assert s3.url == "s3://bucket/a/b/" and s3.use_ssl and s3.url_style == "path"
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False,
                                 "allow_unredacted_secrets": True})
    load_extension(con, "httpfs")
    con.execute(s3.secret_sql())
    row = con.execute("SELECT secret_string FROM duckdb_secrets(redact := false)").fetchone()[0]
    assert f"secret={hostile}" in row and "key_id=AKIA'QUOTE" in row and "endpoint=objects.example.org:9000" in row
    assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'pwned'").fetchone()[0] == 0
    assert hostile not in s3.display() and "AKIA'QUOTE" not in s3.display()
    assert s3.scrub(f"error {hostile}") == "error ***"


def test_backup_of_an_s3_lake_and_restore_into_another_prefix(s3_lake, tmp_path, monkeypatch):
    server, bucket = s3_lake
    monkeypatch.setenv("BORDERWATCH_CATALOG", "")
    monkeypatch.setenv("BORDERWATCH_HISTORY_DAYS", "0")
    store = Store(tmp_path / "store")
    reference.load_into(store)
    for batch in range(3):
        add_incidents(store, f"from-s3-{batch}", 300)
    counts = backup.row_counts(store)
    # compaction merges the objects and deletes the merged ones from the bucket
    assert len([k for k in server.keys(bucket) if "/incidents/" in k]) == 3
    store.compact()
    assert len([k for k in server.keys(bucket) if "/incidents/" in k]) == 1
    assert backup.row_counts(store) == counts
    env = {"BORDERWATCH_STORE": str(store.path)}
    proc = cli("store", "backup", str(tmp_path / "backup"), env=env)
    assert proc.returncode == 0, proc.stderr
    assert backup.read_manifest(tmp_path / "backup")["tables"] == counts
    assert list((tmp_path / "backup" / "files").rglob("*.parquet"))  # the backup is local
    # restore into a second store whose files go to another prefix of the bucket
    env = {"BORDERWATCH_STORE": str(tmp_path / "restored"), "BORDERWATCH_DATA_PATH": f"s3://{bucket}/restored/"}
    proc = cli("store", "restore", str(tmp_path / "backup"), env=env)
    assert proc.returncode == 0, proc.stderr
    restored = Store(tmp_path / "restored", data_path=f"s3://{bucket}/restored/")
    assert backup.row_counts(restored) == counts
    assert any(k.startswith("restored/") and k.endswith(".parquet") for k in server.keys(bucket))
    again = cli("store", "restore", str(tmp_path / "backup"), env=env)
    assert again.returncode == 2 and "already holds data" in again.stderr


def test_migrate_embedded_store_to_postgresql_and_a_bucket(tmp_path, postgres, s3_lake, monkeypatch):
    server, bucket = s3_lake
    monkeypatch.delenv("BORDERWATCH_DATA_PATH")
    store = Store(tmp_path / "store", catalog="")
    assert store.s3 is None and store.data_dir == tmp_path / "store" / "files"
    reference.load_into(store)
    add_incidents(store, "before-migration", 30)
    counts = backup.row_counts(store)
    store.close()
    url = postgres.create_database()
    proc = cli("store", "migrate", "--to", url, "--data-path", f"s3://{bucket}/moved/",
               env={"BORDERWATCH_STORE": str(tmp_path / "store"), "BORDERWATCH_CATALOG": ""})
    assert proc.returncode == 0, proc.stderr
    assert f"BORDERWATCH_DATA_PATH='s3://{bucket}/moved/'" in proc.stdout
    assert server.secret not in proc.stdout + proc.stderr
    moved = Store(tmp_path / "store", catalog=url, data_path=f"s3://{bucket}/moved/")
    assert backup.row_counts(moved) == counts
    assert any(k.startswith("moved/") and k.endswith(".parquet") for k in server.keys(bucket))


# -- credentials from the AWS credential chain (BORDERWATCH_S3_CREDENTIALS=chain) ----------------
@pytest.fixture
def chain_home(s3_lake, tmp_path, monkeypatch):
    """No key in the environment: an AWS shared credentials file and config file in a fresh HOME
    (as an instance's ~/.aws would be), named by AWS_SHARED_CREDENTIALS_FILE / AWS_CONFIG_FILE.
    Yields (server, bucket, write the credentials file)."""
    server, bucket = s3_lake
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / ".aws" / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / ".aws" / "config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance here: never ask 169.254.169.254
    monkeypatch.setenv("BORDERWATCH_S3_CREDENTIALS", "chain")
    (home / ".aws" / "config").write_text("[default]\nregion = us-east-1\n\n[profile site]\nregion = us-east-1\n")

    def credentials(key_id: str, secret: str, profile: str = "default") -> None:
        (home / ".aws" / "credentials").write_text(
            f"[{profile}]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n")

    yield server, bucket, credentials


@pytest.mark.parametrize("profile", ["default", "site"])
def test_credential_chain_reads_the_shared_credentials_file(chain_home, tmp_path, monkeypatch, profile):
    server, bucket, credentials = chain_home
    credentials(server.key_id, server.secret, profile)
    if profile != "default":
        monkeypatch.setenv("AWS_PROFILE", profile)
    store = Store(tmp_path / "store", catalog="")
    assert store.s3.chain == "" and store.s3.key_id == ""
    assert add_incidents(store, "from-chain", 700) == 700
    assert store.cursor().execute("SELECT count(*) FROM incidents WHERE dataset = 'from-chain'").fetchone()[0] == 700
    store.close()
    # another process, configured the same way, reads them; `store info` names the chain, not the key
    proc = subprocess.run([sys.executable, "-c", SECOND_PROCESS.replace("from-s3", "from-chain"), str(store.path)],
                          capture_output=True, text=True, timeout=180, env=dict(os.environ, PYTHONPATH=ROOT), cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "700"
    info = cli("store", "info", env={"BORDERWATCH_STORE": str(store.path), "BORDERWATCH_CATALOG": ""})
    assert info.returncode == 0, info.stderr
    assert "credentials from the AWS credential chain" in info.stdout
    assert server.secret not in info.stdout and server.key_id not in info.stdout
    monkeypatch.delenv("AWS_PROFILE", raising=False)  # the test's own S3 client below uses its own key
    assert any(k.startswith("lake/") and k.endswith(".parquet") for k in server.keys(bucket))


@pytest.mark.parametrize("case", ["wrong secret in the file", "no credentials anywhere"])
def test_credential_chain_problems_say_so_in_one_sentence(case, chain_home, tmp_path, monkeypatch):
    server, bucket, credentials = chain_home
    if case == "wrong secret in the file":
        credentials(server.key_id, "not-the-" + server.secret)
        expected = "refused the access key"
    else:
        monkeypatch.setenv("BORDERWATCH_S3_CREDENTIAL_CHAIN", "env;config")
        expected = "the AWS credential chain found no credentials for the object store in the providers env;config"
    store = Store(tmp_path / "store", catalog="")
    with pytest.raises(StoreError) as err:
        store.cursor()
    text = str(err.value)
    assert expected in text and "\n" not in text, text
    assert server.secret not in text and "not-the-" not in text
    if case == "wrong secret in the file":
        assert "AWS credential chain finds" in text
    _nothing_written(server, bucket, tmp_path / "store")
    proc = cli("store", "info", env={"BORDERWATCH_STORE": str(tmp_path / "store"), "BORDERWATCH_CATALOG": ""})
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], proc.stderr


@pytest.mark.parametrize("env, words", [
    ({"BORDERWATCH_S3_CREDENTIALS": "vault"}, "must be 'env' or 'chain'"),
    ({"BORDERWATCH_S3_CREDENTIALS": "chain", "BORDERWATCH_S3_CREDENTIAL_CHAIN": "config;magic"},
     "unknown provider(s) 'magic'"),
    ({"BORDERWATCH_S3_CREDENTIAL_CHAIN": "config"}, "needs BORDERWATCH_S3_CREDENTIALS=chain"),
])
def test_credential_settings_are_checked(env, words):
    base = {"BORDERWATCH_DATA_PATH": "s3://bucket/lake/", "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE0000",
            "AWS_SECRET_ACCESS_KEY": "secret", **env}
    with pytest.raises(StoreError) as err:
        objectstore.S3DataPath.parse(base["BORDERWATCH_DATA_PATH"], base)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_chain_secret_names_its_providers_and_no_key():
    s3 = objectstore.S3DataPath.parse("s3://bucket/lake/", {
        "BORDERWATCH_S3_CREDENTIALS": "chain", "BORDERWATCH_S3_CREDENTIAL_CHAIN": "config; instance",
        "AWS_ACCESS_KEY_ID": "AKIAIGNOREDKEY00", "AWS_SECRET_ACCESS_KEY": "ignored"})
    sql = s3.secret_sql()
    assert "PROVIDER credential_chain" in sql and "CHAIN 'config;instance'" in sql and "REFRESH 'auto'" in sql
    assert "AKIAIGNOREDKEY00" not in sql and "ignored" not in sql and "REGION" not in sql
    assert "credential chain (config;instance)" in s3.display() and "region from the AWS configuration" in s3.display()
