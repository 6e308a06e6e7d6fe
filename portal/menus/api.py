"""API of voice menus and working hours, tenant-scoped like the rest (another customer's id,
as an object or inside a destination, is a 404):

- `/api/v1/menus/`: menus with their keys (`options`, replaced as a whole on write) and the
  problems the editor shows (`problems`, read-only);
- `/api/v1/schedules/`: weekly spans and dated exceptions (replaced as a whole on write);
- `/api/v1/menu-routes/`: which numbers start with which destination, with a schedule.

Destinations are strings: `menu:<id>`, `dept:<id>`, `emp:<id>`, `number:<E.164>`,
`voicemail:<id>`, `repeat`, `hangup`. Writes go through the same services as the portal.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.response import Response

from portal.directory.models import PhoneNumber
from portal.menus import rules, selectors, services
from portal.menus.models import Menu, MenuOption, NumberRoute, Schedule
from portal.tenants.models import Customer


def _customer(request) -> Customer:
    return Customer.objects.get(pk=request.user.customer_id)


def _call(fn, **kwargs):
    try:
        return fn(**kwargs)
    except services.ForeignTarget:
        raise NotFound("No such object.")
    except DjangoValidationError as exc:
        raise DRFValidationError({"detail": exc.messages})


class MenuKeySerializer(serializers.Serializer):
    key = serializers.ChoiceField(choices=list(rules.KEYS))
    label = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
    target = serializers.CharField(max_length=40)
    schedule = serializers.IntegerField(required=False, allow_null=True, min_value=1, default=None)
    closed_target = serializers.CharField(
        max_length=40, required=False, allow_blank=True, default=""
    )


class MenuSerializer(serializers.ModelSerializer):
    options = MenuKeySerializer(many=True, required=False)
    problems = serializers.SerializerMethodField()

    class Meta:
        model = Menu
        fields = [
            "id",
            "name",
            "timeout_seconds",
            "max_retries",
            "direct_dial",
            "default_target",
            "options",
            "problems",
        ]
        read_only_fields = ["id", "problems"]

    def to_representation(self, menu):
        data = super().to_representation(menu)
        data["options"] = [
            {
                "key": o.key,
                "label": o.label,
                "target": o.target,
                "schedule": o.schedule_id,
                "closed_target": o.closed_target,
            }
            for o in menu.options.all()
        ]
        return data

    def get_problems(self, menu) -> list[dict]:
        plan = self.context.get("plan")
        if plan is None:
            return []
        return [
            {"code": p.code, "key": p.key, "target": p.target}
            for p in rules.validate(plan)
            if p.menu_id == menu.pk
        ]


@extend_schema_view(
    list=extend_schema(summary="Voice menus of the customer, with their keys and problems"),
    retrieve=extend_schema(summary="One voice menu"),
    create=extend_schema(summary="Create a voice menu (keys optional)"),
    update=extend_schema(summary="Replace a menu's settings and keys"),
    destroy=extend_schema(summary="Delete a menu nothing refers to"),
)
class MenuViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = MenuSerializer
    lookup_value_regex = r"[0-9]+"
    queryset = Menu.objects.none()  # for the schema; see get_queryset
    http_method_names = ["get", "post", "put", "delete", "head", "options"]

    def get_queryset(self):
        return Menu.objects.filter(customer_id=self.request.user.customer_id).prefetch_related(
            "options"
        )

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if getattr(self.request, "user", None) and self.request.user.is_authenticated:
            customer = Customer.objects.filter(pk=self.request.user.customer_id).first()
            if customer is not None:
                context["plan"] = selectors.plan_for(customer)
        return context

    def _save(self, request, menu: Menu | None):
        data = MenuSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        customer = _customer(request)
        with transaction.atomic():
            menu = _call(
                services.menu_save,
                customer=customer,
                menu=menu,
                name=v["name"],
                timeout_seconds=v.get("timeout_seconds", 5),
                max_retries=v.get("max_retries", 2),
                direct_dial=v.get("direct_dial", False),
                default_target=v.get("default_target", "hangup"),
            )
            if "options" in v:
                keys = {o["key"] for o in v["options"]}
                MenuOption.objects.filter(menu=menu).exclude(key__in=keys).delete()
                for o in v["options"]:
                    _call(
                        services.option_set,
                        customer=customer,
                        menu=menu,
                        key=o["key"],
                        target=o["target"],
                        label=o["label"],
                        schedule_id=o["schedule"],
                        closed_target=o["closed_target"],
                    )
        return Menu.objects.prefetch_related("options").get(pk=menu.pk)

    def create(self, request, *args, **kwargs):
        menu = self._save(request, None)
        body = MenuSerializer(menu, context=self.get_serializer_context()).data
        return Response(body, status=status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        menu = self._save(request, self.get_object())
        return Response(MenuSerializer(menu, context=self.get_serializer_context()).data)

    def perform_destroy(self, instance):
        _call(services.menu_delete, customer=_customer(self.request), menu=instance)


class ScheduleSpanSerializer(serializers.Serializer):
    weekday = serializers.IntegerField(min_value=0, max_value=6)
    opens = serializers.TimeField()
    closes = serializers.TimeField()


class ScheduleExceptionSerializer(serializers.Serializer):
    date = serializers.DateField()
    opens = serializers.TimeField(required=False, allow_null=True, default=None)
    closes = serializers.TimeField(required=False, allow_null=True, default=None)
    note = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")


class ScheduleSerializer(serializers.ModelSerializer):
    name = serializers.CharField(max_length=120)
    time_zone = serializers.CharField(max_length=64)
    spans = ScheduleSpanSerializer(many=True, required=False)
    exceptions = ScheduleExceptionSerializer(many=True, required=False)

    class Meta:
        model = Schedule
        fields = ["id", "name", "time_zone", "spans", "exceptions"]
        read_only_fields = ["id"]

    def to_representation(self, schedule):
        return {
            "id": schedule.pk,
            "name": schedule.name,
            "time_zone": schedule.time_zone,
            "spans": ScheduleSpanSerializer(schedule.spans.all(), many=True).data,
            "exceptions": ScheduleExceptionSerializer(schedule.exceptions.all(), many=True).data,
        }


@extend_schema_view(
    list=extend_schema(summary="Working-hours schedules of the customer"),
    retrieve=extend_schema(summary="One schedule"),
    create=extend_schema(summary="Create a schedule"),
    update=extend_schema(summary="Replace a schedule's hours and exceptions"),
    destroy=extend_schema(summary="Delete a schedule nothing uses"),
)
class ScheduleViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = ScheduleSerializer
    lookup_value_regex = r"[0-9]+"
    queryset = Schedule.objects.none()
    http_method_names = ["get", "post", "put", "delete", "head", "options"]

    def get_queryset(self):
        return Schedule.objects.filter(customer_id=self.request.user.customer_id).prefetch_related(
            "spans", "exceptions"
        )

    def _save(self, request, schedule: Schedule | None):
        data = ScheduleSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        customer = _customer(request)
        with transaction.atomic():
            schedule = _call(
                services.schedule_save,
                customer=customer,
                schedule=schedule,
                name=v["name"],
                time_zone=v["time_zone"],
                spans=[(s["weekday"], s["opens"], s["closes"]) for s in v.get("spans", [])],
            )
            if "exceptions" in v:
                schedule.exceptions.exclude(date__in=[e["date"] for e in v["exceptions"]]).delete()
                for e in v["exceptions"]:
                    _call(
                        services.schedule_exception_set, customer=customer, schedule=schedule, **e
                    )
        return schedule

    def create(self, request, *args, **kwargs):
        schedule = self._save(request, None)
        return Response(ScheduleSerializer(schedule).data, status=status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        return Response(ScheduleSerializer(self._save(request, self.get_object())).data)

    def perform_destroy(self, instance):
        _call(services.schedule_delete, customer=_customer(self.request), schedule=instance)


class NumberRouteSerializer(serializers.ModelSerializer):
    e164 = serializers.CharField(source="number.e164", read_only=True)

    class Meta:
        model = NumberRoute
        fields = ["id", "number", "e164", "target", "schedule", "closed_target"]
        read_only_fields = ["id", "e164"]
        extra_kwargs = {"number": {"queryset": PhoneNumber.objects.all()}}


class NumberRouteInput(serializers.Serializer):
    number = serializers.IntegerField(min_value=1)
    target = serializers.CharField(max_length=40)
    schedule = serializers.IntegerField(required=False, allow_null=True, min_value=1, default=None)
    closed_target = serializers.CharField(
        max_length=40, required=False, allow_blank=True, default=""
    )


@extend_schema_view(
    list=extend_schema(summary="Numbers that start with a voice menu"),
    retrieve=extend_schema(summary="One number's start"),
    create=extend_schema(
        summary="Start a number with a destination (replaces its previous one)",
        request=NumberRouteInput,
        responses={201: NumberRouteSerializer},
    ),
    destroy=extend_schema(summary="The number no longer starts with a menu"),
)
class NumberRouteViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = NumberRouteSerializer
    lookup_value_regex = r"[0-9]+"
    queryset = NumberRoute.objects.none()

    def get_queryset(self):
        return NumberRoute.objects.filter(customer_id=self.request.user.customer_id).select_related(
            "number"
        )

    def create(self, request, *args, **kwargs):
        data = NumberRouteInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        customer = _customer(request)
        number = PhoneNumber.objects.filter(pk=v["number"], customer=customer).first()
        if number is None:
            raise NotFound("No such number.")
        route = _call(
            services.number_route_set,
            customer=customer,
            number=number,
            target=v["target"],
            schedule_id=v["schedule"],
            closed_target=v["closed_target"],
        )
        return Response(NumberRouteSerializer(route).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        services.number_route_delete(customer=_customer(self.request), number=instance.number)
