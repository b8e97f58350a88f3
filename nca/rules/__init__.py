"""Update rules: base classes and the registry."""

from nca.rules.base import (
    CAPABILITIES,
    RULE_KINDS,
    CARule,
    FeedForwardRule,
    Rule,
    RuleKind,
    check_rule_class,
    parameter_count,
)
from nca.rules.loading import load_rule
from nca.rules.needs import RuleNeeds, rule_mismatch
from nca.rules.registry import (
    RULES,
    RuleInfo,
    create_rule,
    get_rule_class,
    list_rules,
    register_rule,
    resolve_rule_config,
    rule_info,
    split_rule_name,
)

__all__ = [
    "CAPABILITIES",
    "RULES",
    "RULE_KINDS",
    "CARule",
    "FeedForwardRule",
    "Rule",
    "RuleInfo",
    "RuleKind",
    "RuleNeeds",
    "check_rule_class",
    "create_rule",
    "get_rule_class",
    "list_rules",
    "load_rule",
    "parameter_count",
    "register_rule",
    "resolve_rule_config",
    "rule_info",
    "rule_mismatch",
    "split_rule_name",
]
