from django.urls import path

from portal.moh import views

app_name = "moh"

urlpatterns = [
    path("", views.index, name="index"),
    path("upload/", views.upload, name="upload"),
    path("<int:pk>/delete/", views.delete, name="delete"),
    path("<int:pk>/audio/", views.audio_file, name="audio"),
]
