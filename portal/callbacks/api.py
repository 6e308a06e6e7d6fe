"""Read-only API of callback requests: `GET /api/v1/callbacks/` and `/api/v1/callbacks/<id>/`.

Tenant-scoped like the rest of the API: another customer's id is a 404. Filters (query
string): `status`, `department` (id), `date_from`, `date_to` (YYYY-MM-DD, inclusive, on the
request's creation date).
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets

from portal.api.pagination import Pagination
from portal.callbacks import selectors
from portal.callbacks.models import CallbackAttempt, CallbackRequest


class CallbackAttemptSerializer(serializers.ModelSerializer):
    has_recording = serializers.SerializerMethodField()

    class Meta:
        model = CallbackAttempt
        fields = [
            "id",
            "number",
            "status",
            "employee",
            "caller_id_shown",
            "started_at",
            "employee_answered_at",
            "caller_answered_at",
            "ended_at",
            "cause",
            "has_recording",
        ]
        read_only_fields = fields

    def get_has_recording(self, attempt) -> bool:
        return bool(attempt.recording_path)


class CallbackRequestSerializer(serializers.ModelSerializer):
    number = serializers.CharField(source="number.e164", default=None, read_only=True)
    attempts = CallbackAttemptSerializer(many=True, read_only=True)

    class Meta:
        model = CallbackRequest
        fields = [
            "id",
            "department",
            "number",
            "caller_number",
            "status",
            "attempts_made",
            "next_attempt_at",
            "first_attempt_deadline",
            "employee",
            "close_reason",
            "created_at",
            "closed_at",
            "attempts",
        ]
        read_only_fields = fields


class CallbackFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=CallbackRequest.Status.choices, required=False)
    department = serializers.IntegerField(required=False, min_value=1)
    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)


_FILTERS = [
    OpenApiParameter("status", str, enum=CallbackRequest.Status.values),
    OpenApiParameter("department", int),
    OpenApiParameter("date_from", str, description="YYYY-MM-DD"),
    OpenApiParameter("date_to", str, description="YYYY-MM-DD"),
]


@extend_schema_view(
    list=extend_schema(summary="Callback requests of the customer", parameters=_FILTERS),
    retrieve=extend_schema(summary="One callback request with its attempts"),
)
class CallbackRequestViewSet(viewsets.ReadOnlyModelViewSet):
    pagination_class = Pagination  # limit and offset capped
    serializer_class = CallbackRequestSerializer
    lookup_value_regex = r"[0-9]+"
    queryset = CallbackRequest.objects.none()  # for the schema; see get_queryset

    def get_queryset(self):
        customer_id = self.request.user.customer_id
        if self.action != "list":
            return selectors.callback_requests(customer_id)
        params = CallbackFilterSerializer(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        return selectors.callback_requests(
            customer_id,
            status=data.get("status"),
            department_id=data.get("department"),
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
        )
