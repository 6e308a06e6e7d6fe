from django.urls import path

from portal.fictive import views

app_name = "fictive"

urlpatterns = [
    path("", views.index, name="index"),
    path("projects/new/", views.project_create, name="project_create"),
    path("projects/<int:pk>/", views.project_edit, name="project_edit"),
    path("shoppers/new/", views.shopper_create, name="shopper_create"),
    path("shoppers/<int:pk>/", views.shopper_edit, name="shopper_edit"),
    path("shoppers/<int:pk>/delete/", views.shopper_delete, name="shopper_delete"),
    path("numbers/pair/", views.pair, name="pair"),
    path("numbers/<int:pk>/unpair/", views.unpair, name="unpair"),
    path("calls/", views.calls, name="calls"),
    path("calls/<int:pk>/recording.wav", views.recording, name="recording"),
    path("pending/", views.pending, name="pending"),
    path("sms/", views.sms_log, name="sms"),
]
