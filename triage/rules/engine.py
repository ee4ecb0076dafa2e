"""The threshold rule engine: a YAML rule set compiled once, then used to rate every child of a referral."""

from __future__ import annotations

import functools
import importlib.resources
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Annotated, Any

import rule_engine
import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError
from rule_engine import DataType, ast

from schemas.enums import RAG_RANK, Agency, ConcernCategory, CurrentPlan, Indicator, Outcome, Rag

Path = tuple[str | int, ...]
Count = Annotated[StrictInt, Field(ge=0)]
Words = Annotated[StrictStr, Field(pattern=r"\S")]
# YAML reads an unquoted `when: true` as a boolean: it means a rule that always fires.
Condition = Annotated[Words, BeforeValidator(lambda value: str(value).lower() if isinstance(value, bool) else value)]

FACT_NAMES = ("immediate_danger", "agency", "concerns", "indicators", "child", "agency_details", "history")
VOCABULARY: Mapping[str, frozenset[str]] = MappingProxyType(
    {"concerns": frozenset(ConcernCategory), "indicators": frozenset(Indicator)}
)
# The same facts recur all day (sibling groups, families referred again); 4096 ratings take well under a few MB.
CACHE_SIZE = 4096
# A rating must depend on the facts alone: these builtins would change it from one call to the next, or build
# arbitrarily large lists.
REFUSED_BUILTINS = frozenset({"now", "today", "random", "range"})
# Bounds on the time one rating can take: a condition's length, the number of rules, and no operators whose cost
# grows without bound with their operands (a pattern that backtracks, a shift that builds a huge number). The engine
# folds constants while parsing, so these are refused before the text reaches it.
MAX_CONDITION_CHARS = 2_000
MAX_RULES = 500
_STRING_LITERAL = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", re.DOTALL)
_UNBOUNDED_OPERATORS = re.compile(r"=~|!~|<<|>>")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChildFacts(_Strict):
    """What a rule may know about the child: age_years is null when the child is unborn."""

    age_years: Count | None = None
    unborn: StrictBool = False
    current_plan: CurrentPlan = CurrentPlan.none


class HistoryFacts(_Strict):
    """Earlier referrals of the child in the 365 days before this one, and those with neglect among their concerns."""

    referrals_12m: Count = 0
    neglect_referrals_12m: Count = 0


class Facts(_Strict):
    """The facts a rule can use about one child (DOMAIN.md); a missing fact takes its default."""

    immediate_danger: StrictBool = False
    agency: Agency = Agency.other
    concerns: frozenset[ConcernCategory] = frozenset()
    indicators: frozenset[Indicator] = frozenset()
    child: ChildFacts = ChildFacts()
    agency_details: dict[str, Any] = Field(default_factory=dict)
    history: HistoryFacts = HistoryFacts()


class _Conclusion(_Strict):
    model_config = ConfigDict(use_enum_values=True)

    level: Annotated[StrictInt, Field(ge=1, le=4)]
    rag: Rag
    pathway: Outcome


class _RuleIn(_Conclusion):
    id: Annotated[StrictStr, Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]
    description: Words
    when: Condition


class _ExpectIn(_Conclusion):
    rules: tuple[StrictStr, ...] | None = None


class _ExampleIn(_Strict):
    name: Words
    facts: Facts = Facts()
    expect: _ExpectIn


class _RuleSetIn(_Strict):
    name: Words
    rules: Annotated[list[_RuleIn], Field(min_length=1, max_length=MAX_RULES)]
    examples: list[_ExampleIn] = []


@dataclass(frozen=True)
class Reason:
    """One rule that fired for a child, as shown to staff."""

    rule_id: str
    description: str


@dataclass(frozen=True)
class Rating:
    """A child's triage rating: level, urgency, recommended pathway and every rule that fired."""

    level: int
    rag: str
    pathway: str
    reasons: tuple[Reason, ...]

    def reasons_json(self) -> list[dict[str, str]]:
        """The reasons as stored and returned by the API."""
        return [{"rule_id": reason.rule_id, "description": reason.description} for reason in self.reasons]


@dataclass(frozen=True)
class CompiledRule:
    """A rule with its condition compiled; `when` keeps the condition's source text."""

    id: str
    description: str
    level: int
    rag: str
    pathway: str
    when: str
    line: int | None
    details: tuple[str, ...]
    reads: tuple[str, ...]
    condition: rule_engine.Rule = field(repr=False, compare=False)


@dataclass(frozen=True)
class Example:
    """An example case: facts in, the rating (and optionally the rules fired) the rule set must give out."""

    name: str
    facts: Facts
    level: int
    rag: str
    pathway: str
    rules: tuple[str, ...] | None
    line: int | None


class RuleSetInvalid(Exception):
    """A rule set that cannot be used, with every problem found and the line it is on."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        self.problems = problems
        super().__init__(
            "; ".join(f"line {p['line']}: {p['message']}" if p["line"] else p["message"] for p in problems)
        )


class RatingFailed(Exception):
    """The rule set could not rate a child: no rule fired, or a condition could not be evaluated."""


class _Problems:
    """Problems found so far, each placed on the line of the YAML node it concerns."""

    def __init__(self) -> None:
        self.lines: dict[Path, int] = {}
        self.found: list[dict[str, Any]] = []

    def add(self, path: Path, message: str, *, line: int | None = None) -> None:
        """Record a problem; a path missing from the YAML takes the line of its nearest parent."""
        probe = path
        while probe and probe not in self.lines:
            probe = probe[:-1]
        where = line if line is not None else self.lines.get(probe)
        self.found.append({"line": where, "path": "/" + "/".join(map(str, path)), "message": message})

    def map_lines(self, node: yaml.Node, path: Path = ()) -> None:
        """Note the line of every node, and refuse keys given twice (YAML would silently keep the last)."""
        self.lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, value_node in node.value:
                if key_node.value in seen:
                    self.add(path, f"'{key_node.value}' is given twice here.", line=key_node.start_mark.line + 1)
                seen.add(key_node.value)
                self.map_lines(value_node, (*path, key_node.value))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self.map_lines(item, (*path, index))


def _accessor(value: Mapping[str, Any], name: str) -> Any:
    # Facts are looked up as mapping keys, never as Python attributes, so no object internals are reachable.
    return value[name]


_CHILD_TYPES = dict(age_years=DataType.NULLABLE(DataType.FLOAT), unborn=DataType.BOOLEAN, current_plan=DataType.STRING)
_CHILD = DataType.OBJECT("Child", accessor=_accessor, attributes=_CHILD_TYPES)
_HISTORY = DataType.OBJECT(
    "History", accessor=_accessor, attributes=dict.fromkeys(HistoryFacts.model_fields, DataType.FLOAT)
)


def _context(*, details: tuple[str, ...] | None) -> rule_engine.Context:
    """A typed context, so an unknown fact name fails when a condition compiles rather than when a child is rated."""
    # agency_details is free-form: the keys a condition reads become attributes of an object type (null when the
    # agency did not give them); a first pass with it untyped (details=None) finds which keys those are.
    details_type = DataType.UNDEFINED
    if details is not None:
        details_type = DataType.OBJECT(
            "AgencyDetails", accessor=_accessor, attributes=dict.fromkeys(details, DataType.UNDEFINED)
        )
    fact_types = {
        "immediate_danger": DataType.BOOLEAN,
        "agency": DataType.STRING,
        "concerns": DataType.ARRAY(DataType.STRING),
        "indicators": DataType.ARRAY(DataType.STRING),
        "child": _CHILD,
        "history": _HISTORY,
        "agency_details": details_type,
    }
    return rule_engine.Context(
        type_resolver=rule_engine.type_resolver_from_dict(fact_types),
        default_value=None,
        default_timezone="utc",
        mapping_attribute_lookup=False,
    )


def _walk(node: Any, parent: Any = None) -> Iterator[tuple[Any, Any]]:
    """Every expression node under node (itself included), each with its parent."""
    if isinstance(node, tuple | list):
        for item in node:
            yield from _walk(item, parent)
        return
    if not isinstance(node, ast.ExpressionBase):
        return
    yield node, parent
    names = set(getattr(node, "__dict__", {}))
    for cls in type(node).__mro__:
        slots = vars(cls).get("__slots__", ())
        names.update((slots,) if isinstance(slots, str) else slots)
    for name in sorted(names - {"context"}):
        yield from _walk(getattr(node, name, None), node)


def _compile_condition(text: str) -> dict[str, Any]:
    """A compiled condition, with the facts and agency details it reads; raises ValueError saying what is wrong."""
    if len(text) > MAX_CONDITION_CHARS:
        raise ValueError(f"a condition is at most {MAX_CONDITION_CHARS} characters")
    operator = _UNBOUNDED_OPERATORS.search(_STRING_LITERAL.sub('""', text))
    if operator is not None:
        raise ValueError(
            f"'{operator.group()}' cannot be used: regular expressions and bit shifts can make a rating take "
            "unbounded time; compare with ==, in or a comprehension instead"
        )
    try:
        probe = rule_engine.Rule(text, context=_context(details=None))
        details: set[str] = set()
        reads = {name for name in probe.context.symbols if name in FACT_NAMES}
        for node, parent in _walk(probe.statement.expression):
            if isinstance(node, ast.SymbolExpression) and node.scope is not None and node.name in REFUSED_BUILTINS:
                raise ValueError(f"${node.name} cannot be used: a rating must depend on the facts alone")
            if isinstance(node, ast.SymbolExpression) and node.name == "agency_details" and node.scope is None:
                if not (isinstance(parent, ast.GetAttributeExpression) and parent.object is node):
                    raise ValueError("use agency_details with the detail wanted, e.g. agency_details.children_present")
                details.add(parent.name)
            # A misspelt category would make a rule silently never fire.
            if isinstance(node, ast.ContainsExpression) and isinstance(node.container, ast.SymbolExpression):
                known = VOCABULARY.get(node.container.name)
                if (
                    known is not None
                    and isinstance(node.member, ast.StringExpression)
                    and node.member.value not in known
                ):
                    raise ValueError(f"'{node.member.value}' is not one of the {node.container.name} a referral gives")
        names = tuple(sorted(details))
        condition = rule_engine.Rule(text, context=_context(details=names))
        return {"condition": condition, "details": names, "reads": tuple(sorted(reads))}
    except rule_engine.SymbolResolutionError as error:
        hint = f" (did you mean '{error.suggestion}'?)" if error.suggestion else ""
        raise ValueError(f"'{error.symbol_name}' is not a fact{hint}; facts are {', '.join(FACT_NAMES)}") from None
    except rule_engine.AttributeResolutionError as error:
        hint = f" (did you mean '{error.suggestion}'?)" if error.suggestion else ""
        raise ValueError(f"'{error.attribute_name}' is not a known part of that fact{hint}") from None
    except rule_engine.EngineError as error:
        raise ValueError(error.message) from None


def _parse(source: str) -> tuple[Any, _Problems]:
    """The YAML data of a rule set, and a problem list that knows the line of every node."""
    problems = _Problems()
    loader = None
    try:
        # The loader refuses characters YAML does not allow (control characters) as soon as it is made.
        loader = yaml.SafeLoader(source)
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        detail = getattr(error, "problem", None) or str(error)
        # Where the problem was found can be the end of the file; where the unfinished part began helps more.
        context, context_mark = getattr(error, "context", None), getattr(error, "context_mark", None)
        if context and context_mark is not None:
            detail += f" ({context} from line {context_mark.line + 1})"
        line = mark.line + 1 if mark is not None else None
        raise RuleSetInvalid([{"line": line, "path": "", "message": f"The YAML cannot be read: {detail}."}]) from None
    finally:
        if loader is not None:
            loader.dispose()
    if node is not None:
        problems.map_lines(node)
    return data, problems


def _entries(data: Any, key: str) -> list[tuple[int, dict[str, Any], str]]:
    """The mappings listed under key, each with its index and how messages name it."""
    items = data.get(key) if isinstance(data, dict) else None
    found = []
    for index, item in enumerate(items if isinstance(items, list) else []):
        if isinstance(item, dict):
            ident = item.get("id" if key == "rules" else "name")
            kind = "Rule" if key == "rules" else "Example"
            found.append((index, item, f"{kind} '{ident}': " if isinstance(ident, str) else f"{kind} {index + 1}: "))
    return found


def compile_rule_set(source: str, *, version: int = 0) -> CompiledRuleSet:
    """Check and compile a rule set's YAML source; raises RuleSetInvalid listing every problem and its line."""
    data, problems = _parse(source)
    labels: dict[Path, str] = {
        (key, index): label for key in ("rules", "examples") for index, _, label in _entries(data, key)
    }
    parsed = None
    try:
        parsed = _RuleSetIn.model_validate(data)
    except ValidationError as error:
        for detail in error.errors():
            path = tuple(detail["loc"])
            key = next((str(part) for part in reversed(path) if isinstance(part, str)), "the rule set")
            message = {
                "extra_forbidden": f"'{key}' is not a known key here",
                "missing": f"'{key}' is missing",
                "string_pattern_mismatch": "ids are lowercase words joined by hyphens, e.g. cumulative-neglect"
                if key == "id"
                else f"give the {key} in words",
            }.get(detail["type"], f"{key}: {detail['msg']}")
            # pydantic names its own model classes; a rule set's author only sees YAML mappings.
            message = re.sub(r"a valid dictionary or instance of \w+", "a mapping of keys to values", message)
            problems.add(path, f"{labels.get(path[:2], '')}{message}.")
    conditions: dict[int, dict[str, Any]] = {}
    seen: set[Any] = set()
    for index, item, label in _entries(data, "rules"):
        if isinstance(item.get("id"), str) and item["id"] in seen:
            problems.add(("rules", index, "id"), f"{label}another rule has this id; ids must be unique.")
        seen.add(item.get("id") if isinstance(item.get("id"), str) else None)
        text = str(item["when"]).lower() if isinstance(item.get("when"), bool) else item.get("when")
        if isinstance(text, str) and text.strip():
            try:
                conditions[index] = _compile_condition(text)
            except ValueError as error:
                problems.add(("rules", index, "when"), f"{label}the condition cannot be used: {error}.")
    rule_ids, seen = seen, set()
    for index, item, label in _entries(data, "examples"):
        if isinstance(item.get("name"), str) and item["name"] in seen:
            problems.add(("examples", index, "name"), f"{label}another example has this name; names must be unique.")
        seen.add(item.get("name") if isinstance(item.get("name"), str) else None)
        expected = item["expect"].get("rules") if isinstance(item.get("expect"), dict) else None
        for rule_id in expected if isinstance(expected, list) else []:
            if isinstance(rule_id, str) and rule_id not in rule_ids:
                problems.add(("examples", index, "expect", "rules"), f"{label}there is no rule '{rule_id}'.")
    if problems.found or parsed is None:
        raise RuleSetInvalid(problems.found)
    rules = [
        CompiledRule(**rule.model_dump(), **conditions[index], line=problems.lines.get(("rules", index)))
        for index, rule in enumerate(parsed.rules)
    ]
    examples = [
        Example(
            name=example.name,
            facts=example.facts,
            line=problems.lines.get(("examples", index)),
            **example.expect.model_dump(),
        )
        for index, example in enumerate(parsed.examples)
    ]
    return CompiledRuleSet(version=version, name=parsed.name, rules=rules, examples=examples)


class CompiledRuleSet:
    """A checked, compiled rule set version that rates children."""

    def __init__(self, *, version: int, name: str, rules: list[CompiledRule], examples: list[Example]) -> None:
        self.version = version
        self.name = name
        self.rules = rules
        self.examples = examples
        self._details = tuple(sorted({name for rule in rules for name in rule.details}))
        # Caches per version, so a result is only ever reused by the rule set that produced it: whole ratings, and
        # each rule's result on the part of the key it reads (a new child rarely differs in everything at once).
        self._rate_key = functools.lru_cache(maxsize=CACHE_SIZE)(self._rate_uncached)
        self._matched: dict[tuple[Any, ...], bool] = {}
        self._slots = [tuple(FACT_NAMES.index(name) for name in rule.reads) for rule in rules]

    def rate(self, facts: Mapping[str, Any] | Facts) -> Rating:
        """Rate one child; raises ValueError for malformed facts and RatingFailed when no rule fires."""
        checked = facts if isinstance(facts, Facts) else Facts.model_validate(facts)
        child, history, details = checked.child, checked.history, checked.agency_details
        # The key holds everything a condition can read, one part per fact in FACT_NAMES order, and nothing else:
        # equal keys always mean equal ratings.
        key = (
            checked.immediate_danger,
            checked.agency.value,
            tuple(sorted(concern.value for concern in checked.concerns)),
            tuple(sorted(indicator.value for indicator in checked.indicators)),
            (child.age_years, child.unborn, child.current_plan.value),
            _details_json({name: details.get(name) for name in self._details}),
            (history.referrals_12m, history.neglect_referrals_12m),
        )
        return self._rate_key(key)

    def run_examples(self) -> list[str]:
        """Check every example case: the messages of those that fail, none when all pass."""
        if not self.examples:
            return ["The rule set has no example cases: add some under 'examples' so it can be checked."]
        failures = []
        for example in self.examples:
            where = f"Example '{example.name}' (line {example.line})"
            try:
                rating = self.rate(example.facts)
            except (ValueError, RatingFailed) as error:
                failures.append(f"{where}: {error}")
                continue
            fired = [reason.rule_id for reason in rating.reasons]
            if (rating.level, rating.rag, rating.pathway) != (example.level, example.rag, example.pathway):
                failures.append(
                    f"{where}: expected level {example.level} {example.rag} {example.pathway}, got level "
                    f"{rating.level} {rating.rag} {rating.pathway} from {', '.join(fired)}."
                )
            if example.rules is not None and set(example.rules) != set(fired):
                failures.append(f"{where}: expected rules {', '.join(example.rules)} to fire, got {', '.join(fired)}.")
        return failures

    def _rate_uncached(self, key: tuple[Any, ...]) -> Rating:
        """Evaluate every rule (or recall its result on the facts it reads), then combine the rules that fired."""
        facts = None
        fired = []
        for index, rule in enumerate(self.rules):
            rule_key = (index, *(key[slot] for slot in self._slots[index]))
            matched = self._matched.get(rule_key)
            if matched is None:
                facts = facts or _engine_facts(key)
                try:
                    matched = bool(rule.condition.matches(facts))
                except rule_engine.EngineError as error:
                    raise RatingFailed(f"Rule '{rule.id}' could not be evaluated: {error.message}") from error
                if len(self._matched) >= 16 * CACHE_SIZE:
                    self._matched.clear()
                self._matched[rule_key] = matched
            if matched:
                fired.append(rule)
        if not fired:
            raise RatingFailed(f"No rule of rule set version {self.version} fired: it needs one that always does.")
        # min keeps the first of equals, so a tie on level and RAG goes to the rule earliest in the file.
        chosen = min(fired, key=lambda rule: (-rule.level, RAG_RANK[Rag(rule.rag)]))
        reasons = tuple(Reason(rule_id=rule.id, description=rule.description) for rule in fired)
        return Rating(level=chosen.level, rag=chosen.rag, pathway=chosen.pathway, reasons=reasons)


def _engine_facts(key: tuple[Any, ...]) -> dict[str, Any]:
    """The facts a cache key stands for, as rule_engine reads them."""
    danger, agency, concerns, indicators, (age, unborn, plan), details, (referrals, neglect) = key
    # Read-only mappings and Decimals are rule_engine's own forms, so it need not convert them for every rule.
    return {
        "immediate_danger": danger,
        "agency": agency,
        "concerns": concerns,
        "indicators": indicators,
        "child": MappingProxyType(
            {"age_years": None if age is None else Decimal(age), "unborn": unborn, "current_plan": plan}
        ),
        "history": MappingProxyType({"referrals_12m": Decimal(referrals), "neglect_referrals_12m": Decimal(neglect)}),
        "agency_details": MappingProxyType(json.loads(details)),
    }


def _details_json(details: Mapping[str, Any]) -> str:
    """The agency details a rule set reads, as canonical JSON: true, 1 and 1.0 stay different keys."""
    try:
        return json.dumps(details, sort_keys=True)
    except (TypeError, ValueError) as error:
        raise ValueError(f"agency_details must be JSON data: {error}") from None


def complete_facts(partial: Mapping[str, Any]) -> dict[str, Any]:
    """The facts of one child with every missing fact set to its default; raises ValueError for malformed facts."""
    completed = Facts.model_validate(partial).model_dump(mode="json")
    # Sorted: the order a referrer listed them in must not show in what is stored or compared.
    return {**completed, "concerns": sorted(completed["concerns"]), "indicators": sorted(completed["indicators"])}


def load_default_source() -> str:
    """The YAML source of the default rule set shipped with the service."""
    return importlib.resources.files(__package__ or "triage.rules").joinpath("default.yaml").read_text(encoding="utf-8")


@functools.cache
def default_rule_set() -> CompiledRuleSet:
    """The default rule set, compiled once, as version 1."""
    return compile_rule_set(load_default_source(), version=1)
