"""API of call forwarding: `/api/v1/forwarding-rules/` — list, read, create (replaces the
employee's rule for the same condition), delete. Checked as in the portal (loops, other
tenants, the outbound call policy: 400 with the reason). Another customer's id is a 404."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets

from portal.api.pagination import Pagination
from portal.directory.models import Employee
from portal.forwarding import services
from portal.forwarding.models import ForwardingRule


class ForwardingRuleSerializer(serializers.ModelSerializer):
    employee = serializers.PrimaryKeyRelatedField(queryset=Employee.objects.none())
    target_employee = serializers.PrimaryKeyRelatedField(
        queryset=Employee.objects.none(), required=False, allow_null=True
    )
    target_number = serializers.CharField(required=False, allow_blank=True, max_length=20)

    class Meta:
        model = ForwardingRule
        fields = [
            "id",
            "employee",
            "when",
            "target_employee",
            "target_number",
            "ring_seconds",
            "enabled",
            "created_at",
        ]
        read_only_fields = ["created_at"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        customer_id = getattr(getattr(request, "user", None), "customer_id", None)
        employees = Employee.objects.filter(customer_id=customer_id)
        self.fields["employee"].queryset = employees
        self.fields["target_employee"].queryset = employees

    def validate(self, data):
        # the unique (employee, when) pair is the service's to replace, not an error here
        return data

    def get_validators(self):
        return []


@extend_schema_view(
    list=extend_schema(summary="Call forwarding rules of the customer's employees"),
    create=extend_schema(summary="Create or replace an employee's rule for a condition"),
)
class ForwardingRuleViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = ForwardingRuleSerializer
    pagination_class = Pagination
    lookup_value_regex = r"[0-9]+"
    queryset = ForwardingRule.objects.none()

    def get_queryset(self):
        return ForwardingRule.objects.filter(
            customer_id=self.request.user.customer_id
        ).select_related("employee", "target_employee")

    def perform_create(self, serializer) -> None:
        data = serializer.validated_data
        try:
            serializer.instance = services.rule_save(
                customer=self.request.user.customer,
                employee=data["employee"],
                when=data["when"],
                target_employee=data.get("target_employee"),
                target_number=(data.get("target_number") or "").strip(),
                ring_seconds=data.get("ring_seconds", 20),
                enabled=data.get("enabled", True),
            )
        except services.ForwardingError as exc:
            raise serializers.ValidationError({"detail": str(exc)}) from None

    def perform_destroy(self, instance) -> None:
        services.rule_delete(customer=self.request.user.customer, rule=instance)
