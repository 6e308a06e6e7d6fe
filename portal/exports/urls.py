from django.urls import path

from portal.exports import api, ratedeck_views, views

app_name = "exports"

urlpatterns = [
    path("pbx/exports/", views.export_index, name="index"),
    path("pbx/exports/<uuid:token>/status/", views.export_status, name="status"),
    path("pbx/exports/<uuid:token>/download/", views.export_download, name="download"),
    path("pbx/documents/", views.document_index, name="documents"),
    path("pbx/documents/<int:pk>.pdf", views.document_pdf, name="document_pdf"),
    path("platform/billing/exports/", views.platform_exports, name="platform_exports"),
    path(
        "platform/billing/exports/<uuid:token>/status/",
        views.platform_export_status,
        name="platform_status",
    ),
    path(
        "platform/billing/exports/<uuid:token>/download/",
        views.platform_export_download,
        name="platform_download",
    ),
    path("platform/billing/documents/", views.platform_documents, name="platform_documents"),
    path(
        "platform/billing/documents/<int:pk>.pdf",
        views.platform_document_pdf,
        name="platform_document_pdf",
    ),
    path("platform/billing/ratedecks/", ratedeck_views.rate_decks, name="rate_decks"),
    path("api/v1/exports/", api.ExportListView.as_view(), name="api_exports"),
    path("api/v1/exports/<uuid:token>/", api.ExportDetailView.as_view(), name="api_export"),
    path("api/v1/exports/<uuid:token>/file/", api.ExportFileView.as_view(), name="api_file"),
    path("api/v1/documents/", api.DocumentListView.as_view(), name="api_documents"),
    path("api/v1/documents/<int:pk>/pdf/", api.DocumentPdfView.as_view(), name="api_pdf"),
]
