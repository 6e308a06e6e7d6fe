from django.urls import path

from portal.api import pages

app_name = "api_pages"

urlpatterns = [
    path("", pages.tokens, name="tokens"),
    path("<int:pk>/revoke/", pages.revoke, name="revoke"),
]
