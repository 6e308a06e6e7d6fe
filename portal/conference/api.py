"""API of conference rooms: `/api/v1/conference-rooms/` (CRUD) and
`/api/v1/conference-members/` (who is in a room now; `POST .../<id>/mute|unmute|kick/`).

Tenant-scoped like the rest of the API: another customer's room or member is a 404, another
customer's number a 400. Writes go through the same services as the portal pages.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.response import Response

from portal.conference import services
from portal.conference.models import MemberCommand, Participant, Room
from portal.directory.models import PhoneNumber
from portal.tenants.models import Customer


class RoomSerializer(serializers.ModelSerializer):
    number = serializers.PrimaryKeyRelatedField(
        queryset=PhoneNumber.objects.none(), required=False, allow_null=True
    )
    pin = serializers.CharField(write_only=True, required=False, allow_blank=True, max_length=8)
    moderator_pin = serializers.CharField(
        write_only=True, required=False, allow_blank=True, max_length=8
    )
    has_pin = serializers.SerializerMethodField()
    has_moderator_pin = serializers.SerializerMethodField()

    class Meta:
        model = Room
        fields = [
            "id",
            "name",
            "extension",
            "number",
            "pin",
            "moderator_pin",
            "has_pin",
            "has_moderator_pin",
            "max_members",
            "record",
        ]
        validators = []  # uniqueness is the service's, per customer

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        customer_id = getattr(getattr(request, "user", None), "customer_id", None)
        if customer_id is not None:
            self.fields["number"].queryset = PhoneNumber.objects.filter(customer_id=customer_id)

    def get_has_pin(self, room) -> bool:
        return bool(room.pin)

    def get_has_moderator_pin(self, room) -> bool:
        return bool(room.moderator_pin)


class MemberCommandSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    action = serializers.ChoiceField(choices=MemberCommand.Action.choices, read_only=True)


class ParticipantSerializer(serializers.ModelSerializer):
    class Meta:
        model = Participant
        fields = ["id", "room", "caller_number", "caller_name", "moderator", "muted", "joined_at"]
        read_only_fields = fields


@extend_schema_view(
    list=extend_schema(summary="The customer's conference rooms"),
    retrieve=extend_schema(summary="One conference room"),
    create=extend_schema(summary="Create a conference room"),
    update=extend_schema(summary="Change a conference room"),
    partial_update=extend_schema(summary="Change some fields of a conference room"),
    destroy=extend_schema(summary="Remove a conference room"),
)
class RoomViewSet(viewsets.ModelViewSet):
    serializer_class = RoomSerializer
    lookup_value_regex = r"[0-9]+"
    queryset = Room.objects.none()  # for the schema; see get_queryset

    def get_queryset(self):
        return Room.objects.filter(customer_id=self.request.user.customer_id)

    def _save(self, serializer, room=None):
        customer = Customer.objects.get(pk=self.request.user.customer_id)
        try:
            saved = services.room_save(customer=customer, room=room, **serializer.validated_data)
        except DjangoValidationError as exc:
            raise DRFValidationError(
                exc.message_dict if hasattr(exc, "error_dict") else exc.messages
            )
        serializer.instance = saved

    def perform_create(self, serializer):
        self._save(serializer)

    def perform_update(self, serializer):
        self._save(serializer, serializer.instance)

    def perform_destroy(self, instance):
        customer = Customer.objects.get(pk=self.request.user.customer_id)
        services.room_delete(customer=customer, pk=instance.pk)


@extend_schema_view(
    list=extend_schema(summary="Who is in the customer's conference rooms right now"),
    retrieve=extend_schema(summary="One member of a live conference"),
)
class ParticipantViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = ParticipantSerializer
    lookup_value_regex = r"[0-9]+"
    queryset = Participant.objects.none()

    def get_queryset(self):
        rows = Participant.objects.filter(customer_id=self.request.user.customer_id)
        room = self.request.query_params.get("room")
        if room is not None:
            if not room.isdigit():
                raise DRFValidationError({"room": ["A room id."]})
            rows = rows.filter(room_id=int(room))
        return rows

    def _command(self, pk, what: str):
        customer = Customer.objects.get(pk=self.request.user.customer_id)
        command = services.member_command_request(
            customer=customer, participant_pk=int(pk), action=what
        )
        if command is None:
            raise NotFound()
        body = MemberCommandSerializer({"id": command.pk, "action": what}).data
        return Response(body, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="Mute a member (sent by call control within a second)",
        request=None,
        responses={202: MemberCommandSerializer},
    )
    @action(detail=True, methods=["post"])
    def mute(self, request, pk=None):
        return self._command(pk, MemberCommand.Action.MUTE)

    @extend_schema(
        summary="Unmute a member", request=None, responses={202: MemberCommandSerializer}
    )
    @action(detail=True, methods=["post"])
    def unmute(self, request, pk=None):
        return self._command(pk, MemberCommand.Action.UNMUTE)

    @extend_schema(
        summary="Remove a member from the room",
        request=None,
        responses={202: MemberCommandSerializer},
    )
    @action(detail=True, methods=["post"])
    def kick(self, request, pk=None):
        return self._command(pk, MemberCommand.Action.KICK)
