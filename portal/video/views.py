"""Video assistant pages: the specialist's list and console; the customer's link page.

Specialist pages go through `customer_page` (another tenant's session is a 404). The customer's
pages are reached by the link's token; the browser that accepts the policy is bound by an
HttpOnly cookie and every later request must carry it (a GET alone binds nothing). Photos are served only to the two parties of the session.
"""

from __future__ import annotations

import json

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django import forms
from django.conf import settings
from django.contrib import messages as django_messages
from django.core.exceptions import ValidationError
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _t
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods, require_POST

from portal.billing.models import Option
from portal.billing.selectors import option_enabled
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
        "authors": _authors(session),
        "text": {
            "ended": _t("Звонок завершён."),
            "live": _t("идёт звонок"),
            "peer_join": _t("собеседник подключился"),
            "peer_leave": _t("собеседник отключился"),
            "reconnecting": _t("Связь с сервером потеряна, переподключаемся…"),
            "you": _t("Вы"),
            "photo": _t("Фото"),
            "camera": _t(
                "Нет доступа к камере и микрофону. Разрешите их в настройках браузера "
                "и нажмите «Повторить»."
            ),
        },
    }


def _authors(session: VideoSession) -> dict:
    """How each side is named in the chat: the specialist by name, the customer by theirs."""
    specialist = session.specialist
    return {
        VideoMessage.Author.SPECIALIST: _t("Специалист %(name)s")
        % {"name": specialist.get_full_name() or specialist.username},
        VideoMessage.Author.CLIENT: session.client_name,
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
            _remember_link(request, created.session.pk, created.url)
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


LINKS_KEY = "video_links"


def _remember_link(request, pk: int, url: str) -> None:
    """Only the hash of a link's token is stored, so the link itself is shown to the specialist
    who created (or renewed) it, from their portal session."""
    links = request.session.get(LINKS_KEY, {})
    links[str(pk)] = url
    request.session[LINKS_KEY] = dict(list(links.items())[-20:])


@customer_page(staff_may_write=True)
def console(request, pk: int):
    session = get_object_or_404(
        VideoSession.objects.select_related("specialist"), pk=pk, customer=request.customer
    )
    config = _config(request, session, "specialist", reverse("video:messages", args=[pk]))
    return render(
        request,
        "video/console.html",
        {
            "s": session,
            "config": config,
            "authors": config["authors"],
            "chat": session.messages.select_related("reply_to"),
            "link": request.session.get(LINKS_KEY, {}).get(str(pk), ""),
        },
    )


@customer_page(staff_may_write=True)
@require_POST
def link_renew(request, pk: int):
    session = get_object_or_404(VideoSession, pk=pk, customer=request.customer)
    try:
        url = services.link_renew(session)
    except ValidationError as exc:
        django_messages.error(request, " ".join(exc.messages))
    else:
        _remember_link(request, pk, url)
    return redirect("video:console", pk)


@customer_page(staff_may_write=True)
@require_http_methods(["GET", "POST"])
def messages(request, pk: int):
    session = get_object_or_404(VideoSession, pk=pk, customer=request.customer)
    if request.method == "GET":
        return _history(session)
    return _post_message(request, session, VideoMessage.Author.SPECIALIST)


def _history(session: VideoSession) -> JsonResponse:
    """The whole chat (a page catching up after its websocket was away)."""
    rows = session.messages.select_related("reply_to")
    return JsonResponse({"messages": [_message_json(m) for m in rows]})


# -- the customer (by the link) ------------------------------------------------------------------


def _open(request, token: str):
    """(session, new cookie key or None); raises Refused."""
    return services.open_link(token=token, browser_key=request.COOKIES.get(_cookie_name(token)))


@require_http_methods(["GET", "POST"])
def join(request, token: str):
    """GET shows the policy (or, to the bound browser, the call); the consent's POST binds the
    browser. A preview fetch by a mail scanner therefore leaves the link usable."""
    cookie = request.COOKIES.get(_cookie_name(token))
    accepting = request.method == "POST" and request.POST.get("accept") == "yes"
    try:
        session, key = services.open_link(token=token, browser_key=cookie, bind=accepting)
    except services.Refused as exc:
        return render(request, "video/refused.html", {"reason": exc.reason}, status=exc.code)
    conf = services.video_settings(session.customer_id)
    bound = key is not None or services.is_bound_to(session, cookie)
    context = {"s": session, "brand": session.customer.name, "policy": conf.policy_text}
    if request.method == "POST":
        if bound:
            response = redirect("video_join", token)
        else:
            context["need_consent"] = True
            response = render(request, "video/join.html", context, status=400)
    elif not bound:
        response = render(request, "video/join.html", context)
    else:
        config = _config(request, session, "client", reverse("video_client_messages", args=[token]))
        config["location"] = reverse("video_location", args=[token])
        context.update(
            bound=True,
            config=config,
            authors=config["authors"],
            chat=session.messages.select_related("reply_to"),
        )
        response = render(request, "video/join.html", context)
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "same-origin"  # the link is a secret: never sent elsewhere
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


@require_http_methods(["GET", "POST"])
def client_messages(request, token: str):
    session = _client(request, token)
    if request.method == "GET":
        return _history(session)
    return _post_message(request, session, VideoMessage.Author.CLIENT)


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
