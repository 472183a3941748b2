"""`speak`: the assistant's words said to a person, sentence by sentence (the end-to-end commands are in
test_words.py). Each row is a message the server sends and what the terminal prints instead."""

from __future__ import annotations

import pytest

from veo_mcp.cli.vocabulary import key_for_the_shell, settings_file, speak
from veo_mcp.errors import NotConfiguredError
from veo_mcp.evolink.errors import InvalidRequestError
from veo_mcp.settings import SettingsError

TASK = "task-unified-1-abc"


@pytest.mark.parametrize(
    ("said", "task_id", "flags", "printed"),
    [
        # Tool names: with the task they are about, capitalised as the sentence was, "again" kept where it stood.
        (
            f"Call wait_for_generation with task_id '{TASK}' again.",
            None,
            False,
            f"Run `veo-mcp wait {TASK}` again.",
        ),
        (
            f"then call download_video again with task_id '{TASK}'",
            None,
            False,
            f"then run `veo-mcp download {TASK}` again",
        ),
        ("Call get_generation later.", TASK, False, f"Run `veo-mcp status {TASK}` later."),
        ("call get_generation later.", None, False, "run `veo-mcp status TASK` later."),
        (f"see get_generation with task_id '{TASK}'", "task-other", False, f"see `veo-mcp status {TASK}`"),
        (f"see get_generation with task_id '{TASK}' again", None, False, f"see `veo-mcp status {TASK}` again"),
        ("the same as list_generations shows", None, False, "the same as `veo-mcp list` shows"),
        ("Use combine_videos to join them.", None, False, "Use `veo-mcp combine TASK TASK…` to join them."),
        # Arguments become flags only for commands whose arguments are flags.
        ("image_files[0] cannot be read", None, True, "--image-file (first) cannot be read"),
        ("image_urls[3] is not a URL", None, True, "--image-url (#4) is not a URL"),
        ("image_files[0] cannot be read", None, False, "image_files[0] cannot be read"),
        ("Send it with confirm_cost: true.", None, True, "Send it with --yes."),
        ("or allow_duplicate: true to make another", None, True, "or --allow-duplicate to make another"),
        (
            "Give either image_urls or image_files, not both.",
            None,
            True,
            "Give either --image-url or --image-file, not both.",
        ),
        ("give either image_urls or image_files", None, True, "give either --image-url or --image-file"),
        ("duration: 5 is not allowed", None, True, "--duration: 5 is not allowed"),
        ("Too long. duration: 5 is not allowed", None, True, "Too long. --duration: 5 is not allowed"),
        ("or leave seed out", None, True, "or leave --seed out"),
        ("the duration you asked for", None, True, "the duration you asked for"),
        ("negative_prompt is too long", None, True, "--negative-prompt is too long"),
        (
            "enhance_prompt cannot be changed on this model",
            None,
            True,
            "prompt enhancement cannot be changed on this model",
        ),
        ("callback_url must be https", None, True, "the callback URL must be https"),
        ("task_ids: 1 given; task_id is unknown", None, False, "task ids: 1 given; task id is unknown"),
        # Sentences about "the user", said to the person.
        ("The user did not confirm the cost ($2.25).", None, False, "You did not confirm the cost ($2.25)."),
        ("The user declined this exact request.", None, False, "You declined this exact request."),
        (
            "Ask the user whether they want it at this cost; calling again with the same arguments asks them again.",
            None,
            False,
            "Run the same command again to be asked again, or with --yes to confirm.",
        ),
        (
            "Ask what they would like instead, e.g. a shorter or lower-quality video (estimate_cost).",
            None,
            False,
            "Try a shorter or lower-quality video (`veo-mcp estimate` shows a cost before anything is sent), or pass "
            "--yes to confirm this one.",
        ),
        (
            "Show the user this cost and ask; if they agree, call generate_video again with the same arguments and "
            "confirm_cost: true.",
            None,
            True,
            "If you want it, run the same command again with --yes.",
        ),
        ("Estimated $2.25. Generate it anyway? Nothing was sent.", None, False, "Estimated $2.25. Nothing was sent."),
        (
            f"Tell the user it is taking unusually long; check later with get_generation (task_id '{TASK}').",
            None,
            False,
            f"Check again later with `veo-mcp status {TASK}`.",
        ),
        ("Done: the video is saved at the path in files.", None, False, "Done: the video is saved."),
        ("Set it in the MCP server's environment.", None, False, "Set it in this shell."),
        (
            "Check the task id: use one from generate_video or list_generations (it lists the generations you "
            "created).",
            None,
            False,
            "Check the task id: use one `veo-mcp generate` printed or `veo-mcp list` shows.",
        ),
        (
            "Use a model EvoLink has (see list_models).",
            None,
            False,
            "Use a model EvoLink has (`veo-mcp models` lists them).",
        ),
        ("Unknown model (list_models).", None, False, "Unknown model (`veo-mcp models` lists them)."),
        (
            "generate_audio: true is not available on veo3.1-pro; use false.",
            None,
            True,
            "sound is not available on veo3.1-pro; add --no-audio.",
        ),
        (InvalidRequestError.default_advice, None, False, "Fix it and run the command again; nothing was charged."),
    ],
)
def test_what_the_server_says_is_said_to_the_person(said: str, task_id: str | None, flags: bool, printed: str) -> None:
    assert speak(said, task_id=task_id, flags=flags) == printed


def test_the_missing_key_and_the_servers_environment_point_at_this_shell_and_its_settings_file() -> None:
    assert speak(NotConfiguredError.default_advice) == key_for_the_shell()
    assert "export EVOLINK_API_KEY=your-key" in key_for_the_shell() and settings_file() in key_for_the_shell()
    assert speak("Set VEO_MCP_DAILY_BUDGET in the server's environment and restart it.") == (
        f"Set VEO_MCP_DAILY_BUDGET in this shell (or in {settings_file()})."
    )
    assert speak("or raise VEO_MCP_HOURLY_BUDGET (0 turns it off) in the server's environment.") == (
        f"or raise VEO_MCP_HOURLY_BUDGET (0 turns it off) in this shell (or in {settings_file()})."
    )
    assert speak(f"VEO_MCP_POLL_MIN: not a number. {SettingsError.default_advice}") == (
        f"VEO_MCP_POLL_MIN: not a number. Fix it in this shell, in {settings_file()} or on the command line, and run "
        "the command again."
    )
