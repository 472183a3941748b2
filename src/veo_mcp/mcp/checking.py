"""Tool and prompt arguments, checked in our own words before the SDK sees them.

Why: the SDK's signature check answers a model's typical mistake (`duration: "8"`, `quality: "4K"`) with a pydantic
report (error codes, type names, a documentation URL) that the model cannot act on, and pydantic's lax mode accepted
`n: "2"` while refusing `duration: "8"`. Every argument now goes through one rule, read from the argument's own
JSON schema (what the model was shown):

- text that is a number is read as that number where a number is wanted ("8" → 8; 8.0 → 8 for whole numbers);
- text that says true or false, in any case, is read as true or false where a yes/no is wanted;
- a fixed choice is matched ignoring case and surrounding spaces ("4K" → "4k", "text" → "TEXT");
- a single text where a list is wanted is read as a list of one (and JSON text of a list as that list);
- null for an argument that has a default is read as "not given".

Each normalisation becomes a note the result reports. Anything else is refused before the tool runs: one sentence
per argument naming it, the value given and what is allowed (with "did you mean" when a value is close).
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from veo_mcp.evolink import catalog

NOTHING_SENT = "Nothing was sent."
_MISSING = object()
_NUMBER_IN_TEXT = re.compile(r"-?\d+(?:\.\d+)?")


@dataclass(frozen=True, slots=True)
class FieldRule:
    """What one argument accepts, read from its JSON schema."""

    name: str
    kinds: frozenset[str] = frozenset()  # JSON types other than null: string, integer, number, boolean, array
    nullable: bool = False
    choices: tuple[Any, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    min_items: int | None = None
    max_items: int | None = None
    item: FieldRule | None = None
    required: bool = False
    default: Any = _MISSING
    description: str = ""

    @property
    def optional(self) -> bool:
        return not self.required and self.default is None


@dataclass
class Checked:
    """The outcome of checking one call's arguments."""

    arguments: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


class _Refused(Exception):
    def __init__(self, sentence: str) -> None:
        super().__init__(sentence)
        self.sentence = sentence


# --- reading a schema ---------------------------------------------------------------------------------------------


def _rule(name: str, schema: Mapping[str, Any], *, required: bool, defs: Mapping[str, Any]) -> FieldRule:
    options = [_resolved(option, defs) for option in schema.get("anyOf", [schema])]
    kinds: set[str] = set()
    nullable = False
    merged: dict[str, Any] = {}
    for option in options:
        types = option.get("type", [])
        for kind in [types] if isinstance(types, str) else types:
            if kind == "null":
                nullable = True
            else:
                kinds.add(kind)
        if "const" in option:
            merged.setdefault("enum", []).append(option["const"])
        for key, value in option.items():
            if key == "enum":
                merged.setdefault("enum", []).extend(v for v in value if v is not None)
                nullable = nullable or None in value
            elif key not in ("type", "anyOf", "description", "title", "default"):
                merged.setdefault(key, value)
    items = merged.get("items")
    return FieldRule(
        name=name,
        kinds=frozenset(kinds),
        nullable=nullable,
        choices=tuple(merged.get("enum", ())),
        minimum=merged.get("minimum"),
        maximum=merged.get("maximum"),
        min_length=merged.get("minLength"),
        max_length=merged.get("maxLength"),
        min_items=merged.get("minItems"),
        max_items=merged.get("maxItems"),
        item=_item_rule(name, items, schema, defs) if isinstance(items, dict) else None,
        required=required,
        default=schema.get("default", _MISSING),
        description=str(schema.get("description", "")),
    )


def _item_rule(name: str, items: Mapping[str, Any], schema: Mapping[str, Any], defs: Mapping[str, Any]) -> FieldRule:
    """The rule of a list's items; an item without a description of its own is what the list's describes."""
    rule = _rule(f"{name}[]", _resolved(items, defs), required=True, defs=defs)
    return rule if rule.description else replace(rule, description=str(schema.get("description", "")))


def _resolved(schema: Mapping[str, Any], defs: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return dict(defs.get(ref.removeprefix("#/$defs/"), {}))
    return schema


def rules_of(schema: Mapping[str, Any]) -> dict[str, FieldRule]:
    """Every argument of an object schema (a tool's `inputSchema`, a prompt's arguments), in its order."""
    required = set(schema.get("required", []))
    defs = schema.get("$defs", {})
    return {
        name: _rule(name, spec, required=name in required, defs=defs)
        for name, spec in schema.get("properties", {}).items()
    }


# --- words ----------------------------------------------------------------------------------------------------------


def shown(value: Any, limit: int = 80) -> str:
    """A value as the model wrote it (JSON), shortened."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 6] + "…" + text[-5:]


def _either(values: Sequence[str]) -> str:
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " or " + values[-1]


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def allowed(rule: FieldRule) -> str:
    """What `rule` accepts, as the second half of a refusal ("use …")."""
    if rule.choices:
        text = "use one of " + _either([shown(choice) for choice in rule.choices])
    elif "boolean" in rule.kinds:
        text = "use true or false"
    elif rule.kinds & {"integer", "number"}:
        kind = "a whole number" if "number" not in rule.kinds else "a number"
        if rule.minimum is not None and rule.maximum is not None:
            text = f"use {kind} from {_number(rule.minimum)} to {_number(rule.maximum)}"
        elif rule.minimum is not None:
            text = f"use {kind} of at least {_number(rule.minimum)}"
        else:
            text = f"use {kind}"
    elif "array" in rule.kinds:
        text = f"use a list of {_how_many(rule)}{_kind_of_items(rule)}"
    elif "object" in rule.kinds:
        text = "use an object" + (f" ({rule.description.rstrip('.')})" if rule.description else "")
    elif "string" in rule.kinds:
        text = "use a non-empty text" if rule.min_length else "use a text"
        if rule.max_length is not None:
            text += f" of at most {rule.max_length} characters"
    else:
        text = "use a value of the kind the description names"
    if rule.optional:
        text += f", or leave {rule.name} out"
    return text


def _how_many(rule: FieldRule) -> str:
    low, high = rule.min_items, rule.max_items
    if low and high is not None:
        return f"{low} to {high} "
    if low:
        return f"at least {low} "
    return f"at most {high} " if high is not None else ""


def _kind_of_items(rule: FieldRule) -> str:
    kinds = rule.item.kinds if rule.item is not None else frozenset()
    if "object" in kinds:
        return "objects" + (f" ({rule.description.rstrip('.')})" if rule.description else "")
    if kinds & {"integer", "number"}:
        return "numbers"
    return "texts"


def _refusal(rule: FieldRule, value: Any, suggestions: Sequence[Any] = ()) -> _Refused:
    hint = f" (did you mean {_either([shown(s) for s in suggestions])}?)" if suggestions else ""
    return _Refused(f"{rule.name}: {shown(value)} is not allowed; {allowed(rule)}{hint}.")


def refused(rule: FieldRule, value: Any) -> str:
    """The refusal of `value` for `rule`, for a check beyond the schema (the tool's own argument model)."""
    return _refusal(rule, value, suggestions(value, rule.choices, rule.default)).sentence


def _squashed(value: Any) -> str:
    return re.sub(r"[^0-9a-z]", "", str(value).casefold())


def suggestions(value: Any, choices: Sequence[Any], default: Any = _MISSING) -> list[Any]:
    """The allowed values close to `value`: same letters and digits, nearest number, containing it, or similar."""
    if not choices:
        return []
    if all(isinstance(c, int | float) and not isinstance(c, bool) for c in choices):
        found = _NUMBER_IN_TEXT.search(str(value)) if not isinstance(value, bool) else None
        if found is None:
            return []
        number = float(found.group())
        nearest = min(abs(number - c) for c in choices)
        return [c for c in choices if abs(number - c) == nearest]
    given = _squashed(value)
    if not given:
        return []
    same = [c for c in choices if _squashed(c) == given]
    if same:
        return same[:1]
    containing = [c for c in choices if given in _squashed(c) or _squashed(c) in given]
    if len(containing) == 1:
        return containing
    if default in containing:
        return [default]
    close = difflib.get_close_matches(given, [_squashed(c) for c in choices], n=1, cutoff=0.6)
    return [c for c in choices if _squashed(c) in close][:1]


# --- the rule -------------------------------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _number_from_text(text: str) -> int | float | None:
    stripped = text.strip()
    try:
        return int(stripped)
    except ValueError:
        pass
    try:
        number = float(stripped)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _choice(rule: FieldRule, value: Any) -> tuple[Any, bool]:
    """A fixed choice: exact, or the same ignoring case and spaces, or the same number written as text."""
    for choice in rule.choices:
        if type(choice) is type(value) and choice == value:
            return choice, False
    if _is_number(value):
        for choice in rule.choices:
            if _is_number(choice) and choice == value:
                return choice, False
    if isinstance(value, str):
        folded = value.strip().casefold()
        number = _number_from_text(value)
        for choice in rule.choices:
            if isinstance(choice, str) and choice.casefold() == folded:
                return choice, True
            if _is_number(choice) and number is not None and choice == number:
                return choice, True
    raise _refusal(rule, value, suggestions(value, rule.choices, rule.default))


def _numeric(rule: FieldRule, value: Any) -> tuple[Any, bool]:
    changed = False
    if isinstance(value, str) and (number := _number_from_text(value)) is not None:
        value, changed = number, True
    if not _is_number(value):
        raise _refusal(rule, value)
    if "number" not in rule.kinds:
        if not float(value).is_integer():
            raise _refusal(rule, value, suggestions(value, [math.floor(value), math.ceil(value)]))
        value = int(value)
    too_low = rule.minimum is not None and value < rule.minimum
    if too_low or (rule.maximum is not None and value > rule.maximum):
        raise _refusal(rule, value)
    return value, changed


def _boolean(rule: FieldRule, value: Any) -> tuple[Any, bool]:
    if isinstance(value, bool):
        return value, False
    if isinstance(value, str) and value.strip().casefold() in ("true", "false"):
        return value.strip().casefold() == "true", True
    raise _refusal(rule, value)


def _text(rule: FieldRule, value: Any) -> tuple[Any, bool]:
    if not isinstance(value, str):
        raise _refusal(rule, value)
    if (rule.min_length is not None and len(value) < rule.min_length) or (
        rule.max_length is not None and len(value) > rule.max_length
    ):
        raise _refusal(rule, value)
    return value, False


def _listed(rule: FieldRule, value: Any, notes: list[str]) -> tuple[Any, bool]:
    changed = False
    if isinstance(value, str):
        parsed: Any = None
        if value.strip().startswith("["):
            try:
                parsed = json.loads(value)
            except ValueError:
                parsed = None
        if isinstance(parsed, list):
            value, changed = parsed, True
            notes.append(f"{rule.name}: the JSON text was read as a list of {len(parsed)}.")
        else:
            value, changed = [value], True
            notes.append(f"{rule.name}: the single text was read as a list of one.")
    if not isinstance(value, list):
        raise _refusal(rule, value)
    too_many = rule.max_items is not None and len(value) > rule.max_items
    if too_many or (rule.min_items is not None and len(value) < rule.min_items):
        raise _Refused(f"{rule.name}: {len(value)} given ({shown(value)}); {allowed(rule)}.")
    if rule.item is not None:
        items = []
        for index, item in enumerate(value):
            checked, item_changed = coerce(replace(rule.item, name=f"{rule.name}[{index}]"), item, notes)
            items.append(checked)
            changed = changed or item_changed
        value = items
    return value, changed


def coerce(rule: FieldRule, value: Any, notes: list[str]) -> tuple[Any, bool]:
    """`value` under the rule (see the module docstring): the value to use and whether it was normalised."""
    if rule.choices:
        return _choice(rule, value)
    if "boolean" in rule.kinds:
        return _boolean(rule, value)
    if rule.kinds & {"integer", "number"}:
        return _numeric(rule, value)
    if "array" in rule.kinds:
        return _listed(rule, value, notes)
    if "string" in rule.kinds:
        return _text(rule, value)
    if "object" in rule.kinds and not isinstance(value, dict):
        raise _refusal(rule, value)
    return value, False


def _first_sentence(text: str) -> str:
    sentence = re.split(r"(?<=[.!?])\s", text.strip(), maxsplit=1)[0].rstrip(".")
    return sentence[:1].lower() + sentence[1:]


def missing(rule: FieldRule) -> str:
    about = f" ({_first_sentence(rule.description)})" if rule.description else ""
    return f"{rule.name} is required but was not given{about}."


def check(rules: Mapping[str, FieldRule], given: Mapping[str, Any]) -> Checked:
    """Apply the rule to every known argument; unknown ones are left for the caller to judge."""
    checked = Checked()
    for name, value in given.items():
        rule = rules.get(name)
        if rule is None:
            checked.arguments[name] = value
            continue
        if value is None and not rule.nullable:
            if rule.default is not _MISSING:
                checked.notes.append(f"{name}: null was read as not given (the default is {shown(rule.default)}).")
            continue  # a required argument given as null is reported as missing below
        if value is None:
            checked.arguments[name] = None
            continue
        try:
            result, changed = coerce(rule, value, checked.notes)
        except _Refused as refusal:
            checked.problems.append(refusal.sentence)
            continue
        if changed and not isinstance(result, list):
            checked.notes.append(f"{name}: {shown(value)} was read as {shown(result)}.")
        checked.arguments[name] = result
    for name, rule in rules.items():
        refused = any(problem.startswith(f"{name}:") for problem in checked.problems)
        if rule.required and checked.arguments.get(name) is None and not refused:
            checked.problems.append(missing(rule))
    return checked


def unknown_arguments(owner: str, given: Mapping[str, Any], declared: Sequence[str]) -> list[str]:
    """One sentence per argument `owner` does not have, naming the closest real one, then the real ones."""
    sentences = []
    for key in given:
        if key not in declared:
            close = catalog.closest_field(key, declared)
            hint = f" Did you mean '{close}'?" if close else ""
            sentences.append(f"{owner} has no argument '{key}'.{hint}")
    if sentences:
        listing = ", ".join(declared) if declared else "none"
        sentences.append(f"Its arguments are: {listing}.")
    return sentences
