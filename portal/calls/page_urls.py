from django.urls import path

from portal.calls import api, pages

app_name = "call_history"

urlpatterns = [
    path("pbx/call-history/", pages.call_history, name="index"),
    path("pbx/call-history/<int:pk>/recording/", pages.recording, name="recording"),
    path("api/v1/calls/", api.CallListView.as_view(), name="api_list"),
    path("api/v1/calls/<int:pk>/", api.CallDetailView.as_view(), name="api_detail"),
    path("api/v1/calls/<int:pk>/recording/", api.CallRecordingView.as_view(), name="api_recording"),
]
