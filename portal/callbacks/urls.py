from django.urls import path

from portal.callbacks import views

app_name = "callbacks"

urlpatterns = [
    path("", views.callback_list, name="list"),
    path("<int:pk>/", views.callback_detail, name="detail"),
    path("<int:pk>/act/", views.callback_act, name="act"),
    path("attempts/<int:pk>/recording.wav", views.attempt_recording, name="recording"),
]
