from django.urls import path

from pbx import views

app_name = "freeswitch"

urlpatterns = [
    path("xml/", views.xml_curl, name="xml_curl"),
]
