"""The customer API (`/api/v1/`). Views validate and call one write; they never span tenants.

Tenant isolation: every queryset is filtered by `request.user.customer_id`, so another
customer's id is a plain 404 (never their data, never a 403 that confirms the id exists).

Error statuses: invalid input -> 400 with a message per field (`{"e164": ["..."]}`) or
`{"detail": "..."}`; unknown option code in `options/<code>/` -> **400**
`{"code": ["Неизвестная опция «…»."]}` (the code is input to the toggle, like a field);
missing/invalid/revoked token -> 401; staff role writing, or a token managing tokens -> 403.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import get_language
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.api import serializers as s
from portal.api.pagination import Pagination
from portal.api.permissions import IsPlatformStaff, IsSignedInCustomerAdmin
from portal.billing import services as billing_services
from portal.billing.models import LedgerEntry, Option, OptionPeriod
from portal.billing.selectors import customer_balance, month_bounds
from portal.directory import services as directory_services
from portal.directory.models import Department, Employee, PhoneNumber, PlatformNumber
from portal.tenants.models import ApiToken

ID_REGEX = r"[0-9]+"


class DirectoryViewSet(viewsets.ModelViewSet):
    """CRUD over one customer's rows; every write tells FreeSWITCH what changed (on commit)."""

    pagination_class = Pagination  # limit and offset capped

    # (The docstring is the endpoints' public description.) Reads come from the customer's
    # queryset; every write is one call of a `portal.directory.services` function, which checks
    # the rules, saves and announces the change; its ValidationErrors become 400s (api.errors).
    lookup_value_regex = ID_REGEX
    # The resource's services (staticmethods), and how they name the row's id.
    create_service: Callable[..., object]
    update_service: Callable[..., object]
    delete_service: Callable[..., None]
    id_argument: str

    def get_queryset(self):
        return self.queryset.filter(customer_id=self.request.user.customer_id)

    def perform_create(self, serializer) -> None:
        serializer.instance = self.create_service(
            customer=self.request.user.customer, **serializer.validated_data
        )

    def perform_update(self, serializer) -> None:
        serializer.instance = self.update_service(
            customer=self.request.user.customer,
            **{self.id_argument: serializer.instance.pk},
            **serializer.validated_data,
        )

    def perform_destroy(self, instance) -> None:
        self.delete_service(customer=self.request.user.customer, **{self.id_argument: instance.pk})


@extend_schema_view(
    list=extend_schema(summary="Departments of the customer"),
    create=extend_schema(summary="Create a department"),
)
class DepartmentViewSet(DirectoryViewSet):
    queryset = Department.objects.all()
    serializer_class = s.DepartmentSerializer
    create_service = staticmethod(directory_services.department_create)
    update_service = staticmethod(directory_services.department_update)
    delete_service = staticmethod(directory_services.department_delete)
    id_argument = "department_id"


@extend_schema_view(
    list=extend_schema(summary="Employees (SIP users) of the customer"),
    create=extend_schema(
        summary="Create an employee",
        description="The response is the only one that contains `sip_password`.",
        responses={201: s.EmployeeCreatedSerializer},
    ),
)
class EmployeeViewSet(DirectoryViewSet):
    queryset = Employee.objects.all()
    serializer_class = s.EmployeeSerializer
    create_service = staticmethod(directory_services.employee_create)
    update_service = staticmethod(directory_services.employee_update)
    delete_service = staticmethod(directory_services.employee_delete)
    id_argument = "employee_id"

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        self.perform_create(serializer)
        data = s.EmployeeCreatedSerializer(
            serializer.instance, context=self.get_serializer_context()
        )
        return Response(data.data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    list=extend_schema(summary="Phone numbers of the customer"),
    create=extend_schema(summary="Add a phone number"),
)
class NumberViewSet(DirectoryViewSet):
    queryset = PhoneNumber.objects.all()
    serializer_class = s.NumberSerializer
    create_service = staticmethod(directory_services.number_create)
    update_service = staticmethod(directory_services.number_update)
    delete_service = staticmethod(directory_services.number_delete)
    id_argument = "number_id"

    @extend_schema(
        summary="The platform's free numbers, to pick one from",
        responses=s.AvailableNumberSerializer(many=True),
    )
    @action(detail=False, methods=["get"], pagination_class=None)
    def available(self, request):
        rows = directory_services.free_platform_numbers().order_by("e164")[:500]
        return Response(s.AvailableNumberSerializer(rows, many=True).data)


@extend_schema_view(
    list=extend_schema(summary="The platform's numbers (platform operators only)"),
    create=extend_schema(summary="Add a number the platform owns (platform operators only)"),
    destroy=extend_schema(summary="Remove a free number (platform operators only)"),
)
class PlatformNumberViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """The inventory customers pick their numbers from; who holds each number."""

    pagination_class = Pagination  # limit and offset capped

    queryset = PlatformNumber.objects.all()
    serializer_class = s.PlatformNumberSerializer
    permission_classes = [IsPlatformStaff]
    lookup_value_regex = ID_REGEX

    def get_serializer_context(self):
        holders = dict(PhoneNumber.objects.values_list("e164", "customer_id"))
        return {**super().get_serializer_context(), "holders": holders}

    def perform_create(self, serializer) -> None:
        serializer.instance = directory_services.platform_number_add(**serializer.validated_data)

    def perform_destroy(self, instance) -> None:
        directory_services.platform_number_remove(e164=instance.e164)


def _option_rows(customer_id: int, options=None) -> list[dict]:
    enabled_ids = set(
        OptionPeriod.objects.filter(customer_id=customer_id, ended_at__isnull=True).values_list(
            "option_id", flat=True
        )
    )
    if options is None:
        options = Option.objects.filter(Q(is_available=True) | Q(id__in=enabled_ids))
    language = get_language() or "ru"
    return [
        {
            "code": o.code,
            "name": o.name(language),
            "description": o.description(language),
            "monthly_price": o.monthly_price,
            "enabled": o.id in enabled_ids,
        }
        for o in options
    ]


class OptionListView(APIView):
    @extend_schema(
        summary="The option catalog with each option's state for the customer",
        responses=s.OptionSerializer(many=True),
    )
    def get(self, request):
        rows = _option_rows(request.user.customer_id)
        return Response(s.OptionSerializer(rows, many=True).data)


class OptionToggleView(APIView):
    """Switch an option on or off: takes effect in FreeSWITCH and in billing from today."""

    @extend_schema(
        summary="Switch an option on or off",
        description="An unknown or unavailable option code is a 400 with "
        '`{"code": ["…"]}`. Switching to the current state is a no-op (`changed: false`).',
        request=s.OptionToggleSerializer,
        responses={200: s.OptionToggledSerializer},
        parameters=[OpenApiParameter("code", OpenApiTypes.STR, OpenApiParameter.PATH)],
    )
    def put(self, request, code: str):
        data = s.OptionToggleSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        changed = billing_services.option_set(
            customer=request.user.customer, code=code, enabled=data.validated_data["enabled"]
        )
        option = Option.objects.get(code=code)
        row = _option_rows(request.user.customer_id, [option])[0]
        return Response(s.OptionToggledSerializer({**row, "changed": changed}).data)

    @extend_schema(
        summary="Switch an option on or off (same as PUT)",
        request=s.OptionToggleSerializer,
        responses={200: s.OptionToggledSerializer},
        parameters=[OpenApiParameter("code", OpenApiTypes.STR, OpenApiParameter.PATH)],
    )
    def post(self, request, code: str):
        return self.put(request, code)


@extend_schema(
    summary="Ledger: the customer's charges and payments, newest first",
    parameters=[s.LedgerFilterSerializer],
)
class LedgerView(generics.ListAPIView):
    pagination_class = Pagination  # limit and offset capped
    serializer_class = s.LedgerEntrySerializer

    def get_queryset(self):
        filters = s.LedgerFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        qs = LedgerEntry.objects.filter(customer_id=self.request.user.customer_id)
        month = filters.validated_data.get("month")
        if month:
            first, last = month_bounds(dt.date.fromisoformat(f"{month}-01"))
            qs = qs.filter(period_start__gte=first, period_start__lte=last)
        category = filters.validated_data.get("category")
        if category:
            qs = qs.filter(category=category)
        return qs


class BalanceView(APIView):
    @extend_schema(summary="Balance: payments minus charges", responses=s.BalanceSerializer)
    def get(self, request):
        customer = request.user.customer
        data = {"balance": customer_balance(customer), "currency": customer.currency}
        return Response(s.BalanceSerializer(data).data)


@extend_schema_view(
    list=extend_schema(summary="API tokens of the customer (portal session only)"),
    create=extend_schema(
        summary="Issue an API token (portal session only)",
        description="The response is the only one that contains the key.",
        responses={201: s.ApiTokenCreatedSerializer},
    ),
    destroy=extend_schema(summary="Revoke an API token (portal session only)"),
)
class ApiTokenViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    pagination_class = Pagination  # limit and offset capped
    serializer_class = s.ApiTokenSerializer
    permission_classes = [IsSignedInCustomerAdmin]
    lookup_value_regex = ID_REGEX

    def get_queryset(self):
        return ApiToken.objects.filter(customer_id=self.request.user.customer_id).select_related(
            "created_by"
        )

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token, key = ApiToken.issue(
            customer=request.user.customer,
            name=serializer.validated_data["name"],
            created_by=request.user,
        )
        token.key = key
        return Response(s.ApiTokenCreatedSerializer(token).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance) -> None:
        # Revoked, not deleted: the row stays for the audit trail; revoking twice is harmless.
        ApiToken.objects.filter(pk=instance.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
