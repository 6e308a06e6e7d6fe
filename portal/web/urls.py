from django.contrib.auth import views as auth_views
from django.urls import path

from portal.directory import pages as directory
from portal.statistics import views as statistics_views
from portal.web import callpolicy_views, views
from portal.web.login import LoginView

app_name = "web"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("pbx/", views.pbx, name="pbx"),
    path("pbx/tariff/", views.tariff, name="tariff"),
    path("pbx/tariff/options/", views.option_toggle, name="option_toggle"),
    path("pbx/calls/", callpolicy_views.call_policy, name="call_policy"),
    path("departments/", directory.departments, name="departments"),
    path("departments/new/", directory.department_create, name="department_create"),
    path("departments/<int:pk>/", directory.department_edit, name="department_edit"),
    path("employees/", directory.employees, name="employees"),
    path("employees/new/", directory.employee_create, name="employee_create"),
    path("employees/<int:pk>/", directory.employee_edit, name="employee_edit"),
    path("numbers/", directory.numbers, name="numbers"),
    path("numbers/new/", directory.number_create, name="number_create"),
    path("numbers/<int:pk>/", directory.number_edit, name="number_edit"),
    path("ivr/", views.ivr, name="ivr"),
    path("statistics/", statistics_views.statistics, name="statistics"),
    path("more/", views.more, name="more"),
    path("profile/", views.profile, name="profile"),
    path("profile/password/", views.password_change, name="password_change"),
]
