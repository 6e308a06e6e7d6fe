"""The statistics' numbers over the API: `GET /api/v1/statistics/` answers what the
"Статистика" page draws, for the period of `date_from`/`date_to` (YYYY-MM-DD, the customer's
dates, inclusive) or `preset` (today, 7d, 30d, month, last_month; the last 30 days when
nothing is given). Always the caller's own customer."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.statistics import selectors
from portal.statistics.forms import PRESETS, PeriodForm


class CallCountsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    answered = serializers.IntegerField()
    missed = serializers.IntegerField()
    inbound = serializers.IntegerField()
    outbound = serializers.IntegerField()
    internal = serializers.IntegerField()


class DaySerializer(CallCountsSerializer):
    day = serializers.DateField()


class HourSerializer(CallCountsSerializer):
    hour = serializers.IntegerField(min_value=0, max_value=23)


class DirectionSerializer(serializers.Serializer):
    direction = serializers.CharField()
    total = serializers.IntegerField()
    answered = serializers.IntegerField()
    minutes = serializers.IntegerField()


class DepartmentTimesSerializer(serializers.Serializer):
    department = serializers.IntegerField()
    name = serializers.CharField()
    total = serializers.IntegerField()
    answered = serializers.IntegerField()
    avg_wait = serializers.FloatField(help_text="seconds before the answer (answered calls)")
    avg_talk = serializers.FloatField(help_text="seconds of talk (answered calls)")


class CallbackOutcomeSerializer(serializers.Serializer):
    status = serializers.CharField()
    count = serializers.IntegerField()


class RedialOutcomeSerializer(serializers.Serializer):
    outcome = serializers.CharField()
    count = serializers.IntegerField()


class FictiveSerializer(serializers.Serializer):
    direction = serializers.CharField()
    total = serializers.IntegerField()
    bridged = serializers.IntegerField()


class TopNumberSerializer(serializers.Serializer):
    number = serializers.CharField()
    total = serializers.IntegerField()
    answered = serializers.IntegerField()
    minutes = serializers.IntegerField()


class StatisticsSerializer(serializers.Serializer):
    date_from = serializers.DateField()
    date_to = serializers.DateField()
    time_zone = serializers.CharField()
    per_day = DaySerializer(many=True)
    per_hour = HourSerializer(many=True)
    by_direction = DirectionSerializer(many=True)
    departments = DepartmentTimesSerializer(many=True)
    callbacks = CallbackOutcomeSerializer(many=True)
    redial = RedialOutcomeSerializer(many=True)
    fictive = FictiveSerializer(many=True)
    top_numbers = TopNumberSerializer(many=True)


class StatisticsView(APIView):
    @extend_schema(
        summary="Call statistics of a period (what the Statistics page draws)",
        parameters=[
            OpenApiParameter("date_from", str, description="YYYY-MM-DD (the customer's date)"),
            OpenApiParameter("date_to", str, description="YYYY-MM-DD, inclusive"),
            OpenApiParameter("preset", str, enum=[value for value, _label in PRESETS]),
        ],
        responses=StatisticsSerializer,
    )
    def get(self, request):
        form = PeriodForm(request.query_params, customer=request.user.customer)
        if not form.is_valid():
            return Response({k: list(v) for k, v in form.errors.items()}, status=400)
        data = selectors.statistics(request.user.customer, form.period())
        return Response(StatisticsSerializer(data).data)
