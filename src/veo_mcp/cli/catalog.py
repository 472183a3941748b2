"""`veo-mcp estimate` and `veo-mcp models`: what a video would cost and what each model can do, before anything is
sent. Both are the assistant's tools (`estimate_cost`, `list_models`) on an in-process session; neither needs a key.
"""

from __future__ import annotations

from typing import Any

from veo_mcp.cli.checks import checked_request
from veo_mcp.cli.output import console, left_to_show
from veo_mcp.cli.run import Session, run_session, usd
from veo_mcp.cli.views import Column, Fact, print_sheet, print_table
from veo_mcp.cli.vocabulary import Voice
from veo_mcp.evolink import catalog
from veo_mcp.settings import Settings


def estimate_command(settings: Settings, arguments: dict[str, Any], *, as_json: bool) -> int:
    """Check the request as `generate` would and print its cost; exit 2 for a request that would be refused."""

    async def body(session: Session) -> dict[str, Any]:
        await checked_request(settings, arguments)  # refusals in flags, exit 2, as generate gives them
        return await session.call("estimate_cost", arguments)

    result = left_to_show(run_session(settings, body, as_json=as_json, flags=True), as_json=as_json)
    if isinstance(result, int):
        return result
    threshold = settings.confirm_above_usd
    cost = result["usd"]
    asks = cost is None or cost > threshold + 1e-9
    facts = [
        Fact(
            "cost",
            "unknown"
            if cost is None
            else f"{'' if result['known'] else 'at most '}{usd(cost)} ({round(result['credits'])} credits)",
        ),
        Fact("how", result["summary"].split(": ", 1)[-1]),
        Fact(
            "generate asks",
            f"yes: above the {usd(threshold)} threshold (VEO_MCP_CONFIRM_ABOVE); --yes confirms it"
            if asks
            else f"no: within the {usd(threshold)} threshold (VEO_MCP_CONFIRM_ABOVE)",
        ),
        *(Fact("note", Voice(flags=True).speak(note)) for note in result["notes"]),
    ]
    print_sheet(console(stderr=False), "veo-mcp estimate (nothing was sent)", facts)
    return 0


def models_command(*, as_json: bool) -> int:
    from veo_mcp.settings import load_settings

    settings = load_settings()

    async def body(session: Session) -> dict[str, Any]:
        return await session.call("list_models", {})

    result = left_to_show(run_session(settings, body, as_json=as_json), as_json=as_json)
    if isinstance(result, int):
        return result
    out = console(stderr=False)
    columns = [
        Column("MODEL"),
        Column("MODES"),
        Column("SECONDS"),
        Column("QUALITY"),
        Column("PRICE PER SECOND", wraps=True),
    ]
    rows = []
    for model in result["models"]:
        prices = model["price_usd_per_second"]
        price = (
            "unknown (EvoLink publishes none)"
            if prices is None
            else ", ".join(
                f"{key.replace('/no_audio', ' silent').replace('/audio', ' sound')} {usd(value)}"
                for key, value in prices.items()
            )
        )
        default = " (default)" if model["id"] == result["default_model"] else ""
        rows.append(
            [
                model["id"] + default,
                ", ".join(model["generation_types"]),
                "/".join(str(d) for d in model["durations"]),
                "/".join(model["qualities"]),
                price,
            ]
        )
    print_table(out, f"{len(rows)} Veo 3.1 models on EvoLink", columns, rows)
    out.print(
        f"A video costs price × seconds × count ({round(1 / catalog.USD_PER_CREDIT)} EvoLink credits = $1); "
        "`veo-mcp estimate` says what one request costs.",
        markup=False,
        soft_wrap=True,
    )
    return 0
