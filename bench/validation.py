"""`generate_video`'s local validation of 10 000 random requests (valid and invalid mixed), in requests per second.

The requests are drawn up front (not timed) from the same kinds of values a model sends: right and wrong enums,
out-of-range numbers, good and bad image URLs, cross-field conflicts. Timed: the tool's own validation step
(`server._video_request`: defaults, schema, cross-field rules, refusals with their messages).
"""

from __future__ import annotations

import random
import time
from typing import Any

from common import arguments, emit, median
from mcp.server.mcpserver.exceptions import ToolError

from veo_mcp.mcp.arguments import video_request as _video_request

COUNT = 10_000
CHOICES: dict[str, list[Any]] = {
    "model": ["veo-3.1-fast-generate-preview", "veo3.1-fast", "veo3.1-pro", "veo-4"],
    "aspect_ratio": ["auto", "16:9", "9:16", "4:3"],
    "duration": [4, 6, 8, 5],
    "quality": ["720p", "1080p", "4k", "8k"],
    "generate_audio": [True, False],
    "n": [1, 2, 3, 4, 0, 7],
    "image_urls": [
        None,
        ["https://img.example.com/a.png"],
        ["https://img.example.com/a.png", "https://cdn.example.org/b.jpg"],
        ["https://a.example/1.png", "https://a.example/2.png", "https://a.example/3.webp"],
        ["http://127.0.0.1/a.png"],
        ["https://example.com/a.gif"],
    ],
    "generation_type": [None, "TEXT", "FIRST&LAST", "REFERENCE"],
    "negative_prompt": [None, "blurry, low quality"],
    "seed": [None, 1, 42, 4_294_967_295, 0],
    "enhance_prompt": [True, False],
    "person_generation": ["allow_adult", "dont_allow", "allow_all"],
    "resize_mode": ["pad", "crop", "fill"],
    "callback_url": [None, "https://hooks.example.com/veo", "http://hooks.example.com/veo"],
}
WORDS = [
    "a",
    "red",
    "fox",
    "runs",
    "through",
    "fresh",
    "snow",
    "at",
    "dawn",
    "camera",
    "tracking",
    "shot",
    "soft",
    "light",
    "cinematic",
]


def random_request(rng: random.Random) -> dict[str, Any]:
    request: dict[str, Any] = {"prompt": " ".join(rng.choices(WORDS, k=rng.randint(0, 40)))}
    for name in rng.sample(sorted(CHOICES), rng.randint(0, len(CHOICES))):
        request[name] = rng.choice(CHOICES[name])
    return request


def main() -> None:
    args = arguments(__doc__ or "")
    rng = random.Random(2026)
    requests = [random_request(rng) for _ in range(COUNT)]
    rounds = 3 if args.quick else 10
    durations, valid = [], 0
    for _ in range(rounds):
        valid = 0
        started = time.perf_counter()
        for request in requests:
            try:
                _video_request(request)
                valid += 1
            except ToolError:
                pass
        durations.append(time.perf_counter() - started)
    emit(
        {
            "validations_per_s": round(COUNT / median(durations)),
            "validation_requests": COUNT,
            "validation_valid_fraction": round(valid / COUNT, 3),
            "validation_rounds": rounds,
        }
    )


if __name__ == "__main__":
    main()
