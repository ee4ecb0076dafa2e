"""Threshold rules as data: compile a YAML rule set, rate each child, check the example cases."""

from triage.rules.engine import (
    FACT_NAMES,
    ChildFacts,
    CompiledRule,
    CompiledRuleSet,
    Example,
    Facts,
    HistoryFacts,
    Rating,
    RatingFailed,
    Reason,
    RuleSetInvalid,
    compile_rule_set,
    complete_facts,
    default_rule_set,
    load_default_source,
)

__all__ = [
    "FACT_NAMES",
    "ChildFacts",
    "CompiledRule",
    "CompiledRuleSet",
    "Example",
    "Facts",
    "HistoryFacts",
    "Rating",
    "RatingFailed",
    "Reason",
    "RuleSetInvalid",
    "compile_rule_set",
    "complete_facts",
    "default_rule_set",
    "load_default_source",
]
