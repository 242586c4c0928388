"""Repair filters: a condition on a change's new image, and keys given as JSON.

The condition language is a small, DynamoDB-flavoured one, parsed once when the request is
validated (a filter that does not parse is refused before anything is read):

    deploy_version = "v42"
    deploy_version IN ("v42", "v43") AND NOT attribute_exists(migrated)
    balance < 0 OR begins_with(email, "null@")
    address.zip = "10115"          items[0] = 3          `odd name` <> null

Comparisons follow DynamoDB: a missing attribute never matches, values of another type never
compare equal (<> is true), `<`/`>` compare strings and numbers only. A REMOVE has no new image,
so a condition never selects a deletion (select those by event type or key).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from dynamodb_dr.core.errors import RepairRequestInvalid

Image = Mapping[str, Any]
Predicate = Callable[[Image], bool]

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    | (?P<quoted>`[^`]+`)
    | (?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
    | (?P<op><>|!=|<=|>=|=|<|>)
    | (?P<punct>[(),.\[\]])
    | (?P<word>[A-Za-z_][A-Za-z0-9_-]*)
    )""",
    re.VERBOSE,
)
KEYWORDS = {"AND", "OR", "NOT", "IN", "BETWEEN", "TRUE", "FALSE", "NULL"}
FUNCTIONS = {"attribute_exists", "attribute_not_exists", "begins_with", "contains"}


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    at: int


def _tokens(text: str) -> list[Token]:
    found, position = [], 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise _error(text, position, "unexpected character")
        kind = match.lastgroup or ""
        start = match.start(kind)
        found.append(Token(kind, match.group(kind), start))
        position = match.end()
    return found


def _error(text: str, at: int, problem: str) -> RepairRequestInvalid:
    near = text[at : at + 20] or "end"
    return RepairRequestInvalid(
        f"filter {text[:200]!r} does not parse at character {at + 1} ({near!r}): {problem}"
    )


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.index = 0

    def peek(self) -> Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def at_keyword(self, *words: str) -> bool:
        token = self.peek()
        return bool(token and token.kind == "word" and token.text.upper() in words)

    def take(self, kind: str | None = None, text: str | None = None) -> Token:
        token = self.peek()
        if token is None:
            raise _error(self.text, len(self.text), f"expected {text or kind or 'more'} at the end")
        if (kind and token.kind != kind) or (text and token.text.upper() != text.upper()):
            raise _error(self.text, token.at, f"expected {text or kind}")
        self.index += 1
        return token

    def parse(self) -> Predicate:
        if not self.tokens:
            raise _error(self.text, 0, "empty condition")
        predicate = self.disjunction()
        token = self.peek()
        if token is not None:
            raise _error(self.text, token.at, "unexpected text after the condition")
        return predicate

    def disjunction(self) -> Predicate:
        parts = [self.conjunction()]
        while self.at_keyword("OR"):
            self.index += 1
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else (lambda image: any(p(image) for p in parts))

    def conjunction(self) -> Predicate:
        parts = [self.negation()]
        while self.at_keyword("AND"):
            self.index += 1
            parts.append(self.negation())
        return parts[0] if len(parts) == 1 else (lambda image: all(p(image) for p in parts))

    def negation(self) -> Predicate:
        if self.at_keyword("NOT"):
            self.index += 1
            inner = self.negation()
            return lambda image: not inner(image)
        return self.primary()

    def primary(self) -> Predicate:
        token = self.peek()
        if token and token.kind == "punct" and token.text == "(":
            self.index += 1
            inner = self.disjunction()
            self.take("punct", ")")
            return inner
        if token and token.kind == "word" and token.text in FUNCTIONS:
            return self.function()
        path = self.path()
        if self.at_keyword("IN"):
            self.index += 1
            self.take("punct", "(")
            values = [self.value()]
            while self.peek() and self.peek().text == ",":  # type: ignore[union-attr]
                self.index += 1
                values.append(self.value())
            self.take("punct", ")")
            return lambda image: any(_compare(_get(image, path), "=", v) for v in values)
        if self.at_keyword("BETWEEN"):
            self.index += 1
            low = self.value()
            self.take("word", "AND")
            high = self.value()
            return lambda image: (
                _compare(_get(image, path), ">=", low) and _compare(_get(image, path), "<=", high)
            )
        op_token = self.peek()
        if op_token is None or op_token.kind != "op":
            raise _error(self.text, op_token.at if op_token else len(self.text), "expected a comparison")
        self.index += 1
        operator = "<>" if op_token.text == "!=" else op_token.text
        literal = self.value()
        return lambda image: _compare(_get(image, path), operator, literal)

    def function(self) -> Predicate:
        name = self.take("word").text
        self.take("punct", "(")
        path = self.path()
        literal: Any = None
        if name in ("begins_with", "contains"):
            self.take("punct", ",")
            literal = self.value()
        self.take("punct", ")")
        if name == "attribute_exists":
            return lambda image: _get(image, path) is not None
        if name == "attribute_not_exists":
            return lambda image: _get(image, path) is None
        if name == "begins_with":
            return lambda image: _begins_with(_get(image, path), literal)
        return lambda image: _contains(_get(image, path), literal)

    def path(self) -> tuple[str | int, ...]:
        parts: list[str | int] = [self.name()]
        while (token := self.peek()) and token.kind == "punct" and token.text in ".[":
            self.index += 1
            if token.text == ".":
                parts.append(self.name())
            else:
                index = self.take("number")
                if not index.text.isdigit():
                    raise _error(self.text, index.at, "a list index is a whole number")
                parts.append(int(index.text))
                self.take("punct", "]")
        return tuple(parts)

    def name(self) -> str:
        token = self.peek()
        if token and token.kind == "quoted":
            self.index += 1
            return token.text[1:-1]
        if token and token.kind == "word" and token.text.upper() not in KEYWORDS:
            self.index += 1
            return token.text
        raise _error(self.text, token.at if token else len(self.text), "expected an attribute name")

    def value(self) -> Any:
        token = self.peek()
        if token is None:
            raise _error(self.text, len(self.text), "expected a value at the end")
        self.index += 1
        if token.kind == "string":
            body = token.text[1:-1] if token.text[0] == '"' else token.text[1:-1].replace('"', '\\"')
            try:
                return str(json.loads(f'"{body}"'))
            except ValueError:
                raise _error(self.text, token.at, "bad escape in string") from None
        if token.kind == "number":
            try:
                return Decimal(token.text)
            except InvalidOperation:
                raise _error(self.text, token.at, "bad number") from None
        if token.kind == "word" and token.text.upper() in ("TRUE", "FALSE"):
            return token.text.upper() == "TRUE"
        if token.kind == "word" and token.text.upper() == "NULL":
            return None
        raise _error(self.text, token.at, 'expected a value ("text", a number, true, false or null)')


def parse_condition(text: str) -> Predicate:
    """Parse a condition; RepairRequestInvalid (one line, with the position) if it does not parse."""
    return _Parser(text).parse()


_MISSING = None


def _get(image: Image, path: tuple[str | int, ...]) -> Mapping[str, Any] | None:
    value: Any = image.get(str(path[0])) if isinstance(path[0], str) else None
    for part in path[1:]:
        if not isinstance(value, Mapping):
            return _MISSING
        if isinstance(part, int):
            items = value.get("L")
            value = items[part] if isinstance(items, list) and part < len(items) else None
        else:
            members = value.get("M")
            value = members.get(part) if isinstance(members, Mapping) else None
    return value if isinstance(value, Mapping) and len(value) == 1 else _MISSING


def _plain(value: Mapping[str, Any]) -> tuple[str, Any]:
    ((tag, inner),) = value.items()
    if tag == "N":
        try:
            return "N", Decimal(str(inner))
        except InvalidOperation:
            return "N?", inner
    if tag == "NULL":
        return "NULL", None
    return tag, inner


def _literal_type(literal: Any) -> str:
    if literal is None:
        return "NULL"
    if isinstance(literal, bool):
        return "BOOL"
    if isinstance(literal, Decimal):
        return "N"
    return "S"


def _compare(value: Mapping[str, Any] | None, operator: str, literal: Any) -> bool:
    if value is None:
        return False  # a missing attribute matches no comparison
    tag, plain = _plain(value)
    same_type = tag == _literal_type(literal)
    if operator == "=":
        return same_type and plain == literal
    if operator == "<>":
        return not (same_type and plain == literal)
    if not same_type or tag not in ("S", "N"):
        return False
    return bool(
        {
            "<": plain < literal,
            "<=": plain <= literal,
            ">": plain > literal,
            ">=": plain >= literal,
        }[operator]
    )


def _begins_with(value: Mapping[str, Any] | None, literal: Any) -> bool:
    return bool(value and "S" in value and isinstance(literal, str) and str(value["S"]).startswith(literal))


def _contains(value: Mapping[str, Any] | None, literal: Any) -> bool:
    if value is None:
        return False
    tag, plain = _plain(value)
    if tag == "S":
        return isinstance(literal, str) and literal in plain
    if tag == "SS":
        return isinstance(literal, str) and literal in plain
    if tag == "NS":
        return isinstance(literal, Decimal) and any(Decimal(str(v)) == literal for v in plain)
    if tag == "L":
        return any(_compare(member, "=", literal) for member in plain)
    return False


# ---------------------------------------------------------------- keys

TYPE_TAGS = {"S", "N", "B"}


def key_from_json(value: Any) -> dict[str, Any]:
    """A key as DynamoDB JSON ({"id": {"S": "a"}}) or plain JSON ({"id": "a"}, numbers stay N)."""
    if not isinstance(value, Mapping) or not value or len(value) > 2:
        raise RepairRequestInvalid("a key is a JSON object of one or two key attributes")
    key: dict[str, Any] = {}
    for name, part in value.items():
        if isinstance(part, Mapping) and len(part) == 1 and next(iter(part)) in TYPE_TAGS:
            tag, inner = next(iter(part.items()))
            if not isinstance(inner, str | int | Decimal) or isinstance(inner, bool):
                raise RepairRequestInvalid(f"key attribute {name!r}: a {tag} value is text")
            key[str(name)] = {tag: str(inner)}
        elif isinstance(part, str):
            key[str(name)] = {"S": part}
        elif isinstance(part, int | Decimal) and not isinstance(part, bool):
            key[str(name)] = {"N": str(part)}
        elif isinstance(part, float):
            key[str(name)] = {"N": repr(part)}
        else:
            raise RepairRequestInvalid(f"key attribute {name!r}: a key value is a string or a number")
    return key
