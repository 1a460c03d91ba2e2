"""R19's pure rules (the standard library only): how numbers are normalised and
compared, what a record's edit may hold, what a disposition adds to a record, and how
two records become one."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

MAX_TEXT = 200  # a name, an address, a region, an account id
MAX_NOTES = 4000
MAX_NUMBERS = 10  # numbers on one record
MAX_ADDRESSES = 10
EDITABLE = ("name", "addresses", "numbers", "account_id", "notes", "calls_allowed")
_SEPARATORS = re.compile(r"[\s().\-]")
_NUMBER = re.compile(r"\+?\d{3,20}")


class Invalid(ValueError):
    """An input a record refuses (the HTTP layer answers 400 with its text)."""


def normalise(number: str) -> str:
    """A phone number as records keep it: separators dropped, the country prefix of
    China (+86, 0086) dropped: ``+86 138-1234-5678`` -> ``13812345678``; "" when it is
    no number (hidden, anonymous, letters)."""
    digits = _SEPARATORS.sub("", number.strip())
    if not _NUMBER.fullmatch(digits):
        return ""
    for prefix in ("+86", "0086"):
        if digits.startswith(prefix) and len(digits) > len(prefix) + 4:
            return digits[len(prefix):]
    return digits.lstrip("+")


def variants(number: str) -> list[str]:
    """The ways one normalised number is written in the other records (a caller id as
    the trunk gave it): itself, +86..., 0086..., 86... ."""
    return [number, f"+86{number}", f"0086{number}", f"86{number}"] if number else []


def _text(value: Any, name: str, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str):
        raise Invalid(f"{name} is text")
    if len(value) > limit:
        raise Invalid(f"{name} is {limit} characters at most")
    if "\x00" in value:
        raise Invalid(f"{name} holds a NUL character")
    return value.strip()


def address(value: Any) -> dict[str, str]:
    """``{"address": text, "region": text}`` (region may be "")."""
    if not isinstance(value, dict) or set(value) - {"address", "region"} or "address" not in value:
        raise Invalid("an address is {'address': text, 'region': text}")
    found = {"address": _text(value["address"], "address"), "region": _text(value.get("region", ""), "region")}
    if not found["address"]:
        raise Invalid("an address is not empty")
    return found


def edit(body: Mapping[str, Any]) -> dict[str, Any]:
    """A record's change as the desk sends it, checked: only the editable keys, each of
    its type and length; numbers normalised (one that is no number refused)."""
    unknown = sorted(set(body) - set(EDITABLE))
    if unknown:
        raise Invalid(f"a record's change holds only {list(EDITABLE)}: not {unknown}")
    if not body:
        raise Invalid(f"a record's change holds at least one of {list(EDITABLE)}")
    out: dict[str, Any] = {}
    for key, value in body.items():
        if key == "notes":
            out[key] = _text(value, key, MAX_NOTES)
        elif key in ("name", "account_id"):
            out[key] = _text(value, key)
        elif key == "calls_allowed":
            if not isinstance(value, bool):
                raise Invalid("calls_allowed is true or false")
            out[key] = value
        elif key == "addresses":
            if not isinstance(value, list) or len(value) > MAX_ADDRESSES:
                raise Invalid(f"addresses is a list of {MAX_ADDRESSES} addresses at most")
            out[key] = unique_addresses(address(a) for a in value)
        else:
            if not isinstance(value, list) or len(value) > MAX_NUMBERS:
                raise Invalid(f"numbers is a list of {MAX_NUMBERS} numbers at most")
            numbers = [normalise(_text(n, "a number", 40)) for n in value]
            if "" in numbers:
                raise Invalid("each of numbers is a phone number (digits, spaces, dashes, +86)")
            out[key] = list(dict.fromkeys(numbers))
    return out


def unique_addresses(found: Iterable[dict[str, str]]) -> list[dict[str, str]]:
    """Addresses without repeats (the same address: the first one's region kept, or a
    region added where the first had none)."""
    out: dict[str, dict[str, str]] = {}
    for a in found:
        key = " ".join(a["address"].split()).casefold()
        if key not in out:
            out[key] = dict(a)
        elif not out[key]["region"]:
            out[key]["region"] = a["region"]
    return list(out.values())


def learned(fields: Mapping[str, str], caller: str) -> dict[str, Any]:
    """What a disposition tells of its customer: the name, the address (with its
    region), the numbers (the caller's and the contact number), the account id."""
    numbers = [n for n in (normalise(caller), normalise(fields.get("contact_number", ""))) if n]
    place = fields.get("address", "").strip()[:MAX_TEXT]
    return {"name": fields.get("customer_name", "").strip()[:MAX_TEXT],
            "account_id": fields.get("account_id", "").strip()[:MAX_TEXT],
            "numbers": list(dict.fromkeys(numbers)),
            "addresses": [{"address": place, "region": fields.get("region", "").strip()[:MAX_TEXT]}] if place else []}


def enriched(record: Mapping[str, Any], seen: Mapping[str, Any]) -> dict[str, Any]:
    """The record's fields after a disposition matched it: what the record lacks is
    filled (a name, an account id); a new address is added; what an agent wrote is
    never overwritten by a disposition."""
    return {"name": record["name"] or seen["name"], "account_id": record["account_id"] or seen["account_id"],
            "addresses": unique_addresses([*record["addresses"], *seen["addresses"]])[:MAX_ADDRESSES]}


def merged(into: Mapping[str, Any], other: Mapping[str, Any]) -> dict[str, Any]:
    """Two records of one person as one (``into`` kept): its fields win, the other's
    fill what it lacks; addresses joined; notes joined; calls allowed only if both
    allow them (a refusal is never lost)."""
    notes = "\n".join(n for n in (into["notes"], other["notes"]) if n)[:MAX_NOTES]
    return {"name": into["name"] or other["name"], "account_id": into["account_id"] or other["account_id"],
            "addresses": unique_addresses([*into["addresses"], *other["addresses"]])[:MAX_ADDRESSES],
            "notes": notes, "calls_allowed": bool(into["calls_allowed"] and other["calls_allowed"])}


def changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Each field that changed: [before, after] (the record's history keeps these)."""
    return {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}
