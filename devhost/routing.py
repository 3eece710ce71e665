"""Functions (ASP.NET-style) route templates: parsing, matching and precedence. No I/O here."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar
from urllib.parse import unquote

T = TypeVar("T")

# Per-segment precedence as ASP.NET computes it for inbound matching: lower is tried first.
_LITERAL, _COMPLEX, _CONSTRAINED, _PARAMETER, _CATCH_ALL = 1, 2, 3, 4, 5

_CONSTRAINTS: dict[str, str] = {
    "int": r"-?\d+",
    "long": r"-?\d+",
    "alpha": r"[A-Za-z]+",
    "bool": r"(?i:true|false)",
    "guid": r"[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}",
    "double": r"-?\d+(?:\.\d+)?",
    "float": r"-?\d+(?:\.\d+)?",
    "decimal": r"-?\d+(?:\.\d+)?",
}

_PARAM = re.compile(r"\{([^{}]+)\}")


class RouteTemplateError(ValueError):
    pass


@dataclass(frozen=True)
class _Param:
    name: str
    pattern: str | None  # None: any non-empty segment
    optional: bool
    catch_all: bool


@dataclass(frozen=True)
class _Segment:
    rank: int
    literal: str | None = None  # lower-cased; literals match case-insensitively
    param: _Param | None = None
    regex: re.Pattern[str] | None = None  # complex segments such as `{name}.{ext}`
    names: tuple[str, ...] = ()


def _parse_param(text: str) -> _Param:
    catch_all = text.startswith("*")
    text = text.lstrip("*")
    optional = text.endswith("?")
    text = text.rstrip("?")
    if "=" in text:
        # A default value makes the parameter optional for matching purposes.
        text = text.split("=", 1)[0]
        optional = True
    name, *constraints = text.split(":")
    if not name or not re.fullmatch(r"\w+", name):
        raise RouteTemplateError(f"bad route parameter {{{text}}}")
    patterns = [
        _CONSTRAINTS[c.split("(")[0].lower()] for c in constraints if c.split("(")[0].lower() in _CONSTRAINTS
    ]
    pattern = "".join(f"(?={p}$)" for p in patterns[1:]) + patterns[0] if patterns else None
    return _Param(name=name, pattern=pattern, optional=optional, catch_all=catch_all)


def _parse_segment(text: str) -> _Segment:
    if "{" in _PARAM.sub("", text) or "}" in _PARAM.sub("", text):
        raise RouteTemplateError(f"unbalanced or empty braces in route segment {text!r}")
    params = list(_PARAM.finditer(text))
    if not params:
        return _Segment(rank=_LITERAL, literal=text.lower())
    if len(params) == 1 and params[0].span() == (0, len(text)):
        param = _parse_param(params[0].group(1))
        rank = _CATCH_ALL if param.catch_all else _CONSTRAINED if param.pattern else _PARAMETER
        return _Segment(rank=rank, param=param, names=(param.name,))
    regex, pos, names = "", 0, []
    for match in params:
        param = _parse_param(match.group(1))
        regex += re.escape(text[pos : match.start()]) + f"(?P<{param.name}>{param.pattern or '.+?'})"
        names.append(param.name)
        pos = match.end()
    regex += re.escape(text[pos:])
    return _Segment(rank=_COMPLEX, regex=re.compile(regex, re.IGNORECASE), names=tuple(names))


@dataclass(frozen=True)
class RouteTemplate:
    template: str
    segments: tuple[_Segment, ...]

    @classmethod
    def parse(cls, template: str) -> RouteTemplate:
        text = template.strip().strip("/")
        segments = tuple(_parse_segment(s) for s in text.split("/")) if text else ()
        for index, segment in enumerate(segments):
            last = index == len(segments) - 1
            if segment.param and segment.param.catch_all and not last:
                raise RouteTemplateError(f"{template}: a catch-all parameter must be the last segment")
            if segment.param and segment.param.optional and not last:
                raise RouteTemplateError(f"{template}: only the last segment may be optional")
        names = [n for s in segments for n in s.names]
        if len(names) != len(set(names)):
            raise RouteTemplateError(f"{template}: repeated parameter name")
        return cls(template=template, segments=segments)

    @property
    def precedence(self) -> tuple[int, ...]:
        return tuple(s.rank for s in self.segments)

    def match(self, path: str) -> dict[str, str] | None:
        """Route values for a request path (without the route prefix), or None when it does not match."""
        parts = [p for p in path.strip("/").split("/")] if path.strip("/") else []
        values: dict[str, str] = {}
        for index, segment in enumerate(self.segments):
            if index >= len(parts):
                # Only a trailing optional or catch-all parameter may be absent.
                if segment.param and (segment.param.optional or segment.param.catch_all):
                    return values
                return None
            raw = parts[index]
            if segment.param and segment.param.catch_all:
                # The catch-all keeps its slashes; each piece is still percent-decoded.
                values[segment.param.name] = "/".join(unquote(p) for p in parts[index:])
                return values
            text = unquote(raw)
            if segment.literal is not None:
                if text.lower() != segment.literal:
                    return None
            elif segment.param is not None:
                if not text or (segment.param.pattern and not re.fullmatch(segment.param.pattern, text)):
                    return None
                values[segment.param.name] = text
            elif segment.regex is not None:
                found = segment.regex.fullmatch(text)
                if not found:
                    return None
                values.update({k: v for k, v in found.groupdict().items() if v is not None})
        return values if len(parts) == len(self.segments) else None


@dataclass(frozen=True)
class Route(Generic[T]):
    template: RouteTemplate
    methods: frozenset[str]  # empty: every method
    target: T

    def allows(self, method: str) -> bool:
        return not self.methods or method.upper() in self.methods


@dataclass(frozen=True)
class RouteMatch(Generic[T]):
    route: Route[T] | None
    params: dict[str, str]
    path_matched: bool  # False: 404; True with route None: 405


@dataclass
class Router(Generic[T]):
    routes: list[Route[T]] = field(default_factory=list)

    def add(self, template: str, methods: Iterable[str] | None, target: T) -> Route[T]:
        route = Route(RouteTemplate.parse(template), frozenset(m.upper() for m in methods or ()), target)
        self.routes.append(route)
        # Stable sort: equal precedence keeps registration order, as the host does.
        self.routes.sort(key=lambda r: r.template.precedence)
        return route

    def resolve(self, method: str, path: str) -> RouteMatch[T]:
        path_matched = False
        for route in self.routes:
            params = route.template.match(path)
            if params is None:
                continue
            if route.allows(method):
                return RouteMatch(route, params, True)
            path_matched = True
        return RouteMatch(None, {}, path_matched)
