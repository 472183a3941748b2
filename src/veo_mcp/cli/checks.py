"""What `veo-mcp generate` (and `estimate`) check before anything is sent, so a mistake in what was typed is a usage
error (exit 2) naming the flag, not money spent or a failure after the fact:

- the request, under the same rules as `generate_video` (the same code: local images checked, standing in as
  placeholder URLs);
- `--request-id`: an id already used for a *different* request is refused (the earlier generation is named), where
  the tool would quietly answer with the earlier video;
- the folder the video will be saved in: it must be (or become) a folder this user can write, so a render is never
  paid for only to fail at the save.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mcp.server.mcpserver.exceptions import ToolError

from veo_mcp.cli.output import USAGE_ERROR, CommandFailed
from veo_mcp.cli.vocabulary import Voice, key_for_the_shell
from veo_mcp.errors import LocalFileError, VeoError
from veo_mcp.evolink.schemas import VideoRequest
from veo_mcp.local.files import usable_folder, video_folder
from veo_mcp.local.images import allowed_folders, inspect_images, placeholder_url
from veo_mcp.mcp.arguments import video_request
from veo_mcp.money import guards
from veo_mcp.settings import Settings

_FLAGS = Voice(flags=True)


def require_upstream(settings: Settings) -> None:
    """Commands that send requests need a key (or --simulate); without one they say how to give it to the shell."""
    if settings.api_key is None and not settings.simulate:
        raise CommandFailed(
            f"No EvoLink API key is set in this shell, so nothing can be sent to EvoLink. {key_for_the_shell()}",
            exit_code=USAGE_ERROR,
        )


def refused(text: str) -> CommandFailed:
    return CommandFailed(_FLAGS.speak(text), exit_code=USAGE_ERROR)


async def checked_request(settings: Settings, arguments: dict[str, Any]) -> VideoRequest:
    """The request `generate_video` would build from `arguments` (only the ones given), or the refusal (exit 2)."""
    image_files = arguments.get("image_files")
    given = set(arguments)
    if not image_files:
        try:
            return video_request(arguments, given)
        except ToolError as error:
            raise refused(str(error)) from None
    # (--image-url and --image-file together are refused by the parser: the frames' order would be ambiguous.)
    try:
        images = await inspect_images(list(image_files), allowed_folders(settings.image_dirs, None))
    except VeoError as error:
        raise refused(str(error)) from None
    placeholders = [placeholder_url(image, settings.files_base_url) for image in images]
    try:
        return video_request(
            {**arguments, "image_urls": placeholders}, {*given, "image_urls"}, own_image_urls=placeholders
        )
    except ToolError as error:
        raise refused(str(error).replace("image_urls", "image_files")) from None


def check_output_folder(settings: Settings, *, simulated: bool, flag: str = "--output-dir") -> Path:
    """The folder the videos will be saved in, created (owner-only) if missing and proven writable; else exit 2."""
    folder = video_folder(settings.output_dir, (), simulated=simulated)
    try:
        usable_folder(folder)
    except LocalFileError as error:
        raise CommandFailed(
            f"{error.message} Nothing was sent. Give {flag} DIR (a folder you can write to), or set "
            "VEO_MCP_OUTPUT_DIR.",
            exit_code=USAGE_ERROR,
        ) from None
    return folder


async def check_request_id(app: Any, request: VideoRequest, request_id: str | None) -> None:
    """Refuse a `--request-id` that an earlier, different request used (exit 2), naming that generation."""
    if request_id is None:
        return
    earlier = await app.parts.ledger.for_request(request_id)
    if earlier is None or earlier.fingerprint == guards.fingerprint(request.to_api_payload()):
        return
    which = f"generation {earlier.task_id}" if earlier.task_id else f"a create ({earlier.state})"
    follow_up = f" (`veo-mcp status {earlier.task_id}` shows it)" if earlier.task_id else ""
    raise CommandFailed(
        f"--request-id {request_id!r} was used for a different request ({earlier.prompt[:60]!r}, {earlier.model}): "
        f"{which}{follow_up}. Nothing was sent. Give this request an id of its own, or repeat the earlier request's "
        "flags to get that generation back.",
        exit_code=USAGE_ERROR,
        task_id=earlier.task_id,
    )
