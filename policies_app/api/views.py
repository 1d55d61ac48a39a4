from rest_framework.decorators import action
from rest_framework.response import Response

from kernel.api.schema import inline_defs
from kernel.api.views import DefinitionViewSet
from kernel.rules.validation import DocumentInvalid
from policies_app.filtersets import PolicyVersionFilterSet
from policies_app.models import Policy
from policies_app.validation import evaluation_request_issues, evaluation_request_validator

_explained_rule = {
    "type": "object",
    "required": ["policy", "version", "type", "rule", "enforcement", "priority", "specificity"],
    "properties": {
        "policy": {"type": "string"},
        "version": {"type": "string"},
        "type": {"type": "string", "enum": ["rate_limit", "quota", "rbac"]},
        "rule": {"type": "integer", "description": "Index of the rule in the policy's rules."},
        "enforcement": {"type": "string", "enum": ["hard", "soft"]},
        "priority": {"type": "integer"},
        "specificity": {
            "type": "integer",
            "description": "4 x entity/subject rank + resource rank; ranks: exact 3, prefix 2, kind:* 1, * 0.",
        },
    },
    "additionalProperties": True,
}
_limit_source = {
    "policy": {"type": "string"},
    "version": {"type": "string"},
    "rule": {"type": "integer"},
    "enforcement": {"type": "string", "enum": ["hard", "soft"]},
}
DECISION_SCHEMA = {
    "type": "object",
    "required": ["allowed", "enforcement", "rate_limit", "quota", "matched", "decided_by", "soft_decision"],
    "properties": {
        "allowed": {
            "type": "boolean",
            "description": "The binding decision: hard rbac rules, else POLICY_DEFAULT_EFFECT.",
        },
        "enforcement": {
            "type": "string",
            "enum": ["hard", "soft"],
            "description": "soft: a report-only rule outranks the binding decision and disagrees (see soft_decision).",
        },
        "rate_limit": {
            "oneOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "properties": {
                        "requests": {"type": "integer"},
                        "window_seconds": {"type": "integer"},
                        "burst": {"type": "integer"},
                        **_limit_source,
                    },
                },
            ]
        },
        "quota": {
            "oneOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "properties": {
                        "limit": {"type": "number"},
                        "period": {"type": "string"},
                        "unit": {"type": "string"},
                        **_limit_source,
                    },
                },
            ]
        },
        "matched": {
            "type": "array",
            "items": _explained_rule,
            "description": "Every matching rule, in resolution order.",
        },
        "decided_by": {
            "type": "object",
            "description": "The rbac rule behind `allowed` with a `reason`, or the default.",
        },
        "soft_decision": {"oneOf": [{"type": "null"}, _explained_rule]},
    },
}


class PolicyViewSet(DefinitionViewSet):
    """Register, version and look up policies, and ask what applies to an entity and a resource."""

    definition_model = Policy
    filterset_class = PolicyVersionFilterSet
    read_only_actions = (*DefinitionViewSet.read_only_actions, "evaluate")
    body_required_actions = (*DefinitionViewSet.body_required_actions, "evaluate")

    @action(detail=False, methods=["post"])
    def evaluate(self, request):
        """The decision for an entity (with its roles) doing an action on a resource, and why: every matching
        rule of the policies in force, resolved by priority, then specificity, then deny / the lower limit."""
        body = request.data
        errors = evaluation_request_issues(body)
        if errors:
            raise DocumentInvalid(errors)
        decision = Policy.evaluate(body["entity"], body["resource"], body["action"], body.get("roles", []))
        return Response(decision.as_dict())

    def openapi_request(self, schema):
        if self.action == "evaluate":
            return schema.component("PolicyEvaluationRequest", inline_defs(evaluation_request_validator.schema))
        return super().openapi_request(schema)

    def openapi_responses(self, schema):
        if self.action == "evaluate":
            return {200: schema.component("PolicyDecision", DECISION_SCHEMA)}
        return super().openapi_responses(schema)
