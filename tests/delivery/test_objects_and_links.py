"""The object store and the links of saved videos, driven in this process (the served tests reach them through a
`veo-mcp serve` process, which mutation testing cannot see): what is uploaded and when, what a presigned link
fetches, when the server's own link is given instead, and where the link key comes from."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer

from tests.helpers import service_settings
from veo_mcp.delivery import LinkSigner, VideoLinks, link_key
from veo_mcp.delivery.links import KEY_FILE, LinkKeyError, listening_base
from veo_mcp.delivery.objects import ObjectStore, StorageUnavailableError

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        httpx.post(f"http://{host}:{port}/moto-api/reset").raise_for_status()  # moto's buckets outlive its servers
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def _s3(endpoint: str) -> Any:
    return boto3.client("s3", endpoint_url=endpoint)


def _video(folder: Path, name: str = "clip.mp4", content: bytes = b"\0\0\0\x18ftypmp42" + b"x" * 100) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(content)
    return path


class Counted:
    """The store's boto3 client, counting uploads (moto answers the calls)."""

    def __init__(self, store: ObjectStore) -> None:
        self.uploads: list[str] = []
        client = store._s3()
        real = client.upload_file

        def upload_file(filename: str, bucket: str, key: str, **options: Any) -> None:
            self.uploads.append(key)
            real(filename, bucket, key, **options)

        client.upload_file = upload_file  # type: ignore[method-assign]


def test_the_store_is_made_from_the_settings_only_when_asked_for_and_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert ObjectStore.for_settings(service_settings(tmp_path)) is None
    store = ObjectStore.for_settings(
        service_settings(tmp_path, storage_url="s3://videos/team/clips", storage_endpoint="http://127.0.0.1:9")
    )
    assert store is not None and store.bucket == "videos" and store.key_of("a/b.mp4") == "team/clips/a/b.mp4"
    assert ObjectStore("s3://videos", None).key_of("b.mp4") == "b.mp4"  # no prefix: no leading slash
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None if name == "boto3" else object())
    with pytest.raises(StorageUnavailableError) as refused:
        ObjectStore.for_settings(service_settings(tmp_path, storage_url="s3://videos"))
    assert str(refused.value) == (
        "VEO_MCP_STORAGE_URL is set, but boto3 (the s3 extra) is not installed. Install the extra "
        "(pip install 'veo-mcp[s3]') or unset VEO_MCP_STORAGE_URL."
    )


async def test_a_video_is_uploaded_once_as_mp4_and_again_only_when_it_changes(tmp_path: Path, endpoint: str) -> None:
    s3 = _s3(endpoint)
    s3.create_bucket(Bucket="videos")
    store = ObjectStore("s3://videos/team", endpoint)
    counted = Counted(store)
    path = _video(tmp_path)
    assert await store.upload(path, "alice/clip.mp4") is True
    assert await store.upload(path, "alice/clip.mp4") is True
    assert counted.uploads == ["team/alice/clip.mp4"]  # remembered: not sent twice
    stored = s3.get_object(Bucket="videos", Key="team/alice/clip.mp4")
    assert stored["ContentType"] == "video/mp4" and stored["Body"].read() == path.read_bytes()
    path.write_bytes(path.read_bytes() + b"more")  # the file changed: sent again
    assert await store.upload(path, "alice/clip.mp4") is True
    assert counted.uploads == ["team/alice/clip.mp4"] * 2
    assert s3.get_object(Bucket="videos", Key="team/alice/clip.mp4")["Body"].read() == path.read_bytes()


async def test_after_a_restart_a_stored_copy_of_the_same_size_is_not_sent_again(tmp_path: Path, endpoint: str) -> None:
    s3 = _s3(endpoint)
    s3.create_bucket(Bucket="videos")
    path = _video(tmp_path)
    s3.put_object(Bucket="videos", Key="clip.mp4", Body=path.read_bytes())
    s3.put_object(Bucket="videos", Key="short.mp4", Body=b"cut off")  # a partial upload of another run
    short = _video(tmp_path, "short.mp4")
    restarted = ObjectStore("s3://videos", endpoint)
    counted = Counted(restarted)
    assert await restarted.upload(path, "clip.mp4") is True
    assert await restarted.upload(short, "short.mp4") is True
    assert counted.uploads == ["short.mp4"]  # HEAD said the same size for clip.mp4
    assert s3.get_object(Bucket="videos", Key="short.mp4")["Body"].read() == short.read_bytes()


async def test_a_store_that_refuses_or_a_missing_file_gives_no_link_and_says_why(
    tmp_path: Path, endpoint: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = ObjectStore("s3://no-such-bucket", endpoint)
    path = _video(tmp_path)
    with caplog.at_level(logging.WARNING, logger="veo_mcp.delivery.objects"):
        assert await store.upload(path, "clip.mp4") is False
        assert await store.presigned(path, "clip.mp4", 60) is None
    said = [r.getMessage() for r in caplog.records if r.name == "veo_mcp.delivery.objects"]
    assert len(said) == 2 and all(m.startswith("could not store clip.mp4 in s3://no-such-bucket: ") for m in said)
    _s3(endpoint).create_bucket(Bucket="no-such-bucket")
    assert await store.upload(path, "clip.mp4") is True  # not remembered as stored while it failed
    assert await store.upload(tmp_path / "gone.mp4", "gone.mp4") is False


async def test_a_presigned_link_fetches_the_stored_video_until_it_expires(tmp_path: Path, endpoint: str) -> None:
    _s3(endpoint).create_bucket(Bucket="videos")
    store = ObjectStore("s3://videos/team", endpoint)
    path = _video(tmp_path)
    url = await store.presigned(path, "alice/clip.mp4", 600)
    assert url is not None and url.startswith(f"{endpoint}/videos/team/alice/clip.mp4?")
    assert "Expires=600" in url or "X-Amz-Expires=600" in url
    async with httpx.AsyncClient() as client:
        fetched = await client.get(url)
    assert fetched.status_code == 200 and fetched.content == path.read_bytes()


async def test_queued_videos_are_uploaded_in_the_background_and_a_full_queue_drops_with_a_log_line(
    tmp_path: Path, endpoint: str, caplog: pytest.LogCaptureFixture
) -> None:
    s3 = _s3(endpoint)
    s3.create_bucket(Bucket="videos")
    store = ObjectStore("s3://videos", endpoint)
    stored = anyio.Event()
    real_upload = store.upload

    async def upload(path: Path, reference: str) -> bool:
        done = await real_upload(path, reference)
        if reference == "second.mp4":
            stored.set()
        return done

    store.upload = upload  # type: ignore[method-assign]
    store.enqueue(_video(tmp_path, "first.mp4"), "first.mp4")
    store.enqueue(_video(tmp_path, "second.mp4"), "second.mp4")
    async with anyio.create_task_group() as group:
        group.start_soon(store.run)
        with anyio.fail_after(30):
            await stored.wait()
        group.cancel_scope.cancel()
    keys = sorted(item["Key"] for item in s3.list_objects_v2(Bucket="videos")["Contents"])
    assert keys == ["first.mp4", "second.mp4"]
    full = ObjectStore("s3://videos", endpoint)
    for number in range(1000):
        full.enqueue(tmp_path / f"{number}.mp4", f"{number}.mp4")
    with caplog.at_level(logging.WARNING, logger="veo_mcp.delivery.objects"):
        full.enqueue(tmp_path / "late.mp4", "late.mp4")
    assert [r.getMessage() for r in caplog.records if r.name == "veo_mcp.delivery.objects"] == [
        "not queued for upload: late.mp4 (it is uploaded when a link to it is first asked for)"
    ]


async def test_a_saved_video_gets_a_presigned_link_else_the_servers_own_and_none_outside_the_folder(
    tmp_path: Path, endpoint: str
) -> None:
    settings = service_settings(tmp_path)
    signer = LinkSigner(b"k" * 32, ttl_s=600)
    path = _video(settings.output_dir / "alice")
    outside = _video(tmp_path / "elsewhere")
    _s3(endpoint).create_bucket(Bucket="videos")
    stored = VideoLinks(settings, signer, ObjectStore("s3://videos", endpoint))
    assert stored.base is None
    url = await stored.url_for(path)
    assert url is not None and url.startswith(f"{endpoint}/videos/alice/clip.mp4?")
    assert await stored.url_for(outside) is None and await stored.url_for(settings.output_dir) is None
    refused = VideoLinks(settings, signer, ObjectStore("s3://missing-bucket", endpoint))
    assert await refused.url_for(path) is None  # no store, and the server does not know its address yet
    refused.serve_at("http://127.0.0.1:8000/")
    refused.serve_at("http://elsewhere:1")  # the first address stands
    fallback = await refused.url_for(path)
    assert fallback is not None and fallback.startswith("http://127.0.0.1:8000/files/")
    assert refused.signer.reference(fallback.rsplit("/", 1)[1]) == "alice/clip.mp4"
    public = VideoLinks(service_settings(tmp_path, public_url="https://videos.example/veo"), signer)
    public.serve_at("http://127.0.0.1:8000")  # VEO_MCP_PUBLIC_URL wins over where it listens
    assert public.local_url("alice/clip.mp4") == "https://videos.example/veo/files/" + signer.token("alice/clip.mp4")


def test_the_listening_address_is_one_a_client_can_reach() -> None:
    assert listening_base("127.0.0.1", 8000) == "http://127.0.0.1:8000"
    assert listening_base("::1", 8000) == "http://[::1]:8000"
    assert listening_base("0.0.0.0", 80) not in ("http://0.0.0.0:80", "http://[0.0.0.0]:80")  # noqa: S104
    assert listening_base("::", 80).startswith("http://") and "[::]" not in listening_base("::", 80)


def test_the_link_key_is_written_whole_and_an_unusable_one_is_named(tmp_path: Path) -> None:
    settings = service_settings(tmp_path)
    key = link_key(settings)
    path = settings.data_dir / KEY_FILE
    assert len(key) == 64 and bytes.fromhex(key.decode()) and path.read_bytes() == key  # 32 random bytes, hex
    assert sorted(p.name for p in settings.data_dir.iterdir()) == [KEY_FILE]  # no temporary file left beside it
    path.write_text("short")
    with pytest.raises(LinkKeyError) as short:
        link_key(settings)
    assert short.value.message == f"The link key {path} is too short; delete it and veo-mcp makes a new one."
    path.unlink()
    path.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(LinkKeyError) as linked:
        link_key(settings)
    assert linked.value.message.startswith(f"The link key {path} cannot be read: ")
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    with pytest.raises(LinkKeyError) as unwritable:
        link_key(service_settings(tmp_path, data_dir=blocked / "data"))
    assert unwritable.value.message.startswith(f"veo-mcp cannot write its link key in the data folder {blocked}")
    assert unwritable.value.advice == (
        "Set VEO_MCP_DATA_DIR to a folder veo-mcp may write (or VEO_MCP_LINK_SECRET to a long random string), or "
        "make this one writable."
    )
    assert os.stat(blocked).st_size == 0


def test_a_token_is_refused_unless_it_is_exactly_what_was_signed(tmp_path: Path) -> None:
    signer = LinkSigner(b"k" * 32, ttl_s=600)
    first, second = signer.token("alice/a.mp4"), signer.token("alice/b.mp4")
    assert signer.reference(signer.token("odd:name.mp4")) == "odd:name.mp4"  # a colon in the name is kept whole
    for name in ("alice/clipW", "alice/clipxW", "alice/clipxxW"):  # one of them spells its payload ending in "X"
        assert signer.reference(signer.token(name)) == name
    # Another payload under a genuine signature: the signature covers the payload, not just the key.
    assert signer.reference(f"{second.split('.')[0]}.{first.split('.')[1]}") is None
    payload, signature = first.split(".")
    # The same bytes spelled otherwise (the last base64 character's unused bits set): refused, either half.
    sibling = {"A": "B", "E": "F", "I": "J", "M": "N", "Q": "R", "U": "V", "Y": "Z", "c": "d", "g": "h", "k": "l"}
    sibling |= {"o": "p", "s": "t", "w": "x", "0": "1", "4": "5", "8": "9"}
    assert signature[-1] in sibling
    assert signer.reference(f"{payload}.{signature[:-1]}{sibling[signature[-1]]}") is None
    assert signer.reference(first) == "alice/a.mp4"


def test_a_signed_path_that_steps_out_and_back_or_names_the_folder_itself_is_refused(tmp_path: Path) -> None:
    settings = service_settings(tmp_path)
    _video(settings.output_dir)
    (settings.output_dir / "folder").mkdir()
    links = VideoLinks(settings, LinkSigner(b"k" * 32, ttl_s=60))
    assert links.opened(links.signer.token("clip.mp4")) is not None
    assert links.opened(links.signer.token("folder/../clip.mp4")) is None
    assert links.reference_of(settings.output_dir) is None
    links.serve_at("http://127.0.0.1:8000/videoX/")
    assert links.base == "http://127.0.0.1:8000/videoX"


def test_the_link_key_is_read_without_following_a_symlink_and_must_be_32_characters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = service_settings(tmp_path)
    settings.data_dir.mkdir(parents=True)
    path = settings.data_dir / KEY_FILE
    planted = tmp_path / "planted"
    planted.write_text("p" * 64)
    path.symlink_to(planted)  # a key someone else controls
    with pytest.raises(LinkKeyError) as linked:
        link_key(settings)
    assert linked.value.message == f"The link key {path} cannot be read: Too many levels of symbolic links."
    path.unlink()
    path.write_text("k" * 31)
    with pytest.raises(LinkKeyError):
        link_key(settings)
    path.write_text("k" * 32)
    assert link_key(settings) == b"k" * 32
    path.unlink()
    linked_from: list[str] = []
    real_link = os.link

    def link(source: str, target: Path) -> None:
        linked_from.append(source)
        real_link(source, target)

    monkeypatch.setattr(os, "link", link)
    assert len(link_key(settings)) == 64
    [temporary] = linked_from
    assert Path(temporary).parent == settings.data_dir and Path(temporary).name.startswith(f".{KEY_FILE}.")


def test_an_unwritable_data_folder_is_named_with_the_reason(tmp_path: Path) -> None:
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    with pytest.raises(LinkKeyError) as unwritable:
        link_key(service_settings(tmp_path, data_dir=blocked / "data"))
    assert unwritable.value.message == (
        f"veo-mcp cannot write its link key in the data folder {blocked / 'data'}: Not a directory."
    )


async def test_the_store_reaches_its_endpoint_retries_and_treats_every_not_found_as_not_stored_yet(
    tmp_path: Path, endpoint: str, caplog: pytest.LogCaptureFixture
) -> None:
    from botocore.exceptions import ClientError

    store = ObjectStore.for_settings(
        service_settings(tmp_path, storage_url="s3://videos/clipsX/", storage_endpoint=endpoint)
    )
    assert store is not None and store.key_of("a.mp4") == "clipsX/a.mp4"
    client = store._s3()
    assert client.meta.endpoint_url == endpoint
    # A refused call is tried again three times (boto3 counts the first try too: 4 in all).
    assert client.meta.config.retries["total_max_attempts"] == 4 and client.meta.config.signature_version == "s3v4"
    _s3(endpoint).create_bucket(Bucket="videos")
    path = _video(tmp_path)
    codes: list[str] = []

    def head_object(**_: Any) -> None:
        raise ClientError({"Error": {"Code": codes[-1], "Message": "no"}}, "HeadObject")

    client.head_object = head_object  # type: ignore[method-assign]
    with caplog.at_level(logging.INFO, logger="veo_mcp.delivery.objects"):
        for number, code in enumerate(("NoSuchKey", "NotFound", "404")):
            codes.append(code)
            assert await store.upload(path, f"{number}.mp4") is True, code
        codes.append("AccessDenied")
        assert await store.upload(path, "denied.mp4") is False
    said = [r.getMessage() for r in caplog.records if r.name == "veo_mcp.delivery.objects"]
    assert said[:3] == [f"stored {n}.mp4 in s3://videos/clipsX/{n}.mp4" for n in range(3)]
    assert said[3].startswith("could not store denied.mp4 in s3://videos: ") and "AccessDenied" in said[3]


async def test_a_video_the_server_saves_goes_on_to_the_object_store_by_itself(tmp_path: Path, endpoint: str) -> None:
    """Served over HTTP with VEO_MCP_STORAGE_URL: each saved video is uploaded in the background, under its path
    in the output folder, without anyone asking for a link (an answer that carries a link uploads it too, so the
    test asks for none)."""
    from mcp.client import Client

    from tests.helpers import call_ok, current_era
    from veo_mcp.app import App
    from veo_mcp.mcp.server import create_server

    s3 = _s3(endpoint)
    s3.create_bucket(Bucket="videos")
    settings = service_settings(
        tmp_path, simulate=True, simulator_speed=400, storage_url="s3://videos/team", storage_endpoint=endpoint
    )
    app = App(settings, serves_http=True)
    async with app.running(), Client(create_server(app), mode=current_era()) as client:
        created = await call_ok(client, "generate_video", prompt="a stored lighthouse")
        generation = app.parts.registry.generations[created["task_id"]]
        with anyio.fail_after(30):
            while generation.download_state != "saved":  # noqa: ASYNC110 - the server's own doing, bounded
                await anyio.sleep(0.02)
            saved = Path(generation.files[0].path)
            key = f"team/{saved.relative_to(settings.output_dir).as_posix()}"
            while "Contents" not in s3.list_objects_v2(Bucket="videos", Prefix=key):  # noqa: ASYNC110 - bounded
                await anyio.sleep(0.02)
    assert s3.get_object(Bucket="videos", Key=key)["Body"].read() == saved.read_bytes()
