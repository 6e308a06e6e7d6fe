"""CRM card API: `/api/v1/crm/calls/` (the incoming calls with their notes, read-only) and
`POST /api/v1/crm/calls/<id>/notes/`. Tenant-scoped: another customer's call is a 404."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from portal.api.pagination import Pagination
from portal.crm import selectors, services
from portal.crm.models import CallNote, CrmCall


class CrmNoteSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author.username", default=None, read_only=True)

    class Meta:
        model = CallNote
        fields = ["id", "text", "author", "created_at"]
        read_only_fields = ["id", "author", "created_at"]


class CrmCallSerializer(serializers.ModelSerializer):
    number = serializers.CharField(source="number.e164", default=None, read_only=True)
    employee = serializers.IntegerField(source="employee_id", read_only=True)
    notes = CrmNoteSerializer(many=True, read_only=True)

    class Meta:
        model = CrmCall
        fields = [
            "id",
            "uuid",
            "number",
            "caller_number",
            "caller_e164",
            "employee",
            "rang_at",
            "answered_at",
            "ended_at",
            "hangup_cause",
            "notes",
        ]
        read_only_fields = fields


@extend_schema_view(
    list=extend_schema(summary="Incoming calls seen by the CRM card, newest first"),
    retrieve=extend_schema(summary="One call with its notes"),
)
class CrmCallViewSet(viewsets.ReadOnlyModelViewSet):
    pagination_class = Pagination
    serializer_class = CrmCallSerializer
    lookup_value_regex = r"[0-9]+"
    queryset = CrmCall.objects.none()

    def get_queryset(self):
        return selectors.calls(self.request.user.customer_id).prefetch_related("notes__author")

    @extend_schema(
        summary="Add a note to the call", request=CrmNoteSerializer, responses=CrmNoteSerializer
    )
    @action(detail=True, methods=["post"])
    def notes(self, request, pk=None):
        call = self.get_object()
        data = CrmNoteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        note = services.note_add(
            customer=request.user.customer,
            call_id=call.pk,
            user=_portal_user(request.user),
            text=data.validated_data["text"],
        )
        return Response(CrmNoteSerializer(note).data, status=status.HTTP_201_CREATED)


def _portal_user(user):
    """The portal user behind a session (an API token's user is not a row)."""
    from portal.tenants.models import User

    return user if isinstance(user, User) else None
