"""The cloud stores are built from the same words everywhere: a URL or `project.dataset`, and
mistakes in them are sentences with what to write instead."""

from __future__ import annotations

import json

import pytest

from purelink.errors import PurelinkError
from purelink.runtime.destinations.bigquery_client import client
from purelink.runtime.errors import RuntimeFailure
from purelink.storage.base import parse_url
from purelink.storage.bigquery import BigQueryStore
from purelink.storage.iceberg import IcebergStore, catalog_properties


def test_bigquery_store_from_dotted_name_and_from_url_is_the_same_place():
    dotted = BigQueryStore("acme-prod.raw", endpoint="http://127.0.0.1:9050")
    url = BigQueryStore(parse_url("bigquery://acme-prod/raw?endpoint=http://127.0.0.1:9050"))
    assert (dotted.project, dotted.dataset, dotted.endpoint) == (url.project, url.dataset, url.endpoint) == \
        ("acme-prod", "raw", "http://127.0.0.1:9050")
    assert dotted.location() == "acme-prod.raw"
    assert dotted.destination().location() == "bigquery://acme-prod/raw"


@pytest.mark.parametrize("name", ["justadataset", "a.b.c", ".raw"])
def test_a_bigquery_name_without_project_and_dataset_says_how_to_write_it(name):
    with pytest.raises(PurelinkError) as failure:
        BigQueryStore(name)
    assert "PROJECT.DATASET" in failure.value.guidance


def test_a_service_account_secret_that_is_not_a_key_file_is_named_not_shown(monkeypatch):
    monkeypatch.setenv("BQ_KEY", "not-json-s3cr3t")
    with pytest.raises(RuntimeFailure) as failure:
        client("acme-prod", credential="BQ_KEY")
    assert "BQ_KEY" in str(failure.value) and "s3cr3t" not in str(failure.value)
    assert "service-account" in str(failure.value).lower() or "service account" in str(failure.value).lower()


def test_without_endpoint_or_credential_bigquery_asks_for_a_key():
    with pytest.raises(RuntimeFailure) as failure:
        client("acme-prod")
    assert "--destination-credential" in failure.value.guidance


def test_a_service_account_key_builds_a_client(monkeypatch):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    monkeypatch.setenv("BQ_KEY", json.dumps({
        "type": "service_account", "project_id": "acme-prod", "private_key_id": "k1", "private_key": pem,
        "client_email": "loader@acme-prod.iam.gserviceaccount.com", "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token"}))
    bq = client("acme-prod", credential="BQ_KEY")
    assert bq.project == "acme-prod"
    assert bq._credentials.service_account_email == "loader@acme-prod.iam.gserviceaccount.com"


def test_iceberg_urls_name_a_catalog_and_a_warehouse(tmp_path):
    local = catalog_properties(parse_url(f"iceberg://{tmp_path}/wh"))
    assert local == {"uri": f"sqlite:///{tmp_path}/wh/catalog.db", "warehouse": (tmp_path / "wh").as_uri()}
    remote = catalog_properties(parse_url(
        "iceberg+postgresql://etl@db.internal:5432/lake?warehouse=s3://bucket/prefix&endpoint=http://minio:9000"))
    assert remote == {"uri": "postgresql+psycopg://etl@db.internal:5432/lake", "warehouse": "s3://bucket/prefix",
                      "s3.endpoint": "http://minio:9000", "s3.region": "us-east-1"}


@pytest.mark.parametrize(("url", "hint"), [
    ("iceberg://relative/wh", "absolute path"),
    ("iceberg+postgresql://etl@db/lake", "?warehouse=s3://"),
])
def test_iceberg_url_mistakes_say_what_to_write(url, hint):
    with pytest.raises(PurelinkError) as failure:
        IcebergStore(url)
    assert hint in failure.value.guidance


def test_an_s3_secret_that_is_not_a_key_pair_is_named_not_shown(monkeypatch):
    from purelink.runtime.destinations.iceberg import with_secrets

    monkeypatch.setenv("LAKE_KEYS", "onlyonehalf")
    with pytest.raises(RuntimeFailure) as failure:
        with_secrets({"uri": "sqlite:///x.db"}, password=None, s3_credential="LAKE_KEYS")
    assert "LAKE_KEYS" in str(failure.value) and "onlyonehalf" not in str(failure.value)
    monkeypatch.setenv("LAKE_KEYS", "AKIAEXAMPLE:wJalrXUtnFEMI")
    props = with_secrets({"uri": "sqlite:///x.db"}, password=None, s3_credential="LAKE_KEYS")
    assert (props["s3.access-key-id"], props["s3.secret-access-key"]) == ("AKIAEXAMPLE", "wJalrXUtnFEMI")
