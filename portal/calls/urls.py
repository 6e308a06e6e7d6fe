from django.urls import path

from portal.calls import views

app_name = "calls"

urlpatterns = [
    path("", views.cdr_intake, name="cdr_intake"),
    path("<slug:node>/", views.cdr_intake, name="cdr_intake_node"),
]
