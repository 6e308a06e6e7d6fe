from django.urls import path

from portal.crm import views

app_name = "crm"

urlpatterns = [
    path("", views.index, name="index"),
    path("calls/<int:pk>/", views.card, name="card"),
    path("calls/<int:pk>/notes/", views.note, name="note"),
    path("employees/<int:pk>/user/", views.employee_user, name="employee_user"),
]
