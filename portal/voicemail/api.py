"""API of voicemail: `/api/v1/voicemail-boxes/` (CRUD; the PIN is write-only) and
`/api/v1/voicemail-messages/` (list, read, delete, mark heard, fetch the audio).

Tenant-scoped like the rest of the API: another customer's id is a 404.
"""

from __future__ import annotations

from django.http import FileResponse, Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from portal.api.pagination import Pagination
from portal.directory.models import Department, Employee
from portal.voicemail import selectors, services
from portal.voicemail.models import Mailbox, Message, pin_validator


class MailboxSerializer(serializers.ModelSerializer):
    employee = serializers.PrimaryKeyRelatedField(
        queryset=Employee.objects.none(), required=False, allow_null=True
    )
    department = serializers.PrimaryKeyRelatedField(
        queryset=Department.objects.none(), required=False, allow_null=True
    )
    pin = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        validators=[pin_validator],
        help_text="4-8 digits for access from a phone (*97); empty removes it.",
    )
    has_pin = serializers.SerializerMethodField()

    class Meta:
        model = Mailbox
        fields = [
            "id",
            "employee",
            "department",
            "enabled",
            "email",
            "attach_audio",
            "max_seconds",
            "greeting",
            "pin",
            "has_pin",
            "created_at",
        ]
        read_only_fields = ["greeting", "created_at"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        customer_id = getattr(getattr(request, "user", None), "customer_id", None)
        self.fields["employee"].queryset = Employee.objects.filter(customer_id=customer_id)
        self.fields["department"].queryset = Department.objects.filter(customer_id=customer_id)

    def get_has_pin(self, box) -> bool:
        return bool(box.pin_hash)

    def validate(self, data):
        if self.instance is None:
            employee, department = data.get("employee"), data.get("department")
            if bool(employee) == bool(department):
                raise serializers.ValidationError("Give either employee or department.")
            owner = {"employee": employee} if employee else {"department": department}
            if Mailbox.objects.filter(**owner).exists():
                raise serializers.ValidationError("It already has a box.")
        else:
            data.pop("employee", None)
            data.pop("department", None)
        return data


class MessageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Message
        fields = [
            "id",
            "mailbox",
            "caller_number",
            "duration_seconds",
            "size_bytes",
            "created_at",
            "heard_at",
        ]
        read_only_fields = fields


class HeardSerializer(serializers.Serializer):
    heard = serializers.BooleanField(default=True)


@extend_schema_view(
    list=extend_schema(summary="Voicemail boxes of the customer"),
    create=extend_schema(summary="Create a voicemail box for an employee or a department"),
)
class MailboxViewSet(viewsets.ModelViewSet):
    serializer_class = MailboxSerializer
    pagination_class = Pagination
    lookup_value_regex = r"[0-9]+"
    queryset = Mailbox.objects.none()

    def get_queryset(self):
        return Mailbox.objects.filter(customer_id=self.request.user.customer_id).order_by("id")

    def perform_create(self, serializer) -> None:
        pin = serializer.validated_data.pop("pin", None)
        box = Mailbox(customer=self.request.user.customer, **serializer.validated_data)
        serializer.instance = services.mailbox_save(
            customer=self.request.user.customer, box=box, pin=pin
        )

    def perform_update(self, serializer) -> None:
        pin = serializer.validated_data.pop("pin", None)
        box = serializer.instance
        for name, value in serializer.validated_data.items():
            setattr(box, name, value)
        serializer.instance = services.mailbox_save(
            customer=self.request.user.customer, box=box, pin=pin
        )

    def perform_destroy(self, instance) -> None:
        services.mailbox_delete(customer=self.request.user.customer, box=instance)


@extend_schema_view(list=extend_schema(summary="Voicemail messages, newest first"))
class MessageViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = MessageSerializer
    pagination_class = Pagination
    lookup_value_regex = r"[0-9]+"
    queryset = Message.objects.none()

    def get_queryset(self):
        return selectors.messages(self.request.user.customer)

    def perform_destroy(self, instance) -> None:
        services.message_delete(customer=self.request.user.customer, message=instance)

    @extend_schema(
        summary="Mark a message heard (or new again)",
        request=HeardSerializer,
        responses=MessageSerializer,
    )
    @action(detail=True, methods=["post"])
    def heard(self, request, pk=None):
        message = self.get_object()
        params = HeardSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        services.message_mark_heard(
            customer=request.user.customer, message=message, heard=params.validated_data["heard"]
        )
        return Response(MessageSerializer(message).data, status=status.HTTP_200_OK)

    @extend_schema(
        summary="The message's audio (WAV)", responses={(200, "audio/wav"): OpenApiTypes.BINARY}
    )
    @action(detail=True, methods=["get"])
    def audio(self, request, pk=None):
        message = self.get_object()
        file = selectors.message_file(message)
        if file is None or not file.is_file():
            raise Http404("no file")
        return FileResponse(open(file, "rb"), content_type="audio/wav")
