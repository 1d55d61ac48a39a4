"""Thin views over models_app.lineage and models_app.attestations: contributors' impact and the attestation
keys and verifier. (The per-version lineage and attestation are actions of the model viewset.)"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from kernel.api.errors import QueryParameterInvalid
from kernel.api.filtersets import StrictQueryParameters
from kernel.api.pagination import PAGE_PARAMETERS
from kernel.exceptions import DefinitionNotFound
from models_app.attestations.keys import verification_keys
from models_app.attestations.verify import ENVELOPE_SCHEMA
from models_app.attestations.verify import verify as verify_envelope
from models_app.lineage.impact import contributions_of, impact_entry, impact_totals
from models_app.lineage.rules import ADDRESS_FORMAT, address_for_lookup
from models_app.models import Attestation

LINEAGE_RESPONSE = OpenApiResponse(
    OpenApiTypes.OBJECT,
    description="`{id, model, version, direction, count, truncated, steps: [{id, model, version, depth, relation, derived_from, metrics, deltas, improved, contributors, attested}]}`",
)
ATTESTATION_RESPONSE = OpenApiResponse(
    OpenApiTypes.OBJECT,
    description="`{key_id, issued_at, envelope: {payloadType, payload, signatures: [{keyid, sig}]}}`",
)


def lineage_direction(request) -> str:
    direction = request.query_params.get("direction", "ancestors")
    if direction not in ("ancestors", "descendants"):
        raise QueryParameterInvalid({"direction": [f"Must be 'ancestors' or 'descendants'; got '{direction[:40]}'."]})
    return direction


def attestation_of(version) -> dict:
    found = Attestation.objects.filter(version=version).first()
    if found is None:
        raise DefinitionNotFound(
            f"{version} has no attestation: one is issued when a version derived from another improves at least one "
            "metric (and a signing key is configured).",
            code="no_attestation",
        )
    return found.as_dict()


class ContributorViewSet(StrictQueryParameters, viewsets.GenericViewSet):
    """What an Ethereum address contributed to."""

    query_parameters = {"impact": ("limit", "offset")}

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "address",
                {"type": "string", "pattern": rf"^{ADDRESS_FORMAT.pattern}\Z"},
                OpenApiParameter.PATH,
                description="An Ethereum address, any letter case.",
            ),
            *PAGE_PARAMETERS,
        ],
        responses={
            200: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="`{address, totals: {versions, models: [{model, versions, metrics}]}, count, next, previous, results: [{id, model, version, role, weight, relation, deltas, shares}]}`",
            )
        },
    )
    @action(detail=False, methods=["get"], url_path=r"(?P<address>[^/]+)/impact")
    def impact(self, request, address: str):
        """Every version the address contributed to (newest first, paginated), each with its deltas and the
        contributor's weighted share of each improvement, and totals per model and metric over all of them."""
        checksummed = address_for_lookup(address)
        if checksummed is None:
            raise QueryParameterInvalid({"address": ["An Ethereum address is '0x' followed by 40 hex digits."]})
        page = self.paginate_queryset(contributions_of(checksummed))
        response = self.get_paginated_response([impact_entry(c) for c in page])
        response.data = {"address": checksummed, "totals": impact_totals(checksummed), **response.data}
        return response


class AttestationViewSet(StrictQueryParameters, viewsets.GenericViewSet):
    """The registry's attestation keys, and a verifier for envelopes it signed."""

    read_only_actions = ("verify",)

    @extend_schema(
        responses={
            200: OpenApiResponse(
                OpenApiTypes.OBJECT, description="`{keys: [{keyid, algorithm, public_key (PEM), active}]}`"
            )
        }
    )
    @action(detail=False, methods=["get"])
    def keys(self, request):
        """Public keys with their ids: the active signing key and retired ones (their attestations stay verifiable)."""
        return Response({"keys": [key.as_dict() for key in verification_keys().values()]})

    def openapi_request(self, schema):
        if self.action == "verify":
            return schema.component("DsseEnvelope", ENVELOPE_SCHEMA)
        return None

    @extend_schema(
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="`{valid, reason, keyid, statement}`")}
    )
    @action(detail=False, methods=["post"])
    def verify(self, request):
        """Verify a DSSE envelope (the `envelope` of an attestation) against the registry's keys."""
        return Response(verify_envelope(request.data).as_dict())
