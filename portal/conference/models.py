"""Conference rooms, who is in them right now, and the portal's requests to mute or remove a
member (carried out by call control: portal/conference/telephony.py)."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

PIN_VALIDATOR = RegexValidator(r"^[0-9]{4,8}\Z", _("PIN: от 4 до 8 цифр."))
EXTENSION_VALIDATOR = RegexValidator(
    r"^[1-9][0-9]{1,5}\Z", _("Добавочный: от 2 до 6 цифр, не с нуля.")
)
MAX_MEMBERS = 100


class Room(models.Model):
    customer = models.ForeignKey(
        "tenants.Customer", on_delete=models.CASCADE, related_name="conference_rooms"
    )
    # Shown in the portal only; FreeSWITCH knows the room as c<customer id>_r<room id>.
    name = models.CharField(_("название"), max_length=80)
    extension = models.CharField(_("добавочный"), max_length=6, validators=[EXTENSION_VALIDATOR])
    number = models.OneToOneField(
        "directory.PhoneNumber",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="conference_room",
        verbose_name=_("номер"),
    )
    pin = models.CharField(_("PIN"), max_length=8, blank=True, validators=[PIN_VALIDATOR])
    moderator_pin = models.CharField(
        _("PIN модератора"), max_length=8, blank=True, validators=[PIN_VALIDATOR]
    )
    max_members = models.PositiveSmallIntegerField(
        _("участников не больше"),
        default=10,
        validators=[MinValueValidator(2), MaxValueValidator(MAX_MEMBERS)],
    )
    record = models.BooleanField(_("записывать"), default=False)

    class Meta:
        ordering = ["customer_id", "extension"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "extension"], name="conference_room_extension_unique"
            ),
            models.CheckConstraint(
                condition=Q(max_members__gte=2, max_members__lte=MAX_MEMBERS),
                name="conference_room_max_members",
            ),
            models.CheckConstraint(
                condition=Q(moderator_pin="") | ~Q(pin=""),
                name="conference_moderator_pin_needs_pin",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}/{self.extension}"

    @property
    def conference_name(self) -> str:
        return f"c{int(self.customer_id)}_r{int(self.pk)}"


class Participant(models.Model):
    """A member of a live conference, as FreeSWITCH's conference::maintenance events say."""

    customer = models.ForeignKey(
        "tenants.Customer", on_delete=models.CASCADE, related_name="conference_participants"
    )
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="participants")
    node = models.CharField(max_length=64)
    member_id = models.PositiveIntegerField()
    uuid = models.CharField(max_length=64, blank=True)
    caller_number = models.CharField(_("номер"), max_length=64, blank=True)
    caller_name = models.CharField(_("имя"), max_length=80, blank=True)
    moderator = models.BooleanField(default=False)
    muted = models.BooleanField(default=False)
    joined_at = models.DateTimeField()

    class Meta:
        ordering = ["room_id", "joined_at", "member_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["room", "node", "member_id"], name="conference_member_unique"
            )
        ]


class MemberCommand(models.Model):
    """A request from the portal (mute, unmute, kick) waiting for call control to send it."""

    class Action(models.TextChoices):
        MUTE = "mute", _("выключить микрофон")
        UNMUTE = "unmute", _("включить микрофон")
        KICK = "kick", _("отключить")

    customer = models.ForeignKey("tenants.Customer", on_delete=models.CASCADE, related_name="+")
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="commands")
    node = models.CharField(max_length=64)
    member_id = models.PositiveIntegerField()
    action = models.CharField(max_length=8, choices=Action.choices)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    result = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(
                fields=["node", "id"], name="conference_cmd_pending", condition=Q(sent_at=None)
            )
        ]
