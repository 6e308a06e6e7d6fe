"""Serializers of the customer API: the shape of input and the representation of output.

Directory writes (departments, employees, numbers) check here only types, lengths and formats;
every rule (whose department, E.164, uniqueness, field rules) is checked by
`portal.directory.services`, whose ValidationErrors the API returns as 400s under the same field
names. Messages are the ones users see in the portal (Russian first). Money is rendered as
strings (DRF's COERCE_DECIMAL_TO_STRING, forced per field so a settings change cannot turn it
into floats).
"""

from __future__ import annotations

from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from portal.billing.models import LedgerEntry
from portal.billing.selectors import MONTH_MAX_YEAR, MONTH_MIN_YEAR
from portal.directory.models import Department, Employee, PhoneNumber, PlatformNumber
from portal.directory.services import DEPARTMENT_FIELDS
from portal.tenants.models import ApiToken


class DepartmentIdField(serializers.IntegerField):
    """A department's id, or null. Whether it is the caller's own department, the service
    checks: another customer's id reads exactly like one that does not exist."""

    def __init__(self, **kwargs):
        kwargs.setdefault("allow_null", True)
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def get_attribute(self, instance):
        return instance.department_id


class DepartmentSerializer(serializers.ModelSerializer):
    """Every field the department services write; never `webhook_secret`."""

    class Meta:
        model = Department
        fields = ["id", *DEPARTMENT_FIELDS, "created_at"]
        read_only_fields = ["id", "created_at"]


class EmployeeSerializer(serializers.ModelSerializer):
    """`sip_password` is write-only; it is generated when omitted and returned once on create."""

    department = DepartmentIdField()
    mobile_number = serializers.CharField(
        label=capfirst(Employee._meta.get_field("mobile_number").verbose_name),
        max_length=32,
        allow_blank=True,
        required=False,
        help_text="Mobile phone number; stored as E.164 (`+79161234567`), empty for none.",
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


class EmployeeCreatedSerializer(EmployeeSerializer):
    """The response to create: the only time the SIP password is shown."""

    sip_password = serializers.CharField(read_only=True)


class NumberSerializer(serializers.ModelSerializer):
    e164 = serializers.CharField(
        max_length=32,
        help_text="One of the platform's free numbers (`GET /api/v1/numbers/available/`); "
        "stored as E.164 (`+74951234567`). Any other number is a 400.",
    )
    department = DepartmentIdField()

    class Meta:
        model = PhoneNumber
        fields = ["id", "e164", "kind", "department", "label", "created_at"]
        read_only_fields = ["id", "created_at"]


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

    def validate_month(self, value: str) -> str:
        if not MONTH_MIN_YEAR <= int(value[:4]) <= MONTH_MAX_YEAR:
            raise serializers.ValidationError(
                _("Месяц с %(first)s-01 по %(last)s-12.")
                % {"first": MONTH_MIN_YEAR, "last": MONTH_MAX_YEAR}
            )
        return value


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


class AvailableNumberSerializer(serializers.Serializer):
    e164 = serializers.CharField(read_only=True)


class PlatformNumberSerializer(serializers.ModelSerializer):
    e164 = serializers.CharField(max_length=32, help_text="Stored as E.164.")
    customer = serializers.SerializerMethodField(
        help_text="Id of the customer holding the number, or null when it is free."
    )

    class Meta:
        model = PlatformNumber
        fields = ["id", "e164", "is_available", "note", "customer", "added_at"]
        read_only_fields = ["id", "customer", "added_at"]

    def get_customer(self, obj) -> int | None:
        return self.context.get("holders", {}).get(obj.e164)
