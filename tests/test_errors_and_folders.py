"""The words of local failures and the names of people's folders: what a user reads after a failed save, and where
each person's videos land on a shared server (a name that changed between versions would split someone's videos
over two folders, so the exact names are pinned here)."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from veo_mcp.context import LOCAL_PRINCIPAL, RESERVED_FOLDERS, folder_candidates, principal_folder
from veo_mcp.errors import DiskFullError, LocalFileError, NotConfiguredError, VeoError, write_failure

FOLDER = Path("/srv/videos/alice")


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_a_full_disk_or_quota_says_to_free_space_and_that_the_save_is_retried(code: int) -> None:
    failure = write_failure(OSError(code, "No space left on device"), FOLDER, 7_340_032)
    assert type(failure) is DiskFullError and failure.action == "fix_local_files"
    assert failure.needed_bytes == 7_340_032
    assert failure.message == f"No space left on the disk holding {FOLDER}: the video could not be saved."
    assert failure.advice == (
        "Free some space there (or set VEO_MCP_OUTPUT_DIR to a folder on another disk); veo-mcp saves the video again "
        "by itself once there is room, while the result link is valid."
    )
    assert str(failure) == f"{failure.message} {failure.advice}" == failure.args[0]
    assert write_failure(OSError(code, "full"), FOLDER).needed_bytes is None  # not known: not made up


@pytest.mark.parametrize(
    ("error", "reason"),
    [(OSError(errno.EACCES, "Permission denied"), "Permission denied"), (OSError("odd failure"), "odd failure")],
)
def test_any_other_write_failure_names_the_folder_its_reason_and_the_setting(error: OSError, reason: str) -> None:
    failure = write_failure(error, FOLDER, 1000)
    assert type(failure) is LocalFileError
    assert failure.message == f"The video could not be written to {FOLDER}: {reason}."
    assert failure.advice == "Make that folder writable, or set VEO_MCP_OUTPUT_DIR to a folder that is."
    assert str(failure) == f"{failure.message} {failure.advice}"


def test_an_error_without_advice_gives_its_kinds_remedy_and_empty_advice_adds_nothing() -> None:
    plain = VeoError("It broke.")
    assert (plain.advice, plain.action) == (VeoError.default_advice, "retry")
    assert str(plain) == "It broke. Try again; if it keeps happening, run `veo-mcp doctor`." == plain.args[0]
    assert str(VeoError("It broke.", advice="")) == "It broke."  # not the default: the caller said there is none
    assert str(LocalFileError("No folder.")) == f"No folder. {LocalFileError.default_advice}"
    full = DiskFullError("Full.", advice="Free 3 MB.")
    assert (str(full), full.needed_bytes, full.action) == ("Full. Free 3 MB.", None, "fix_local_files")
    assert NotConfiguredError("No key.").action == "set_api_key"
    assert "EVOLINK_API_KEY" in str(NotConfiguredError("No key.")) and "--simulate" in str(NotConfiguredError("k"))


def test_the_local_user_has_the_output_folder_itself() -> None:
    assert principal_folder(LOCAL_PRINCIPAL) is None
    assert folder_candidates(LOCAL_PRINCIPAL) == []


def test_a_plain_name_is_its_own_folder_then_ever_longer_hashes() -> None:
    candidates = folder_candidates("alice")
    digest = "2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db186d6e90"  # sha256("alice")
    assert principal_folder("alice") == "alice"
    assert candidates[:4] == ["alice", f"alice-{digest[:12]}", f"alice-{digest[:20]}", f"alice-{digest}"]
    assert candidates[4:] == [f"alice-{digest}-{n}" for n in range(2, 100)]
    assert len(set(candidates)) == len(candidates) == 102


def test_a_name_a_path_cannot_hold_is_made_safe_and_marked_with_a_hash_of_the_real_name() -> None:
    assert principal_folder("bob smith") == "bob_smith-7e50351d7a"
    assert folder_candidates("bob smith")[:2] == ["bob_smith-7e50351d7a", "bob_smith-7e50351d7a4c"]
    assert principal_folder("oauth:auth0|42") == "oauth_auth0_42-5e9c5285ea"
    dots = principal_folder("..")
    assert dots is not None and dots.startswith("user-") and len(dots) == len("user-") + 10
    assert folder_candidates("..")[1].startswith("user-") and len(folder_candidates("..")[1]) == 5 + 12
    hidden = principal_folder(".x.")
    assert hidden is not None and hidden.startswith("x-")
    long = principal_folder("n" * 60 + " ")
    assert long is not None and long.startswith("n" * 48 + "-") and len(long) == 48 + 1 + 10
    assert folder_candidates("n" * 60 + " ")[1].startswith("n" * 48 + "-")


@pytest.mark.parametrize("name", ["simulated", "CON", "Lpt1", "nul"])
def test_a_reserved_name_never_gets_its_own_folder(name: str) -> None:
    assert name.casefold() in RESERVED_FOLDERS
    candidates = folder_candidates(name)
    assert candidates[0] != name and candidates[0].startswith(f"{name}-") and len(candidates) == 101
    assert all(candidate.casefold() not in RESERVED_FOLDERS for candidate in candidates)
    assert folder_candidates("simulated")[0] == "simulated-daeb30e06dcf"


def test_only_dots_and_underscores_are_trimmed_from_a_folder_name() -> None:
    assert principal_folder("Xavier") == "Xavier" and folder_candidates("Xavier")[1].startswith("Xavier-")
    assert principal_folder("Xena X") == f"Xena_X-{folder_candidates('Xena X')[1].split('-')[-1][:10]}"
    assert folder_candidates("Xena X")[1].startswith("Xena_X-")
