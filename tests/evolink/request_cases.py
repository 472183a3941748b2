"""One table of create requests, used against both our schemas and the simulator so the two never drift.

Each case: (name, request body, the field the refusal must name - or None when the request is valid).
"""

from __future__ import annotations

from typing import Any

PUBLIC_PNG = "https://images.example.com/frame.png"
PUBLIC_JPG = "https://images.example.com/last.jpg"

CASES: list[tuple[str, dict[str, Any], str | None]] = [
    # valid
    ("minimal text", {"prompt": "a cat playing piano"}, None),
    (
        "every field",
        {
            "model": "veo-3.1-fast-generate-preview",
            "prompt": "a cat",
            "aspect_ratio": "9:16",
            "image_urls": [PUBLIC_PNG, PUBLIC_JPG],
            "generation_type": "FIRST&LAST",
            "enhance_prompt": False,
            "callback_url": "https://hooks.example.com/veo",
            "quality": "4k",
            "duration": 8,
            "generate_audio": False,
            "n": 4,
            "negative_prompt": "blurry",
            "seed": 4294967295,
            "person_generation": "dont_allow",
            "resize_mode": "crop",
        },
        None,
    ),
    ("first frame", {"prompt": "x", "image_urls": [PUBLIC_PNG]}, None),
    ("reference three", {"prompt": "x", "image_urls": [PUBLIC_PNG, PUBLIC_JPG, PUBLIC_PNG]}, None),
    (
        "reference on lite fast",
        {
            "model": "veo3.1-fast",
            "prompt": "x",
            "generation_type": "REFERENCE",
            "image_urls": [PUBLIC_PNG],
            "duration": 4,
            "aspect_ratio": "16:9",
        },
        None,
    ),
    ("pro model", {"model": "veo3.1-pro", "prompt": "x", "quality": "1080p"}, None),
    ("seed lower bound", {"prompt": "x", "seed": 1}, None),
    ("uppercase extension", {"prompt": "x", "image_urls": ["https://cdn.example.com/A.WEBP?sig=1"]}, None),
    ("cjk prompt at limit", {"prompt": "猫" * 2000}, None),
    ("ascii prompt at limit", {"prompt": "a" * 6000}, None),
    # refused
    ("missing prompt", {}, "prompt"),
    ("empty prompt", {"prompt": "   "}, "prompt"),
    ("prompt too long", {"prompt": "a" * 6001}, "prompt"),
    ("cjk prompt too long", {"prompt": "猫" * 2001}, "prompt"),
    ("prompt not text", {"prompt": 42}, "prompt"),
    ("unknown field", {"prompt": "x", "aspect": "16:9"}, "aspect"),
    ("unknown model", {"prompt": "x", "model": "veo-4"}, "model"),
    ("bad aspect", {"prompt": "x", "aspect_ratio": "4:3"}, "aspect_ratio"),
    ("bad quality", {"prompt": "x", "quality": "8k"}, "quality"),
    ("quality case", {"prompt": "x", "quality": "4K"}, "quality"),
    ("bad duration", {"prompt": "x", "duration": 5}, "duration"),
    ("duration as text", {"prompt": "x", "duration": "8"}, "duration"),
    ("duration as float", {"prompt": "x", "duration": 8.5}, "duration"),
    ("n zero", {"prompt": "x", "n": 0}, "n"),
    ("n five", {"prompt": "x", "n": 5}, "n"),
    ("n bool", {"prompt": "x", "n": True}, "n"),
    ("seed zero", {"prompt": "x", "seed": 0}, "seed"),
    ("seed too big", {"prompt": "x", "seed": 4294967296}, "seed"),
    ("audio as text", {"prompt": "x", "generate_audio": "yes"}, "generate_audio"),
    ("enhance as int", {"prompt": "x", "enhance_prompt": 1}, "enhance_prompt"),
    ("bad person generation", {"prompt": "x", "person_generation": "allow_all"}, "person_generation"),
    ("bad resize mode", {"prompt": "x", "resize_mode": "stretch", "image_urls": [PUBLIC_PNG]}, "resize_mode"),
    ("bad generation type", {"prompt": "x", "generation_type": "IMAGE"}, "generation_type"),
    ("text with images", {"prompt": "x", "generation_type": "TEXT", "image_urls": [PUBLIC_PNG]}, "image_urls"),
    ("first&last without images", {"prompt": "x", "generation_type": "FIRST&LAST"}, "image_urls"),
    (
        "first&last with three",
        {"prompt": "x", "generation_type": "FIRST&LAST", "image_urls": [PUBLIC_PNG, PUBLIC_PNG, PUBLIC_PNG]},
        "image_urls",
    ),
    ("four images", {"prompt": "x", "image_urls": [PUBLIC_PNG] * 4}, "image_urls"),
    ("reference without images", {"prompt": "x", "generation_type": "REFERENCE"}, "image_urls"),
    (
        "reference portrait",
        {"prompt": "x", "generation_type": "REFERENCE", "image_urls": [PUBLIC_PNG], "aspect_ratio": "9:16"},
        "aspect_ratio",
    ),
    (
        "reference preview fixed 8s",
        {"prompt": "x", "generation_type": "REFERENCE", "image_urls": [PUBLIC_PNG], "duration": 6},
        "duration",
    ),
    (
        "reference on pro",
        {"model": "veo3.1-pro", "prompt": "x", "generation_type": "REFERENCE", "image_urls": [PUBLIC_PNG]},
        "generation_type",
    ),
    ("image ftp", {"prompt": "x", "image_urls": ["ftp://example.com/a.png"]}, "image_urls[0]"),
    ("image loopback", {"prompt": "x", "image_urls": ["http://127.0.0.1/a.png"]}, "image_urls[0]"),
    ("image localhost", {"prompt": "x", "image_urls": ["http://localhost:8000/a.png"]}, "image_urls[0]"),
    ("image private", {"prompt": "x", "image_urls": [PUBLIC_PNG, "http://192.168.1.4/b.jpg"]}, "image_urls[1]"),
    ("image link-local", {"prompt": "x", "image_urls": ["http://169.254.169.254/latest.png"]}, "image_urls[0]"),
    ("image ipv6 loopback", {"prompt": "x", "image_urls": ["http://[::1]/a.png"]}, "image_urls[0]"),
    ("image mapped ipv6", {"prompt": "x", "image_urls": ["http://[::ffff:10.0.0.1]/a.png"]}, "image_urls[0]"),
    ("image decimal ip", {"prompt": "x", "image_urls": ["http://2130706433/a.png"]}, "image_urls[0]"),
    ("image bad extension", {"prompt": "x", "image_urls": ["https://example.com/a.gif"]}, "image_urls[0]"),
    ("image credentials", {"prompt": "x", "image_urls": ["https://u:p@example.com/a.png"]}, "image_urls[0]"),
    ("images not a list", {"prompt": "x", "image_urls": PUBLIC_PNG}, "image_urls"),
    ("callback http", {"prompt": "x", "callback_url": "http://hooks.example.com/veo"}, "callback_url"),
    ("callback private", {"prompt": "x", "callback_url": "https://10.1.2.3/veo"}, "callback_url"),
    ("callback too long", {"prompt": "x", "callback_url": "https://hooks.example.com/" + "a" * 2030}, "callback_url"),
    ("callback internal name", {"prompt": "x", "callback_url": "https://api.internal/hook"}, "callback_url"),
]

VALID = [(name, body) for name, body, field in CASES if field is None]
INVALID = [(name, body, field) for name, body, field in CASES if field is not None]
