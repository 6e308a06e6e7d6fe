from django.urls import path

from portal.forwarding import views

app_name = "forwarding"

urlpatterns = [
    path("", views.index, name="index"),
    path("<int:pk>/delete/", views.delete, name="delete"),
]
