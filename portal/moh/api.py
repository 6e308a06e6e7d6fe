"""API of custom hold music: `GET/POST /api/v1/hold-music/`, `GET/DELETE /api/v1/hold-music/<id>/`.

Tenant-scoped like the rest of the API: another customer's id (or department) is a 404 / 400.
An upload is `multipart/form-data` with `file` and an optional `department`; it goes through
the same service as the portal page (decoded and re-encoded by sox, size, duration and storage
quota checked).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from portal.api.authentication import TokenUser
from portal.directory.models import Department
from portal.moh import services
from portal.moh.models import HoldMusic
from portal.tenants.models import Customer


class HoldMusicSerializer(serializers.ModelSerializer):
    class Meta:
        model = HoldMusic
        fields = ["id", "department", "original_name", "size_bytes", "duration_ms", "uploaded_at"]
        read_only_fields = fields


class HoldMusicUploadSerializer(serializers.Serializer):
    file = serializers.FileField()
    department = serializers.IntegerField(required=False, allow_null=True, min_value=1)


@extend_schema_view(
    list=extend_schema(summary="The customer's hold music (customer-wide and per department)"),
    retrieve=extend_schema(summary="One hold music file"),
    create=extend_schema(
        summary="Upload hold music (replaces the previous one of the same department)",
        request={"multipart/form-data": HoldMusicUploadSerializer},
        responses={201: HoldMusicSerializer},
    ),
    destroy=extend_schema(summary="Remove hold music: the stock music plays again"),
)
class HoldMusicViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = HoldMusicSerializer
    parser_classes = [MultiPartParser, FormParser]
    lookup_value_regex = r"[0-9]+"
    queryset = HoldMusic.objects.none()  # for the schema; see get_queryset

    def get_queryset(self):
        return HoldMusic.objects.filter(customer_id=self.request.user.customer_id)

    def create(self, request, *args, **kwargs):
        data = HoldMusicUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        customer = Customer.objects.get(pk=request.user.customer_id)
        department = None
        if data.validated_data.get("department"):
            department = Department.objects.filter(
                customer=customer, pk=data.validated_data["department"]
            ).first()
            if department is None:
                raise DRFValidationError({"department": ["No such department."]})
        user = None if isinstance(request.user, TokenUser) else request.user
        try:
            music = services.hold_music_upload(
                customer=customer,
                department=department,
                upload=data.validated_data["file"],
                user=user,
            )
        except DjangoValidationError as exc:
            raise DRFValidationError({"file": exc.messages})
        except services.HoldMusicError as exc:
            raise DRFValidationError({"file": [str(exc)]})
        return Response(HoldMusicSerializer(music).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, *args, **kwargs):
        customer = Customer.objects.get(pk=request.user.customer_id)
        if not services.hold_music_delete(customer=customer, pk=int(kwargs["pk"])):
            raise NotFound()
        return Response(status=status.HTTP_204_NO_CONTENT)
