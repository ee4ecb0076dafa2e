"""The rule engine and the default threshold rules (DOMAIN.md, "The default threshold rules")."""

from __future__ import annotations

import time
from typing import Any

import pytest
import yaml

from triage.rules import (
    CompiledRuleSet,
    Example,
    Rating,
    RatingFailed,
    Reason,
    RuleSetInvalid,
    compile_rule_set,
    complete_facts,
    default_rule_set,
    load_default_source,
)

DEFAULT = default_rule_set()
ALWAYS = {
    "id": "universal",
    "description": "Always.",
    "when": "true",
    "level": 1,
    "rag": "green",
    "pathway": "universal_services",
}


def rule(rule_id: str, when: str, *, level: int, rag: str, pathway: str = "section_17_assessment") -> dict[str, Any]:
    """One rule as it would be written in YAML."""
    return {
        "id": rule_id,
        "description": f"The {rule_id} rule.",
        "when": when,
        "level": level,
        "rag": rag,
        "pathway": pathway,
    }


def rule_set(*rules: dict[str, Any], examples: list[dict[str, Any]] | None = None) -> CompiledRuleSet:
    """A compiled rule set made of the given rules (and examples)."""
    source: dict[str, Any] = {"name": "Test rules", "rules": list(rules)}
    if examples is not None:
        source["examples"] = examples
    return compile_rule_set(yaml.safe_dump(source, sort_keys=False), version=7)


def problems_of(source: str) -> list[dict[str, Any]]:
    """The problems compile_rule_set reports for a source it refuses."""
    with pytest.raises(RuleSetInvalid) as refused:
        compile_rule_set(source)
    return refused.value.problems


def fired(rating: Rating) -> list[str]:
    """The ids of the rules that fired, in file order."""
    return [reason.rule_id for reason in rating.reasons]


# The default rule set and its example cases.


@pytest.mark.parametrize("example", DEFAULT.examples, ids=[example.name for example in DEFAULT.examples])
def test_default_example(example: Example) -> None:
    rating = DEFAULT.rate(example.facts)

    assert (rating.level, rating.rag, rating.pathway) == (example.level, example.rag, example.pathway)
    # Every default example names the rules it expects, so a rule firing by accident is caught too.
    assert example.rules is not None
    assert sorted(fired(rating)) == sorted(example.rules)


def test_default_examples_all_pass_through_run_examples() -> None:
    assert DEFAULT.run_examples() == []


def test_every_default_rule_is_fired_by_an_example() -> None:
    fired_by_examples = {rule_id for example in DEFAULT.examples for rule_id in fired(DEFAULT.rate(example.facts))}

    assert [r.id for r in DEFAULT.rules if r.id not in fired_by_examples] == []


# DOMAIN.md, "The default threshold rules": id, level, RAG and pathway, in order.
DOMAIN_TABLE = [
    ("immediate-danger", 4, "red", "immediate_protection"),
    ("sexual-abuse", 4, "red", "strategy_discussion"),
    ("fgm", 4, "red", "strategy_discussion"),
    ("injured-baby", 4, "red", "strategy_discussion"),
    ("physical-injury", 4, "red", "strategy_discussion"),
    ("protection-plan", 4, "red", "strategy_discussion"),
    ("exploitation", 4, "amber", "strategy_discussion"),
    ("cumulative-neglect", 4, "amber", "strategy_discussion"),
    ("physical-abuse", 3, "amber", "section_17_assessment"),
    ("domestic-abuse-witnessed", 3, "amber", "section_17_assessment"),
    ("neglect", 3, "amber", "section_17_assessment"),
    ("emotional-abuse", 3, "amber", "section_17_assessment"),
    ("missing-or-self-harm", 3, "amber", "section_17_assessment"),
    ("high-risk-adult", 3, "amber", "section_17_assessment"),
    ("pre-birth", 3, "amber", "section_17_assessment"),
    ("re-referral", 3, "green", "section_17_assessment"),
    ("additional-needs", 2, "green", "early_help"),
    ("universal", 1, "green", "universal_services"),
]


def test_default_rules_are_the_domain_table() -> None:
    assert [(r.id, r.level, r.rag, r.pathway) for r in DEFAULT.rules] == DOMAIN_TABLE
    assert all(r.description.endswith(".") for r in DEFAULT.rules)


def test_default_rule_set_has_at_least_30_examples() -> None:
    assert len(DEFAULT.examples) >= 30


def test_default_rule_set_is_version_1_compiled_once() -> None:
    assert default_rule_set() is DEFAULT
    assert DEFAULT.version == 1
    assert DEFAULT.name == "Default thresholds (DOMAIN.md)"
    assert "id: immediate-danger" in load_default_source()


def test_default_rule_lines_point_at_the_rule_in_the_yaml() -> None:
    lines = load_default_source().splitlines()
    injured_baby = next(r for r in DEFAULT.rules if r.id == "injured-baby")

    assert injured_baby.line is not None
    assert lines[injured_baby.line - 1].strip() == "- id: injured-baby"


def test_facts_shaped_as_intake_builds_them_are_rated() -> None:
    facts = {
        "immediate_danger": False,
        "agency": "police",
        "concerns": ["domestic_abuse", "neglect"],
        "indicators": [],
        "child": {"age_years": 4, "unborn": False, "current_plan": "none"},
        "agency_details": {"occurrence_number": "PC-1", "children_present": True, "notes": ["free", "text"]},
        "history": {"referrals_12m": 2, "neglect_referrals_12m": 2},
    }

    rating = DEFAULT.rate(facts)

    assert (rating.level, rating.rag, rating.pathway) == (4, "amber", "strategy_discussion")
    assert fired(rating) == [
        "cumulative-neglect",
        "domestic-abuse-witnessed",
        "neglect",
        "re-referral",
        "additional-needs",
        "universal",
    ]


def test_reasons_json_lists_rule_ids_and_descriptions_in_file_order() -> None:
    rating = DEFAULT.rate({"concerns": ["neglect"], "history": {"referrals_12m": 1}})

    assert rating.reasons_json() == [
        {"rule_id": "neglect", "description": "Neglect is a concern."},
        {"rule_id": "re-referral", "description": "The child was referred before in the last 12 months."},
        {"rule_id": "universal", "description": "Universal services are open to every child."},
    ]


# How rules combine.


def test_the_highest_level_wins_even_over_a_more_urgent_rag() -> None:
    rules = rule_set(
        rule("low-but-red", "'neglect' in concerns", level=2, rag="red", pathway="early_help"),
        rule("high-but-green", "'neglect' in concerns", level=3, rag="green"),
        ALWAYS,
    )

    rating = rules.rate({"concerns": ["neglect"]})

    assert (rating.level, rating.rag, rating.pathway) == (3, "green", "section_17_assessment")
    assert rating.reasons == (
        Reason(rule_id="low-but-red", description="The low-but-red rule."),
        Reason(rule_id="high-but-green", description="The high-but-green rule."),
        Reason(rule_id="universal", description="Always."),
    )


def test_at_the_same_level_the_most_urgent_rag_gives_the_pathway() -> None:
    rules = rule_set(
        rule("green-one", "true", level=4, rag="green", pathway="section_17_assessment"),
        rule("amber-one", "true", level=4, rag="amber", pathway="strategy_discussion"),
        rule("red-one", "immediate_danger", level=4, rag="red", pathway="immediate_protection"),
    )

    assert (rules.rate({}).rag, rules.rate({}).pathway) == ("amber", "strategy_discussion")
    assert (rules.rate({"immediate_danger": True}).rag, rules.rate({"immediate_danger": True}).pathway) == (
        "red",
        "immediate_protection",
    )
    assert fired(rules.rate({"immediate_danger": True})) == ["green-one", "amber-one", "red-one"]


def test_a_tie_on_level_and_rag_goes_to_the_first_rule_in_the_file() -> None:
    rules = rule_set(
        rule("first", "true", level=4, rag="red", pathway="immediate_protection"),
        rule("second", "true", level=4, rag="red", pathway="strategy_discussion"),
    )

    assert rules.rate({}).pathway == "immediate_protection"


def test_a_rating_with_no_rule_fired_is_an_error() -> None:
    rules = rule_set(rule("only-neglect", "'neglect' in concerns", level=3, rag="amber"))

    with pytest.raises(RatingFailed, match="No rule"):
        rules.rate({"concerns": ["housing"]})


def test_unquoted_when_true_means_always() -> None:
    source = load_default_source().replace('when: "true"', "when: true")

    assert compile_rule_set(source).rate({}).pathway == "universal_services"


# Memoisation.


def test_memoised_ratings_do_not_leak_between_different_facts() -> None:
    rules = compile_rule_set(load_default_source())
    first = {"concerns": ["neglect"], "child": {"age_years": 5}}
    again = {"concerns": ["neglect"], "child": {"age_years": 5}, "history": {"neglect_referrals_12m": 2}}

    assert rules.rate(first).level == 3
    assert rules.rate(again).level == 4
    assert rules.rate(first).level == 3


@pytest.mark.parametrize(
    ("changed", "before", "after"),
    [
        ({"history": {"referrals_12m": 1}}, 1, 3),
        ({"agency_details": {"risk_of_serious_harm": "high"}}, 1, 3),
        ({"child": {"current_plan": "child_protection"}}, 1, 4),
        ({"child": {"unborn": True}, "concerns": ["parental_mental_health"]}, 2, 3),
        ({"immediate_danger": True}, 1, 4),
    ],
    ids=["history", "agency-details", "current-plan", "unborn", "immediate-danger"],
)
def test_each_fact_a_rule_reads_changes_the_memoised_rating(changed: dict[str, Any], before: int, after: int) -> None:
    rules = compile_rule_set(load_default_source())
    base = {"concerns": ["housing"], "child": {"age_years": 5}}
    variant = {**base, **changed}
    unchanged_concerns = {**base, "concerns": changed.get("concerns", base["concerns"])}

    # Rate the base (and its concerns) first, so any leak would come from the caches.
    assert rules.rate(unchanged_concerns).level == before
    assert rules.rate(variant).level == after
    assert rules.rate(unchanged_concerns).level == before


def test_the_order_of_concerns_does_not_change_the_rating() -> None:
    one = DEFAULT.rate({"concerns": ["neglect", "fgm"], "indicators": ["hunger", "injury"]})
    other = DEFAULT.rate({"concerns": ["fgm", "neglect", "fgm"], "indicators": ["injury", "hunger"]})

    assert one == other


def test_malformed_facts_are_refused() -> None:
    with pytest.raises(ValueError, match="concern"):
        DEFAULT.rate({"concern": ["neglect"]})
    with pytest.raises(ValueError, match="neglet"):
        DEFAULT.rate({"concerns": ["neglet"]})
    with pytest.raises(ValueError, match="age_years"):
        DEFAULT.rate({"child": {"age_years": True}})
    with pytest.raises(ValueError, match="JSON"):
        DEFAULT.rate({"agency_details": {"children_present": object()}})


def test_complete_facts_fills_every_default() -> None:
    assert complete_facts({"concerns": ["neglect", "fgm"]}) == {
        "immediate_danger": False,
        "agency": "other",
        "concerns": ["fgm", "neglect"],
        "indicators": [],
        "child": {"age_years": None, "unborn": False, "current_plan": "none"},
        "agency_details": {},
        "history": {"referrals_12m": 0, "neglect_referrals_12m": 0},
    }


# Refusing bad rule sets, with the line of each problem.


def test_invalid_yaml_reports_its_line() -> None:
    problems = problems_of("name: Broken\nrules:\n  - id: a\n    when: 'unclosed\n    level: [1\n")

    assert [(p["line"], p["path"]) for p in problems] == [(6, "")]
    assert problems[0]["message"] == (
        "The YAML cannot be read: found unexpected end of stream (while scanning a quoted scalar from line 4)."
    )


def test_bad_indentation_reports_the_line_it_is_on() -> None:
    (problem,) = problems_of("name: Broken\nrules:\n  - id: a\n   when: x\n")

    assert problem["line"] == 4


def test_an_unknown_fact_name_reports_the_rule_id_and_line() -> None:
    source = load_default_source().replace("'neglect' in concerns and history", "'neglect' in concern and history")
    line = next(n for n, text in enumerate(source.splitlines(), start=1) if "in concern and history" in text)

    problems = problems_of(source)

    assert [(p["line"], p["path"]) for p in problems] == [(line, "/rules/7/when")]
    assert "cumulative-neglect" in problems[0]["message"]
    assert "'concern' is not a fact" in problems[0]["message"]
    assert "did you mean 'concerns'" in problems[0]["message"]


def test_an_unknown_part_of_a_fact_is_refused() -> None:
    source = load_default_source().replace("history.referrals_12m >= 1", "history.referals_12m >= 1")

    (problem,) = problems_of(source)

    assert "re-referral" in problem["message"]
    assert "referals_12m" in problem["message"]
    assert problem["line"] is not None


def test_a_misspelt_concern_in_a_condition_is_refused() -> None:
    (problem,) = problems_of(load_default_source().replace("'fgm' in concerns", "'fmg' in concerns"))

    assert "Rule 'fgm'" in problem["message"]
    assert "'fmg' is not one of the concerns" in problem["message"]


TWO_RULES = """\
name: Two rules
rules:
  - id: neglect
    description: Neglect.
    when: "'neglect' in concerns"
    level: 3
    rag: amber
    pathway: section_17_assessment
  - id: always
    description: Always.
    when: "true"
    level: 1
    rag: green
    pathway: universal_services
"""


def test_a_well_formed_source_compiles() -> None:
    assert [r.id for r in compile_rule_set(TWO_RULES).rules] == ["neglect", "always"]


def test_duplicate_rule_ids_are_refused() -> None:
    (problem,) = problems_of(TWO_RULES.replace("id: always", "id: neglect"))

    assert (problem["line"], problem["path"]) == (9, "/rules/1/id")
    assert "ids must be unique" in problem["message"]


def test_a_key_given_twice_is_refused() -> None:
    (problem,) = problems_of(TWO_RULES.replace("    rag: green\n", "    rag: green\n    rag: red\n"))

    assert problem["line"] == 14
    assert "'rag' is given twice" in problem["message"]


def test_a_bad_pathway_level_rag_and_unknown_key_are_refused_with_their_lines() -> None:
    source = (
        TWO_RULES.replace("pathway: section_17_assessment", "pathway: assessment")
        .replace("level: 1", "level: 5")
        .replace("rag: green", "rag: purple\n    whne: x")
    )

    problems = {p["path"]: p for p in problems_of(source)}

    assert set(problems) == {"/rules/0/pathway", "/rules/1/level", "/rules/1/rag", "/rules/1/whne"}
    assert problems["/rules/0/pathway"]["line"] == 8
    assert "Rule 'neglect'" in problems["/rules/0/pathway"]["message"]
    assert "section_17_assessment" in problems["/rules/0/pathway"]["message"]
    assert problems["/rules/1/level"]["line"] == 12
    assert problems["/rules/1/whne"]["line"] == 14


def test_missing_keys_are_reported_on_the_line_of_their_rule() -> None:
    (problem,) = problems_of(TWO_RULES.replace("    description: Always.\n", ""))

    assert (problem["line"], problem["path"]) == (9, "/rules/1/description")
    assert "'description' is missing" in problem["message"]


def test_a_source_that_is_not_a_rule_set_is_refused() -> None:
    assert problems_of("")[0]["path"] == "/"
    assert problems_of("- just\n- a list\n")[0]["line"] == 1
    assert problems_of("name: No rules\nrules: []\n")[0]["path"] == "/rules"


@pytest.mark.parametrize(
    "when",
    [
        "__import__('os').system('touch /tmp/pwned')",
        "concerns.__class__.__mro__",
        "child.__class__",
        "history.__dict__",
        "$now > d'2020-01-01'",
        "agency_details",
    ],
)
def test_expressions_that_reach_for_python_or_the_clock_are_refused(when: str) -> None:
    problems = problems_of(
        yaml.safe_dump({"name": "Tricks", "rules": [rule("trick", when, level=4, rag="red"), ALWAYS]})
    )

    assert [p["path"] for p in problems] == ["/rules/0/when"]
    assert "Rule 'trick'" in problems[0]["message"]


@pytest.mark.parametrize(
    "when",
    [
        'agency =~ "(p|po)*x$"',
        '"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab" =~ "(a|aa)*$"',
        'agency !~~ "pol"',
        "1 << 100000000 > 1",
        "history.referrals_12m >> 1 > 1",
        "history.referrals_12m > 1 or " * 200 + "false",
    ],
    ids=["regex", "folded-regex", "negated-regex", "folded-shift", "shift", "too-long"],
)
def test_conditions_whose_cost_has_no_bound_are_refused_before_they_run(when: str) -> None:
    started = time.perf_counter()
    problems = problems_of(yaml.safe_dump({"name": "Slow", "rules": [rule("slow", when, level=4, rag="red"), ALWAYS]}))

    assert time.perf_counter() - started < 1
    assert [p["path"] for p in problems] == ["/rules/0/when"]
    assert "Rule 'slow'" in problems[0]["message"]


def test_operators_inside_quoted_text_are_only_text() -> None:
    rules = rule_set(rule("odd-detail", 'agency_details.note == "=~ << >>"', level=3, rag="amber"), ALWAYS)

    assert fired(rules.rate({"agency_details": {"note": "=~ << >>"}})) == ["odd-detail", "universal"]


def test_a_rule_set_has_at_most_500_rules() -> None:
    many = [rule(f"rule-{n}", "history.referrals_12m > 100", level=1, rag="green") for n in range(500)]

    assert fired(rule_set(*many[:499], ALWAYS).rate({})) == ["universal"]
    problems = problems_of(yaml.safe_dump({"name": "Too many", "rules": [*many, ALWAYS]}))
    assert [p["path"] for p in problems] == ["/rules"]
    assert "500" in problems[0]["message"]


def test_attributes_of_agency_details_are_data_keys_not_python_attributes() -> None:
    rules = rule_set(rule("class-given", "agency_details.__class__ != null", level=4, rag="red"), ALWAYS)

    assert fired(rules.rate({"agency_details": {"children_present": True}})) == ["universal"]
    assert fired(rules.rate({"agency_details": {"__class__": "given as data"}})) == ["class-given", "universal"]


def test_bad_examples_are_refused() -> None:
    examples = [
        {
            "name": "typo",
            "facts": {"concerns": ["neglet"], "child": {"age": 3}},
            "expect": {"level": 1, "rag": "green", "pathway": "early_help"},
        },
        {"name": "typo", "expect": {"level": 1, "rag": "green", "pathway": "early_help", "rules": ["nope"]}},
    ]

    with pytest.raises(RuleSetInvalid) as refused:
        rule_set(ALWAYS, examples=examples)

    paths = sorted(p["path"] for p in refused.value.problems)
    assert paths == [
        "/examples/0/facts/child/age",
        "/examples/0/facts/concerns/0",
        "/examples/1/expect/rules",
        "/examples/1/name",
    ]


def test_run_examples_reports_each_failing_example_with_its_line() -> None:
    examples = [
        {"name": "right", "facts": {}, "expect": {"level": 1, "rag": "green", "pathway": "universal_services"}},
        {
            "name": "wrong",
            "facts": {"concerns": ["neglect"]},
            "expect": {"level": 4, "rag": "red", "pathway": "strategy_discussion", "rules": ["universal"]},
        },
    ]
    rules = rule_set(rule("neglect", "'neglect' in concerns", level=3, rag="amber"), ALWAYS, examples=examples)

    failures = rules.run_examples()

    assert len(failures) == 2
    assert all(failure.startswith("Example 'wrong' (line ") for failure in failures)
    assert "got level 3 amber section_17_assessment" in failures[0]
    assert "expected rules universal to fire, got neglect, universal" in failures[1]


def test_a_rule_set_without_examples_cannot_pass_its_examples() -> None:
    assert rule_set(ALWAYS).run_examples() == [
        "The rule set has no example cases: add some under 'examples' so it can be checked."
    ]
