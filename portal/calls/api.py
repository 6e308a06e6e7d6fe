"""The call history over the API: `GET /api/v1/calls/` (filters as on the page: `date_from`,
`date_to`, `preset`, `number`, `employee`, `direction`, `status`), `/api/v1/calls/<id>/` and
`/api/v1/calls/<id>/recording/` (the file). Always the caller's own customer: another
customer's call is a 404."""

from __future__ import annotations

from django.http import FileResponse, Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.exceptions import ValidationError
from rest_framework.views import APIView

from portal.api.pagination import Pagination
from portal.calls import history
from portal.calls.models import CallRecord
from portal.statistics.forms import PRESETS


class CallSerializer(serializers.ModelSerializer):
    # A plain string: the choices are documented once, on the `direction` filter.
    direction = serializers.CharField(read_only=True)
    employee = serializers.SerializerMethodField()
    employee_name = serializers.CharField(read_only=True, allow_null=True)
    answered = serializers.SerializerMethodField()
    has_recording = serializers.SerializerMethodField()

    class Meta:
        model = CallRecord
        fields = [
            "id",
            "uuid",
            "direction",
            "caller_number",
            "callee_number",
            "started_at",
            "answered_at",
            "ended_at",
            "duration_seconds",
            "billsec",
            "hangup_cause",
            "answered",
            "employee",
            "employee_name",
            "has_recording",
        ]
        read_only_fields = fields

    def get_employee(self, call) -> int | None:
        return int(call.employee_key) if (call.employee_key or "").isdigit() else None

    def get_answered(self, call) -> bool:
        return bool(call.billsec)

    def get_has_recording(self, call) -> bool:
        return call.recording_id is not None


_FILTERS = [
    OpenApiParameter("date_from", str, description="YYYY-MM-DD (the customer's date)"),
    OpenApiParameter("date_to", str, description="YYYY-MM-DD, inclusive"),
    OpenApiParameter("preset", str, enum=[value for value, _label in PRESETS]),
    OpenApiParameter("number", str, description="digits the caller or callee number contains"),
    OpenApiParameter("employee", int, description="employee id"),
    OpenApiParameter("direction", str, enum=list(CallRecord.Direction.values)),
    OpenApiParameter("status", str, enum=[history.ANSWERED, history.MISSED]),
]


class CallListView(generics.ListAPIView):
    pagination_class = Pagination  # limit and offset capped
    serializer_class = CallSerializer
    queryset = CallRecord.objects.none()  # for the schema; see get_queryset

    @extend_schema(summary="Call history of the customer (newest first)", parameters=_FILTERS)
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        customer = self.request.user.customer
        form = history.HistoryForm(self.request.query_params, customer=customer)
        if not form.is_valid():
            raise ValidationError({k: list(v) for k, v in form.errors.items()})
        return history.call_history(customer, **form.filters())


class CallDetailView(generics.RetrieveAPIView):
    serializer_class = CallSerializer
    queryset = CallRecord.objects.none()

    @extend_schema(summary="One call of the customer")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return history.call_history(self.request.user.customer_id)


class CallRecordingView(APIView):
    @extend_schema(
        summary="The call's recording (a file counted against the storage quota)",
        responses={(200, "audio/wav"): OpenApiTypes.BINARY},
    )
    def get(self, request, pk: int):
        found = history.recording_file(request.user.customer_id, pk)
        if found is None:
            raise Http404
        call, file = found
        return FileResponse(
            file.open("rb"),
            content_type=history.content_type(file),
            as_attachment=True,
            filename=f"call-{call.pk}{file.suffix}",
        )
