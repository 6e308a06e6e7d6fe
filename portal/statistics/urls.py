from django.urls import path

from portal.statistics import api

app_name = "statistics"

# The page itself keeps its old name and path (`web:statistics`, /statistics/): the menu's.
urlpatterns = [
    path("api/v1/statistics/", api.StatisticsView.as_view(), name="api"),
]
