"""Read-only API of fictive-number calls: `GET /api/v1/fictive-calls/` and `/<id>/`.

Tenant-scoped like the rest of the API: another customer's id is a 404. Filters (query
string): `project`, `shopper` (ids), `direction` (outbound / inbound / return).
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets

from portal.api.pagination import Pagination
from portal.fictive import selectors
from portal.fictive.models import FictiveCall


class FictiveCallSerializer(serializers.ModelSerializer):
    duration_seconds = serializers.SerializerMethodField()
    has_recording = serializers.SerializerMethodField()

    class Meta:
        model = FictiveCall
        fields = [
            "id",
            "direction",
            "project",
            "shopper",
            "fictive_e164",
            "other_number",
            "bridged",
            "started_at",
            "ended_at",
            "cause",
            "duration_seconds",
            "has_recording",
        ]
        read_only_fields = fields

    def get_duration_seconds(self, call) -> int | None:
        billsec = getattr(call, "cdr_billsec", None)
        return billsec if billsec is not None else getattr(call, "cdr_duration", None)

    def get_has_recording(self, call) -> bool:
        return bool(call.recording_path)


class FictiveCallFilterSerializer(serializers.Serializer):
    project = serializers.IntegerField(required=False, min_value=1)
    shopper = serializers.IntegerField(required=False, min_value=1)
    direction = serializers.ChoiceField(choices=FictiveCall.Direction.choices, required=False)


@extend_schema_view(
    list=extend_schema(
        summary="Calls through the customer's fictive numbers",
        parameters=[
            OpenApiParameter("project", int),
            OpenApiParameter("shopper", int),
            OpenApiParameter("direction", str, enum=FictiveCall.Direction.values),
        ],
    ),
    retrieve=extend_schema(summary="One call through a fictive number"),
)
class FictiveCallViewSet(viewsets.ReadOnlyModelViewSet):
    pagination_class = Pagination  # limit and offset capped
    serializer_class = FictiveCallSerializer
    lookup_value_regex = r"[0-9]+"
    queryset = FictiveCall.objects.none()  # for the schema; see get_queryset

    def get_queryset(self):
        customer_id = self.request.user.customer_id
        if self.action != "list":
            return selectors.fictive_calls(customer_id)
        params = FictiveCallFilterSerializer(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        return selectors.fictive_calls(
            customer_id,
            project_id=data.get("project"),
            shopper_id=data.get("shopper"),
            direction=data.get("direction"),
        )
