"""VEO_MCP_STORAGE_URL: finished videos go to an S3-compatible store and the url in results is a presigned link to
the stored copy. Tested against moto's S3 server on a loopback port (no external service)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import boto3
import pytest
from moto.server import ThreadedMotoServer

from tests.delivery.conftest import FAST, generate_and_wait, http, serving

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def _bucket(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=CREDENTIALS["AWS_DEFAULT_REGION"],
    )


def test_finished_videos_are_stored_and_linked_by_presigned_urls(tmp_path: Path, s3_endpoint: str) -> None:
    s3 = _bucket(s3_endpoint)
    s3.create_bucket(Bucket="videos")
    env = {**FAST, **CREDENTIALS, "VEO_MCP_STORAGE_URL": "s3://videos/team", "VEO_MCP_STORAGE_ENDPOINT": s3_endpoint}
    with serving(tmp_path, **env) as served:
        task_id, state = anyio.run(generate_and_wait, served.mcp_url, "a paper boat")
        saved = state["files"][0]
        data = Path(saved["path"]).read_bytes()
        with http() as client:
            fetched = client.get(saved["url"])
            part = client.get(saved["url"], headers={"Range": "bytes=0-99"})
    key = "team/" + Path(saved["path"]).relative_to(served.output_dir).as_posix()
    stored = s3.get_object(Bucket="videos", Key=key)
    assert saved["url"].startswith(f"{s3_endpoint}/videos/{key}?") and "Signature" in saved["url"]
    assert fetched.status_code == 200 and fetched.content == data
    assert part.status_code == 206 and part.content == data[:100]
    assert stored["ContentType"] == "video/mp4" and stored["Body"].read() == data
    assert key.endswith(".mp4") and task_id.rsplit("-", 1)[-1] in key
