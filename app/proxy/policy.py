"""Decide whether a request runs at once or waits for a human.

The order (first rule that applies wins)::

    (1) no policy row        -> team default (autonomous: run; gated: reads run)
    (2) require_approval_urls -> wait
    (3) auto_approve_urls     -> run, whatever the method
    (4) auto_approve_methods  -> run      (HEAD is looked up as GET)
    (5) require_approval_methods -> wait
    (6) otherwise             -> wait

URL patterns match path segments: ``/v1/search`` matches ``/v1/search`` and
``/v1/search/results`` but not ``/v1/searchx``; ``*`` is exactly one segment;
``api.example.com/v1`` also needs that exact host; query and fragment never
take part.

Both the pattern and the target path are **normalised** before they are
compared, so a rule does not depend on how a path is spelled: percent-escapes
are decoded (repeatedly, so ``%252F`` counts as ``/``), an encoded ``/`` splits
segments, ``;parameters`` are dropped from each segment, and ``.``/``..``
segments are resolved. The two kinds of rule then compare differently, each
in the direction that fails safe:

* **require-approval** rules match *generously*: case-insensitively, and a
  segment matches when it starts with the pattern's segment followed by
  anything that is not a letter or digit (``prod.git``, ``prod ``, ``prod~1``
  and ``prod-old`` all match ``prod``; ``production`` does not). Upstreams
  such as GitHub serve ``/repos/o/r.git`` and trailing-space variants as
  ``/repos/o/r``, and over-asking a human is safe where under-asking is not.
  ``*`` also matches an empty segment here.
* **auto-approve** rules match *exactly*: same case, same segment text, and a
  ``*`` needs a non-empty segment; a spelling that differs just falls
  through to the stricter rules.

A policy is compiled once per version (:func:`compile_policy`): patterns are
parsed and normalised, method lists upper-cased, and the result is memoised
on the policy's whole content, so an edited policy is a new key and takes
effect on the next request. A request's target is parsed and normalised once,
whatever the number of patterns.

Usage::

    decision = decide(policy, "gated", "POST", "https://api.example.com/v1/x")
    decision.needs_approval, decision.reason   # (True, "require_approval_default")
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import unquote_to_bytes, urlsplit

from app.errors import InvalidMethod
from app.proxy.context import ForwardContext
from app.store.models import ApprovalMode, Policy

logger = logging.getLogger(__name__)

# The reason strings appear in audit records (``policy_reason``).
TEAM_AUTONOMOUS_DEFAULT: Final = "team_autonomous_default"
TEAM_GATED_SAFE_METHOD: Final = "team_gated_default_safe_method"
TEAM_GATED_UNSAFE_METHOD: Final = "team_gated_default_unsafe_method"
REQUIRE_APPROVAL_URL: Final = "require_approval_url"
AUTO_APPROVE_URL: Final = "auto_approve_url"
AUTO_APPROVE_METHOD: Final = "auto_approve_method"
REQUIRE_APPROVAL_METHOD: Final = "require_approval_method"
REQUIRE_APPROVAL_DEFAULT: Final = "require_approval_default"

"""Methods policies know by name; any other method is judged as ``POST``."""

SAFE_METHODS: Final = frozenset({"GET", "HEAD"})
"""What the gated team default runs without approval. OPTIONS is not among them."""

MAX_METHOD_LENGTH: Final = 32
MAX_DECODE_ROUNDS: Final = 8
"""Percent-decoding stops here; the target stage refuses deeper nesting anyway."""

COMPILED_POLICIES: Final = 4096
"""How many policy versions a worker keeps compiled (least recently used ones are dropped)."""

RuleKind = Literal["require", "auto"]
"""Which side of the decision a URL rule is on; it sets how generously it matches."""
_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of :func:`decide`."""

    needs_approval: bool
    reason: str
    """One of the reason constants of this module; recorded as ``policy_reason``."""


def normalize_method(raw: str) -> str:
    """``X-TAP-Method`` as the upper-case method TAP sends upstream.

    Raises:
        InvalidMethod: empty, too long, or not an HTTP token (RFC 9110).
    """
    method = raw.strip()
    if not method or len(method) > MAX_METHOD_LENGTH or not _TOKEN.fullmatch(method):
        raise InvalidMethod("X-TAP-Method must be an HTTP method token such as GET or POST")
    # NOTE: upper-cased so the method policy judged is the method sent; the
    # reference sent "get" upstream while treating it as GET.
    return method.upper()


def decide(
    policy: Policy | None, team_mode: ApprovalMode, method: str, display_target: str
) -> Decision:
    """Apply the decision order above to one request.

    ``display_target`` is :attr:`~app.proxy.target.ResolvedTarget.display`.
    Never raises: anything unknown ends in a decision that needs approval.
    """
    # NOTE: an unknown method (PROPFIND, PURGE, ...) is matched only as
    # itself: it is never a safe read, and a rule for POST does not approve it.
    judged = method.upper()
    if policy is None:
        # (1) The team default. NOTE: any mode other than "autonomous" is
        # treated as gated, so an unexpected stored value fails closed.
        if team_mode == "autonomous":
            return Decision(False, TEAM_AUTONOMOUS_DEFAULT)
        if judged in SAFE_METHODS:
            return Decision(False, TEAM_GATED_SAFE_METHOD)
        return Decision(True, TEAM_GATED_UNSAFE_METHOD)
    compiled = compile_policy(policy)
    if compiled.require_urls or compiled.auto_urls:
        target = _Target.parse(display_target)
        # (2) require-URL patterns beat everything else.
        if any(rule.matches(target, "require") for rule in compiled.require_urls):
            return Decision(True, REQUIRE_APPROVAL_URL)
        # (3) auto-URL patterns approve regardless of method.
        if any(rule.matches(target, "auto") for rule in compiled.auto_urls):
            return Decision(False, AUTO_APPROVE_URL)
    # (4) and (5): HEAD is looked up as GET, so listing HEAD alone does nothing.
    lookup = "GET" if judged == "HEAD" else judged
    if lookup in compiled.auto_methods:
        return Decision(False, AUTO_APPROVE_METHOD)
    if lookup in compiled.require_methods:
        return Decision(True, REQUIRE_APPROVAL_METHOD)
    # (6)
    return Decision(True, REQUIRE_APPROVAL_DEFAULT)


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    """A policy's rules in the form :func:`decide` applies them; see :func:`compile_policy`."""

    require_urls: tuple[UrlRule, ...]
    """``require_approval_urls`` that can match anything (blank and starred hosts dropped)."""
    auto_urls: tuple[UrlRule, ...]
    auto_methods: frozenset[str]
    """``auto_approve_methods``, trimmed and upper-cased."""
    require_methods: frozenset[str]


@functools.lru_cache(maxsize=COMPILED_POLICIES)
def compile_policy(policy: Policy) -> CompiledPolicy:
    """``policy`` compiled: each URL pattern parsed and normalised, method lists as sets.

    NOTE: memoised on the whole policy value (a frozen dataclass), not on its
    name: any edit makes a different key, so a changed rule can never be
    served from a stale compilation.
    """
    return CompiledPolicy(
        require_urls=_rules(policy.require_approval_urls, "require"),
        auto_urls=_rules(policy.auto_approve_urls, "auto"),
        auto_methods=_upper(policy.auto_approve_methods),
        require_methods=_upper(policy.require_approval_methods),
    )


def strictest(decisions: Sequence[Decision]) -> Decision:
    """Combine the decisions for several credentials in one request.

    The first decision that needs approval wins; otherwise the first one.

    Raises:
        ValueError: ``decisions`` is empty (there is nothing to combine).
    """
    if not decisions:
        raise ValueError("no decisions to combine")
    for decision in decisions:
        if decision.needs_approval:
            return decision
    return decisions[0]


def url_pattern_matches(pattern: str, target: str, kind: RuleKind) -> bool:
    """Whether one policy URL pattern matches ``target`` (an absolute URL).

    * ``/path`` is a segment-wise path prefix on any host; ``/`` matches every path.
    * ``host/path`` also needs the URL host to equal ``host`` (case-insensitive,
      no ``*``, port not part of the host).
    * ``host`` alone matches every path on exactly that host.

    Paths are normalised and ``kind`` chooses the comparison (see the module
    docstring). A target that is not an absolute URL never matches (so it can
    never be auto-approved by URL).
    """
    rule = UrlRule.parse(pattern, kind)
    return rule is not None and rule.matches(_Target.parse(target), kind)


@dataclass(frozen=True, slots=True)
class UrlRule:
    """One URL pattern, parsed and normalised for the side of the decision it is on."""

    host: str | None
    """Lower-case host the target must have; ``None`` for a path-only pattern."""
    segments: tuple[str | None, ...]
    """The pattern's normalised path segments (``None`` is ``*``); empty matches every path.
    For a require-approval rule each segment is already trimmed and case-folded."""

    @classmethod
    def parse(cls, pattern: str, kind: RuleKind) -> UrlRule | None:
        """The rule ``pattern`` stands for, or ``None`` when it can match nothing
        (blank, or a host part that is empty or holds ``*``)."""
        pattern = pattern.strip()
        if not pattern:
            return None
        if pattern.startswith("/"):
            return cls(None, _pattern_segments(pattern, kind))
        pattern_host, slash, pattern_path = pattern.partition("/")
        if not pattern_host or "*" in pattern_host:
            return None
        segments = _pattern_segments("/" + pattern_path, kind) if slash else ()
        return cls(pattern_host.lower(), segments)

    def matches(self, target: _Target, kind: RuleKind) -> bool:
        """Whether this rule, compiled for ``kind``, matches the parsed ``target``."""
        if not target.host or (self.host is not None and self.host != target.host):
            return False
        wanted = self.segments
        if not wanted:
            return True
        actual = target.folded if kind == "require" else target.segments
        if len(wanted) > len(actual):
            return False
        if kind == "require":
            return all(_require_segment_matches(w, h) for w, h in zip(wanted, actual, strict=False))
        return all(_auto_segment_matches(w, h) for w, h in zip(wanted, actual, strict=False))


@dataclass(frozen=True, slots=True)
class _Target:
    """A request's target as URL rules see it, parsed once per decision."""

    host: str
    """Lower-case host; empty when the target is not an absolute URL (nothing matches it)."""
    segments: tuple[str, ...]
    folded: tuple[str, ...]
    """``segments`` trimmed and case-folded, for require-approval rules."""

    @classmethod
    def parse(cls, target: str) -> _Target:
        try:
            parts = urlsplit(target)
            host = (parts.hostname or "").lower()
        except ValueError:
            return cls("", (), ())
        if not parts.scheme or not host:
            return cls("", (), ())
        segments = tuple(normalised_segments(parts.path or "/"))
        return cls(host, segments, tuple(s.strip().casefold() for s in segments))


def normalised_segments(path: str) -> list[str]:
    """The segments of ``path`` as an upstream could read it.

    Percent-escapes are decoded until nothing changes (at most
    :data:`MAX_DECODE_ROUNDS` times), ``;parameters`` are cut from each
    segment, ``.`` and ``..`` are resolved, and one trailing ``/`` is ignored.
    Bytes that are not UTF-8 are kept as surrogate escapes, so they never
    equal a pattern's text by accident.
    """
    for _ in range(MAX_DECODE_ROUNDS):
        if "%" not in path:
            break
        decoded = unquote_to_bytes(path).decode("utf-8", "surrogateescape")
        if decoded == path:
            break
        path = decoded
    segments: list[str] = []
    for raw in path.split("/")[1:] if path.startswith("/") else path.split("/"):
        segment = raw.split(";", 1)[0]
        if segment == ".":
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    if segments and segments[-1] == "" and path.endswith("/"):
        segments.pop()
    return segments


# -- internals -----------------------------------------------------------------------


def _rules(patterns: Iterable[str], kind: RuleKind) -> tuple[UrlRule, ...]:
    return tuple(rule for p in patterns if (rule := UrlRule.parse(p, kind)) is not None)


def _upper(methods: Iterable[str]) -> frozenset[str]:
    return frozenset(method.strip().upper() for method in methods)


def _pattern_segments(path: str, kind: RuleKind) -> tuple[str | None, ...]:
    segments = normalised_segments(path)
    if kind == "require":
        return tuple(None if s == "*" else s.strip().casefold() for s in segments)
    return tuple(None if s == "*" else s for s in segments)


def _auto_segment_matches(want: str | None, have: str) -> bool:
    if want is None:
        # NOTE: a star is one whole, non-empty segment; "ref*" is literal.
        return bool(have)
    return want == have


def _require_segment_matches(want: str | None, have: str) -> bool:
    """``want`` and ``have`` are both trimmed and case-folded already."""
    if want is None:
        return True
    if not have.startswith(want):
        return False
    # NOTE: "prod.git", "prod " and "prod-x" count as "prod" (fail safe);
    # only a letter or digit right after the pattern makes another name.
    return len(have) == len(want) or not have[len(want)].isalnum()


async def run(ctx: ForwardContext) -> ForwardContext:
    """Pipeline stage: run now, or wait for a human? The strictest credential decides."""
    mode: ApprovalMode = "autonomous" if ctx.team_mode == "autonomous" else "gated"
    decisions = [
        decide(ctx.policies.get(c.name), mode, ctx.method, ctx.display_target)
        for c in ctx.credentials
    ]
    decision = strictest(decisions)
    ctx.needs_approval = decision.needs_approval
    ctx.policy_reason = decision.reason
    ctx.require_passkey = any(p is not None and p.require_passkey for p in ctx.policies.values())
    return ctx
