"""API of exports and documents (`/api/v1/exports/`, `/api/v1/documents/`), per customer: a
token or a session of the customer; another tenant's export or document is a 404."""

from __future__ import annotations

import datetime as dt

from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.api.permissions import IsCustomerMember
from portal.calls.models import CallRecord
from portal.directory.models import Employee
from portal.exports import documents as docs
from portal.exports import services
from portal.exports.forms import MAX_DAYS
from portal.exports.models import Document, Export
from portal.exports.queries import Filters


class ExportSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="token", read_only=True)
    # Plain strings here: the choices are documented once, on the input (one enum per name).
    kind = serializers.CharField(read_only=True)
    format = serializers.CharField(read_only=True)
    progress = serializers.IntegerField(read_only=True)
    filters = serializers.JSONField(read_only=True)

    class Meta:
        model = Export
        fields = [
            "id",
            "kind",
            "format",
            "filters",
            "status",
            "progress",
            "rows_done",
            "rows_total",
            "created_at",
            "finished_at",
            "expires_at",
        ]
        read_only_fields = fields


class ExportInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Export.Kind.choices)
    format = serializers.ChoiceField(choices=Export.Format.choices, default="csv")
    date_from = serializers.DateField()
    date_to = serializers.DateField()
    number = serializers.RegexField(r"^\+?[0-9]{1,19}$", required=False, allow_blank=True)
    employee = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    direction = serializers.ChoiceField(
        choices=CallRecord.Direction.choices, required=False, allow_blank=True
    )
    status = serializers.ChoiceField(
        choices=["answered", "unanswered"], required=False, allow_blank=True
    )

    def validate(self, data):
        if data["date_to"] < data["date_from"]:
            raise serializers.ValidationError({"date_to": "before date_from"})
        if data["date_to"] - data["date_from"] > dt.timedelta(days=MAX_DAYS):
            raise serializers.ValidationError({"date_to": "the period is longer than 10 years"})
        employee = data.get("employee")
        customer = self.context["customer"]
        if employee and not Employee.objects.filter(pk=employee, customer=customer).exists():
            raise serializers.ValidationError({"employee": "no such employee"})
        return data


class ExportListView(generics.ListAPIView):
    permission_classes = [IsCustomerMember]
    serializer_class = ExportSerializer

    def get_queryset(self):
        return Export.objects.filter(customer_id=self.request.user.customer_id)

    @extend_schema(request=ExportInput, responses={202: ExportSerializer})
    def post(self, request):
        data = ExportInput(data=request.data, context={"customer": request.user.customer})
        data.is_valid(raise_exception=True)
        v = data.validated_data
        export = services.export_request(
            customer=request.user.customer,
            user=request.user,
            kind=v["kind"],
            format=v["format"],
            filters=Filters(
                date_from=v["date_from"],
                date_to=v["date_to"],
                number=(v.get("number") or "").lstrip("+"),
                employee=v.get("employee"),
                direction=v.get("direction") or "",
                status=v.get("status") or "",
            ),
        )
        return Response(ExportSerializer(export).data, status=status.HTTP_202_ACCEPTED)


class ExportDetailView(generics.RetrieveAPIView):
    permission_classes = [IsCustomerMember]
    serializer_class = ExportSerializer
    lookup_field = "token"

    def get_queryset(self):
        return Export.objects.filter(customer_id=self.request.user.customer_id)


class ExportFileView(APIView):
    permission_classes = [IsCustomerMember]

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request, token):
        export = get_object_or_404(Export, token=token, customer_id=request.user.customer_id)
        path = services.export_path(export)
        if export.status != Export.Status.DONE or not path.exists():
            raise Http404
        return FileResponse(open(path, "rb"), as_attachment=True, filename=export.file_name)


class DocumentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Document
        fields = ["id", "kind", "number", "month", "issued_on", "total", "currency", "lines"]
        read_only_fields = fields


class DocumentListView(generics.ListAPIView):
    permission_classes = [IsCustomerMember]
    serializer_class = DocumentSerializer

    def get_queryset(self):
        return Document.objects.filter(customer_id=self.request.user.customer_id)


class DocumentPdfView(APIView):
    permission_classes = [IsCustomerMember]

    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY})
    def get(self, request, pk: int):
        document = get_object_or_404(Document, pk=pk, customer_id=request.user.customer_id)
        return HttpResponse(docs.render_pdf(document), content_type="application/pdf")
