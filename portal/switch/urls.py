from django.urls import path

from portal.switch import views

app_name = "switch"

urlpatterns = [
    path("switch/", views.status, name="status"),
]
