"""Video assistant pages: the specialist's list and console; the customer's link page.

Specialist pages go through `customer_page` (another tenant's session is a 404). The customer's
pages are reached by the link's token; the first browser is bound by an HttpOnly cookie and
every later request must carry it. Photos are served only to the two parties of the session.
"""

from __future__ import annotations

import json

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _t
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods, require_POST

from portal.billing.models import Option
from portal.callbacks.selectors import option_enabled
from portal.video import services
from portal.video.consumers import group
from portal.video.models import VideoMessage, VideoSession
from portal.web.access import customer_page
from portal.web.photos import MAX_PHOTO_BYTES, photo_discard, photo_response


class CreateForm(forms.Form):
    name = forms.CharField(label=_("Имя клиента"), max_length=120)
    phone = forms.CharField(label=_("Телефон для SMS"), max_length=20, required=False)
    email = forms.EmailField(label=_("или e-mail"), required=False)


def _config(request, session: VideoSession, role: str, messages_url: str) -> dict:
    scheme = "wss" if request.is_secure() else "ws"
    return {
        "role": role,
        "ws": f"{scheme}://{request.get_host()}/ws/video/{session.pk}/",
        "ice": settings.VIDEO_ICE_SERVERS,
        "messages": messages_url,
        "website": services.video_settings(session.customer_id).website,
        "text": {
            "ended": _t("Звонок завершён."),
            "camera": _t(
                "Нет доступа к камере и микрофону. Разрешите их в настройках браузера "
                "и нажмите «Повторить»."
            ),
        },
    }


def _message_json(m: VideoMessage) -> dict:
    return {
        "id": m.pk,
        "author": m.author,
        "text": m.text,
        "photo": reverse("video_photo", args=[m.pk]) if m.photo else "",
        "reply_to": m.reply_to_id,
        "reply_text": (m.reply_to.text[:80] if m.reply_to else ""),
        "at": m.created_at.isoformat(),
    }


def _publish(session_id: int, message: VideoMessage) -> None:
    layer = get_channel_layer()
    payload = {"type": "chat", "message": _message_json(message)}
    async_to_sync(layer.group_send)(
        group(session_id), {"type": "video.message", "message": payload, "sender": ""}
    )


def _post_message(request, session: VideoSession, author: str) -> JsonResponse:
    upload = request.FILES.get("photo")
    photo = ""
    try:
        if upload is not None:
            if upload.size > MAX_PHOTO_BYTES:
                raise ValidationError(_t("Фото больше 8 МБ."))
            photo = services.photo_store(upload.read(), session_id=session.pk)
        message = services.message_add(
            session,
            author=author,
            text=request.POST.get("text", ""),
            photo=photo,
            reply_to=request.POST.get("reply_to") or None,
        )
    except ValidationError as exc:
        photo_discard(photo)  # a refused message keeps no file either
        return JsonResponse({"error": " ".join(exc.messages)}, status=400)
    _publish(session.pk, message)
    return JsonResponse(_message_json(message), status=201)


# -- the specialist ----------------------------------------------------------------------------


@customer_page(staff_may_write=True)
def index(request):
    customer = request.customer
    form = CreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            created = services.session_create(specialist=request.user, **form.cleaned_data)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            return redirect("video:console", created.session.pk)
    sessions = VideoSession.objects.filter(customer=customer).select_related("specialist")
    return render(
        request,
        "video/index.html",
        {
            "form": form,
            "sessions": sessions[:200],
            "option_on": option_enabled(customer.pk, Option.VIDEO_ASSISTANT),
        },
        status=400 if request.method == "POST" else 200,
    )


@customer_page(staff_may_write=True)
def console(request, pk: int):
    session = get_object_or_404(VideoSession, pk=pk, customer=request.customer)
    config = _config(request, session, "specialist", reverse("video:messages", args=[pk]))
    return render(
        request,
        "video/console.html",
        {
            "s": session,
            "config": config,
            "chat": session.messages.select_related("reply_to"),
        },
    )


@customer_page(staff_may_write=True)
@require_POST
def messages(request, pk: int):
    session = get_object_or_404(VideoSession, pk=pk, customer=request.customer)
    return _post_message(request, session, VideoMessage.Author.SPECIALIST)


# -- the customer (by the link) ------------------------------------------------------------------


def _open(request, token: str):
    """(session, new cookie key or None); raises Refused."""
    return services.open_link(token=token, browser_key=request.COOKIES.get(_cookie_name(token)))


@require_http_methods(["GET", "POST"])
def join(request, token: str):
    try:
        session, key = _open(request, token)
    except services.Refused as exc:
        return render(request, "video/refused.html", {"reason": exc.reason}, status=exc.code)
    conf = services.video_settings(session.customer_id)
    if request.method == "POST":
        if request.POST.get("accept") != "yes":
            response = render(
                request,
                "video/join.html",
                {"s": session, "policy": conf.policy_text, "need_consent": True},
                status=400,
            )
        else:
            services.consent(session)
            response = redirect("video_join", token)
    else:
        session.refresh_from_db()
        config = _config(request, session, "client", reverse("video_client_messages", args=[token]))
        config["location"] = reverse("video_location", args=[token])
        response = render(
            request,
            "video/join.html",
            {"s": session, "policy": conf.policy_text, "config": config},
        )
    if key:
        response.set_cookie(
            f"video_{session.pk}",
            key,
            max_age=7 * 24 * 3600,
            httponly=True,
            samesite="Lax",
            secure=request.is_secure(),
        )
    return response


def _client(request, token: str) -> VideoSession:
    try:
        session, key = services.open_link(
            token=token, browser_key=request.COOKIES.get(_cookie_name(token))
        )
    except services.Refused:
        raise Http404 from None
    if key is not None or session.consent_at is None:
        raise Http404  # not this browser's session yet, or no consent: nothing may happen
    return session


def _cookie_name(token: str) -> str:
    session = VideoSession.objects.filter(token_hash=services.digest(token)).first()
    return f"video_{session.pk}" if session else "video_0"


@require_POST
def location(request, token: str):
    session = _client(request, token)
    try:
        body = json.loads(request.body or b"{}")
        services.location(
            session,
            lat=body.get("lat"),
            lon=body.get("lon"),
            refused=bool(body.get("refused")),
        )
    except (ValueError, ValidationError, AttributeError) as exc:
        text = " ".join(getattr(exc, "messages", [])) or _t("Неверные координаты.")
        return JsonResponse({"error": text}, status=400)
    return JsonResponse({"ok": True})


@require_POST
def client_messages(request, token: str):
    return _post_message(request, _client(request, token), VideoMessage.Author.CLIENT)


def photo(request, pk: int):
    message = get_object_or_404(VideoMessage.objects.select_related("session"), pk=pk)
    session = message.session
    user = request.user
    allowed = user.is_authenticated and user.customer_id == session.customer_id
    allowed = allowed or services.client_session(
        session_id=session.pk, browser_key=request.COOKIES.get(f"video_{session.pk}")
    )
    if not allowed or not message.photo:
        raise Http404
    return photo_response(message.photo)
