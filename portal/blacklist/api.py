"""Blacklist API: `/api/v1/blacklist/entries/` (list, add, delete), `/api/v1/blacklist/settings/`
(GET, PUT) and `/api/v1/blacklist/rejected/` (the log). Tenant-scoped: another customer's id
is a 404; writes need the customer-admin role (portal.api.permissions)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.api.pagination import Pagination
from portal.blacklist import selectors, services
from portal.blacklist.models import BlacklistEntry, BlacklistSettings
from portal.calls.models import CallRecord


class BlacklistEntrySerializer(serializers.ModelSerializer):
    value = serializers.CharField(
        write_only=True, max_length=40, help_text="A number or a prefix as typed (+7 495 …)"
    )
    e164 = serializers.SerializerMethodField()

    class Meta:
        model = BlacklistEntry
        fields = ["id", "kind", "value", "e164", "comment", "created_at"]
        read_only_fields = ["id", "e164", "created_at"]

    def get_e164(self, entry) -> str:
        return "+" + entry.digits


class BlacklistSettingsSerializer(serializers.ModelSerializer):
    class Meta:
        model = BlacklistSettings
        fields = ["action", "block_anonymous"]
        # PUT replaces both: an empty body is a 400, not a half-set row
        extra_kwargs = {"action": {"required": True}, "block_anonymous": {"required": True}}


class BlacklistRejectedSerializer(serializers.ModelSerializer):
    anonymous = serializers.SerializerMethodField()

    class Meta:
        model = CallRecord
        fields = ["id", "uuid", "caller_number", "callee_number", "started_at", "anonymous"]
        read_only_fields = fields

    def get_anonymous(self, call) -> bool:
        return call.variables.get(selectors.TAG) == "anonymous"


def _django_error(exc: DjangoValidationError) -> serializers.ValidationError:
    return serializers.ValidationError({"value": exc.messages})


@extend_schema_view(
    list=extend_schema(summary="Blacklist entries (numbers and prefixes) of the customer"),
    create=extend_schema(summary="Add a number or a prefix (normalised to E.164)"),
    destroy=extend_schema(summary="Remove an entry"),
)
class BlacklistEntryViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    pagination_class = Pagination
    serializer_class = BlacklistEntrySerializer
    lookup_value_regex = r"[0-9]+"
    queryset = BlacklistEntry.objects.none()

    def get_queryset(self):
        return selectors.entries(self.request.user.customer_id)

    def perform_create(self, serializer):
        data = serializer.validated_data
        try:
            serializer.instance = services.entry_add(
                customer=self.request.user.customer,
                kind=data.get("kind", BlacklistEntry.Kind.NUMBER),
                value=data["value"],
                comment=data.get("comment", ""),
            )
        except DjangoValidationError as exc:
            raise _django_error(exc) from None

    def perform_destroy(self, instance):
        services.entry_delete(customer=self.request.user.customer, entry_id=instance.pk)


class BlacklistSettingsView(APIView):
    @extend_schema(
        summary="What a rejected caller hears; anonymous callers",
        responses=BlacklistSettingsSerializer,
    )
    def get(self, request):
        return Response(
            BlacklistSettingsSerializer(selectors.blacklist_settings(request.user.customer_id)).data
        )

    @extend_schema(
        summary="Change the blacklist settings",
        request=BlacklistSettingsSerializer,
        responses=BlacklistSettingsSerializer,
    )
    def put(self, request):
        data = BlacklistSettingsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        row = services.blacklist_settings_set(customer=request.user.customer, **data.validated_data)
        return Response(BlacklistSettingsSerializer(row).data, status=status.HTTP_200_OK)


@extend_schema_view(list=extend_schema(summary="Calls the blacklist rejected, newest first"))
class RejectedCallViewSet(viewsets.ReadOnlyModelViewSet):
    pagination_class = Pagination
    serializer_class = BlacklistRejectedSerializer
    lookup_value_regex = r"[0-9]+"
    queryset = CallRecord.objects.none()

    def get_queryset(self):
        return selectors.rejected_calls(self.request.user.customer_id)
