"""Serializers of the customer API. Every related object is looked up within the caller's customer.

Validation messages are the ones users see in the portal (Russian first). Money is rendered as
strings (DRF's COERCE_DECIMAL_TO_STRING, forced per field so a settings change cannot turn it
into floats).
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from portal.billing.models import LedgerEntry
from portal.directory.models import Department, Employee, PhoneNumber
from portal.directory.phone import to_e164
from portal.tenants.models import ApiToken


def _customer_id(serializer: serializers.Field) -> int:
    return serializer.context["request"].user.customer_id


class CustomerScopedRelatedField(serializers.PrimaryKeyRelatedField):
    """A primary key of a row of the caller's own customer; other tenants' ids do not exist."""

    default_error_messages = {
        "does_not_exist": _("Объект с id «{pk_value}» не найден."),
        "incorrect_type": _("Ожидается числовой id, получено {data_type}."),
    }

    def get_queryset(self):
        return super().get_queryset().filter(customer_id=_customer_id(self))


def _to_e164_or_400(value: str) -> str:
    try:
        return to_e164(value)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.messages) from exc


class DepartmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Department
        fields = [
            "id",
            "name",
            "notify_callback",
            "notify_email",
            "notify_sms",
            "notify_portal",
            "notify_webhook",
            "notification_emails",
            "webhook_url",
            "queue_announce_interval",
            "created_at",
        ]
        read_only_fields = ["id", "created_at"]

    def validate_name(self, value: str) -> str:
        value = value.strip()
        if not value:
            raise serializers.ValidationError(_("Укажите название отдела."))
        taken = Department.objects.filter(customer_id=_customer_id(self), name=value)
        if self.instance is not None:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise serializers.ValidationError(_("Отдел с таким названием уже есть."))
        return value

    def validate_notification_emails(self, value: str) -> str:
        emails = [line.strip() for line in value.splitlines() if line.strip()]
        for email in emails:
            try:
                validate_email(email)
            except DjangoValidationError as exc:
                raise serializers.ValidationError(
                    _("«%(email)s» не похоже на адрес e-mail.") % {"email": email[:80]}
                ) from exc
        return "\n".join(emails)

    def validate(self, attrs: dict) -> dict:
        webhook = attrs.get("notify_webhook", getattr(self.instance, "notify_webhook", False))
        url = attrs.get("webhook_url", getattr(self.instance, "webhook_url", ""))
        if webhook and not url:
            raise serializers.ValidationError(
                {"webhook_url": _("Укажите адрес вебхука или выключите оповещение вебхуком.")}
            )
        return attrs


SIP_PASSWORD_RE = re.compile(r"^[\x21-\x7e]{12,64}$")


class EmployeeSerializer(serializers.ModelSerializer):
    """`sip_password` is write-only; it is generated when omitted and returned once on create."""

    department = CustomerScopedRelatedField(
        queryset=Department.objects.all(), allow_null=True, required=False
    )
    sip_password = serializers.CharField(
        write_only=True,
        required=False,
        trim_whitespace=False,
        help_text="12–64 printable ASCII characters, no spaces. Generated when omitted; "
        "never returned except in the response to create.",
    )

    class Meta:
        model = Employee
        fields = [
            "id",
            "name",
            "extension",
            "department",
            "mobile_number",
            "caller_id_option",
            "is_active",
            "sip_password",
            "created_at",
        ]
        read_only_fields = ["id", "created_at"]

    def validate_name(self, value: str) -> str:
        value = value.strip()
        if not value:
            raise serializers.ValidationError(_("Укажите имя сотрудника."))
        return value

    def validate_extension(self, value: str) -> str:
        taken = Employee.objects.filter(customer_id=_customer_id(self), extension=value)
        if self.instance is not None:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise serializers.ValidationError(_("Внутренний номер «%s» уже занят.") % value)
        return value

    def validate_mobile_number(self, value: str) -> str:
        if not value.strip():
            return ""
        return _to_e164_or_400(value)

    def validate_sip_password(self, value: str) -> str:
        if not SIP_PASSWORD_RE.match(value):
            raise serializers.ValidationError(
                _("Пароль SIP: от 12 до 64 печатных символов ASCII, без пробелов.")
            )
        return value


class EmployeeCreatedSerializer(EmployeeSerializer):
    """The response to create: the only time the SIP password is shown."""

    sip_password = serializers.CharField(read_only=True)


class NumberSerializer(serializers.ModelSerializer):
    e164 = serializers.CharField(
        max_length=32,
        help_text="Phone number; stored as E.164 (`+74951234567`). Numbers without `+` are "
        "read as Russian numbers.",
    )
    department = CustomerScopedRelatedField(
        queryset=Department.objects.all(), allow_null=True, required=False
    )

    class Meta:
        model = PhoneNumber
        fields = ["id", "e164", "kind", "department", "label", "created_at"]
        read_only_fields = ["id", "created_at"]

    def validate_e164(self, value: str) -> str:
        e164 = _to_e164_or_400(value)
        # Numbers are unique across the platform: say so without naming the holder.
        taken = PhoneNumber.objects.filter(e164=e164)
        if self.instance is not None:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise serializers.ValidationError(_("Номер %s уже используется.") % e164)
        return e164


class OptionSerializer(serializers.Serializer):
    code = serializers.SlugField(read_only=True)
    name = serializers.CharField(read_only=True)
    description = serializers.CharField(read_only=True)
    monthly_price = serializers.DecimalField(
        max_digits=12, decimal_places=2, coerce_to_string=True, read_only=True
    )
    enabled = serializers.BooleanField(read_only=True)


class OptionToggleSerializer(serializers.Serializer):
    enabled = serializers.BooleanField(help_text="true: switch the option on; false: off.")


class OptionToggledSerializer(OptionSerializer):
    changed = serializers.BooleanField(
        read_only=True, help_text="false when the option already was in the requested state"
    )


class LedgerEntrySerializer(serializers.ModelSerializer):
    amount = serializers.DecimalField(
        max_digits=12, decimal_places=2, coerce_to_string=True, read_only=True
    )

    class Meta:
        model = LedgerEntry
        fields = [
            "id",
            "kind",
            "category",
            "amount",
            "currency",
            "period_start",
            "period_end",
            "description",
            "details",
            "created_at",
        ]
        read_only_fields = fields


class LedgerFilterSerializer(serializers.Serializer):
    month = serializers.RegexField(
        r"^\d{4}-(0[1-9]|1[0-2])$",
        required=False,
        error_messages={"invalid": _("Месяц в формате ГГГГ-ММ, например 2026-10.")},
        help_text="YYYY-MM: entries whose period starts in that month",
    )
    category = serializers.ChoiceField(choices=LedgerEntry.Category.choices, required=False)


class BalanceSerializer(serializers.Serializer):
    balance = serializers.DecimalField(
        max_digits=14, decimal_places=2, coerce_to_string=True, read_only=True
    )
    currency = serializers.CharField(read_only=True)


class ApiTokenSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
        read_only_fields = [
            "id",
            "prefix",
            "created_by",
            "created_at",
            "last_used_at",
            "revoked_at",
        ]

    def validate_name(self, value: str) -> str:
        value = value.strip()
        if not value:
            raise serializers.ValidationError(_("Укажите название токена."))
        return value


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    key = serializers.CharField(
        read_only=True, help_text="The token itself. Shown only once: store it now."
    )

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "key"]
