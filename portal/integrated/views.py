"""Integrated numbers: the caller's mobile pages (login by SMS code, "Вызовы", the call's chat,
profile, location, trusted persons), the operator's view of a live call, the trusted person's
read-only chat, the public "is this number integrated" lookup, and the service settings.

Who sees a call's chat: its caller (their session), the operator who answered (their portal
user), the caller's trusted persons (a personal expiring link). Everyone else gets a 404.
"""

from __future__ import annotations

import json
import re
from functools import wraps

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import Http404, HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _t
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from portal.billing.models import Option
from portal.billing.selectors import option_enabled
from portal.directory.models import Employee, PhoneNumber
from portal.integrated import services
from portal.integrated.models import (
    Caller,
    ChatMessage,
    IntegratedCall,
    IntegratedService,
    Operator,
    TrustedPerson,
)
from portal.tenants.models import User
from portal.web import throttle
from portal.web.access import customer_page
from portal.web.photos import MAX_PHOTO_BYTES, photo_discard, photo_response, store_photo

SESSION_KEY = "integrated_caller"


def caller_page(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        caller = Caller.objects.filter(pk=request.session.get(SESSION_KEY) or 0).first()
        if caller is None:
            if request.method != "GET":
                raise Http404
            return redirect(f"{reverse('integrated:login')}?next={request.path}")
        request.caller = caller
        return view(request, *args, **kwargs)

    return wrapper


def _message_json(m: ChatMessage) -> dict:
    return {
        "id": m.pk,
        "author": m.author,
        "text": m.text,
        "photo": reverse("integrated_photo", args=[m.pk]) if m.photo else "",
        "at": m.created_at.isoformat(),
    }


def _post_message(request, call: IntegratedCall, author: str) -> JsonResponse:
    upload = request.FILES.get("photo")
    try:
        reason = services.chat_unavailable_reason(call)
        if reason:
            raise ValidationError(reason)
        photo = ""
        if upload is not None:
            if upload.size > MAX_PHOTO_BYTES:
                raise ValidationError(_t("Фото больше 8 МБ."))
            photo = store_photo(upload.read(), folder=f"integrated/{call.pk}")
        try:
            message = services.message_add(
                call, author=author, text=request.POST.get("text", ""), photo=photo
            )
        except ValidationError:
            photo_discard(photo)  # refused message (too long, call just ended): keep no file
            raise
    except ValidationError as exc:
        return JsonResponse({"error": " ".join(exc.messages)}, status=400)
    services.publish(call.pk, {"type": "chat", "message": _message_json(message)})
    return JsonResponse(_message_json(message), status=201)


def _authors(call: IntegratedCall) -> dict:
    """How the two authors are named to the people reading the chat ("Вы" is added per page)."""
    caller = call.caller.name if call.caller_id and call.caller.name else call.caller_number
    return {"caller": caller, "operator": _t("Оператор")}


def _chat_context(call: IntegratedCall, role: str, messages_url: str, request) -> dict:
    scheme = "wss" if request.is_secure() else "ws"
    until = services.read_until(call)
    authors = _authors(call)
    return {
        "call": call,
        "chat": call.messages.all(),
        "reason": services.chat_unavailable_reason(call),
        "read_until": until,
        "authors": authors,
        "config": {
            "role": role,
            "ws": f"{scheme}://{request.get_host()}/ws/integrated/{call.pk}/",
            "messages": messages_url,
            "read_until": until.isoformat() if until else "",
            "authors": authors,
            "text": {
                "you": _t("Вы"),
                "read": _t("прочитано"),
                "sent": _t("отправлено"),
                "photo": _t("Фото"),
            },
        },
    }


# -- the caller --------------------------------------------------------------------------------


class PhoneForm(forms.Form):
    phone = forms.CharField(label=_("Номер телефона"), max_length=20)


class CodeForm(forms.Form):
    phone = forms.CharField(widget=forms.HiddenInput)
    code = forms.CharField(label=_("Код из SMS"), max_length=6)


@require_http_methods(["GET", "POST"])
def login(request):
    step = "phone"
    phone_form, code_form = PhoneForm(), None
    throttled = False
    if request.method == "POST" and "code" in request.POST:
        code_form = CodeForm(request.POST)
        step = "code"
        if code_form.is_valid():
            try:
                caller = services.code_verify(**code_form.cleaned_data)
            except ValidationError as exc:
                code_form.add_error("code", exc.messages)
            else:
                request.session.cycle_key()
                request.session[SESSION_KEY] = caller.pk
                target = request.GET.get("next", "")
                if not target.startswith("/c/"):
                    target = reverse("integrated:calls")
                return redirect(target)
    elif request.method == "POST":
        phone_form = PhoneForm(request.POST)
        if phone_form.is_valid():
            try:
                if not request.session.session_key:
                    request.session.save()
                e164 = services.code_send(
                    phone=phone_form.cleaned_data["phone"],
                    ip=throttle.client_ip(request),
                    session=request.session.session_key,
                )
            except ValidationError as exc:
                phone_form.add_error("phone", exc.messages)
                throttled = throttled or exc.code == "throttled"
            else:
                step, code_form = "code", CodeForm(initial={"phone": e164})
    status = (
        429
        if throttled
        else 400
        if request.method == "POST"
        and ((step == "phone" and phone_form.errors) or (code_form and code_form.errors))
        else 200
    )
    return render(
        request,
        "integrated/login.html",
        {"step": step, "phone_form": phone_form, "code_form": code_form},
        status=status,
    )


@require_POST
def logout(request):
    request.session.pop(SESSION_KEY, None)
    return redirect("integrated:login")


def _caller_calls(caller: Caller):
    return IntegratedCall.objects.filter(
        Q(caller=caller) | Q(caller__isnull=True, caller_number=caller.phone)
    ).select_related("service")


@caller_page
@require_GET
def calls(request):
    rows = list(_caller_calls(request.caller)[:50])
    return render(
        request,
        "integrated/calls.html",
        {"live": [c for c in rows if c.live], "past": [c for c in rows if not c.live]},
    )


@caller_page
@require_GET
def call_chat(request, pk: int):
    call = get_object_or_404(_caller_calls(request.caller), pk=pk)
    if call.caller_id is None:  # the caller's account came after the call went live
        IntegratedCall.objects.filter(pk=call.pk).update(caller=request.caller)
    context = _chat_context(call, "caller", reverse("integrated:messages", args=[pk]), request)
    return render(request, "integrated/chat.html", context)


@caller_page
@require_POST
def caller_messages(request, pk: int):
    call = get_object_or_404(_caller_calls(request.caller), pk=pk)
    return _post_message(request, call, "caller")


class ProfileForm(forms.ModelForm):
    class Meta:
        model = Caller
        fields = ["name"]


class TrustedForm(forms.Form):
    name = forms.CharField(label=_("Имя"), max_length=120)
    phone = forms.CharField(label=_("Телефон"), max_length=20, required=False)
    email = forms.EmailField(label=_("E-mail"), required=False)
    notify_calls = forms.BooleanField(label=_("Сообщать о звонках"), required=False, initial=True)
    share_location = forms.BooleanField(
        label=_("Передавать геопозицию"), required=False, initial=True
    )


@caller_page
@require_http_methods(["GET", "POST"])
def profile(request):
    caller = request.caller
    form = ProfileForm(instance=caller)
    trusted_form = TrustedForm()
    status = 200
    if request.method == "POST" and request.POST.get("form") == "profile":
        form = ProfileForm(request.POST, instance=caller)
        if form.is_valid():
            form.save()
            return redirect("integrated:profile")
        status = 400
    elif request.method == "POST" and request.POST.get("form") == "trusted":
        trusted_form = TrustedForm(request.POST)
        if trusted_form.is_valid():
            try:
                services.trusted_save(caller, **trusted_form.cleaned_data)
            except ValidationError as exc:
                trusted_form.add_error(None, exc.messages)
            else:
                return redirect("integrated:profile")
        status = 400
    elif request.method == "POST" and request.POST.get("form") == "untrust":
        person_id = request.POST.get("id") or ""
        if not re.fullmatch(r"[1-9][0-9]{0,17}", person_id):
            return HttpResponseBadRequest(
                _t("Не указано, кого убрать из доверенных лиц."),
                content_type="text/plain; charset=utf-8",
            )
        TrustedPerson.objects.filter(caller=caller, pk=int(person_id)).delete()
        return redirect("integrated:profile")
    return render(
        request,
        "integrated/profile.html",
        {"caller": caller, "form": form, "trusted_form": trusted_form},
        status=status,
    )


@caller_page
@require_POST
def location(request):
    try:
        body = json.loads(request.body or b"{}")
        services.location_set(request.caller, lat=body.get("lat"), lon=body.get("lon"))
    except (ValueError, AttributeError, ValidationError) as exc:
        text = " ".join(getattr(exc, "messages", [])) or _t("Неверные координаты.")
        return JsonResponse({"error": text}, status=400)
    return JsonResponse({"ok": True})


LOOKUP_MAX_AGE = 300


@require_GET
@cache_control(public=True, max_age=LOOKUP_MAX_AGE)
def lookup(request):
    """For callers' apps: is this number integrated, and by which service.

    The answer is the same for everyone (no session is read, no cookie is set), so apps and
    proxies may cache it for a few minutes instead of asking before every call.
    """
    service = services.service_of_number(request.GET.get("number", ""))
    if service is None:
        return JsonResponse({"integrated": False})
    return JsonResponse(
        {
            "integrated": True,
            "service": {
                "name": service.name,
                "description": service.description,
                "info_url": service.info_url,
            },
        }
    )


# -- the trusted person ---------------------------------------------------------------------------


@require_GET
def trusted(request, token: str):
    call = services.trusted_call(token)
    if call is None:
        return render(request, "integrated/gone.html", status=404)
    context = _chat_context(call, "trusted", "", request)
    context["config"]["ws"] += f"?t={token}"
    context["token"] = token
    return render(request, "integrated/chat.html", context)


def photo(request, pk: int):
    message = get_object_or_404(ChatMessage.objects.select_related("call"), pk=pk)
    call = message.call
    caller = Caller.objects.filter(pk=request.session.get(SESSION_KEY) or 0).first()
    allowed = (
        (caller is not None and _caller_calls(caller).filter(pk=call.pk).exists())
        or services.is_operator(call, request.user)
        or (services.trusted_call(request.GET.get("t", "")) == call)
    )
    if not allowed:
        raise Http404
    return photo_response(message.photo)


# -- the operator and the service settings ----------------------------------------------------------


def _operator_call(request, pk: int) -> IntegratedCall:
    call = get_object_or_404(
        IntegratedCall.objects.select_related("caller", "service"),
        pk=pk,
        service__customer=request.customer,
    )
    if not services.is_operator(call, request.user):
        raise Http404
    return call


@customer_page(staff_may_write=True)
@require_GET
def operator_call(request, pk: int):
    call = _operator_call(request, pk)
    context = _chat_context(
        call, "operator", reverse("integrated:operator_messages", args=[pk]), request
    )
    return render(request, "integrated/operator.html", context)


@customer_page
@require_GET
def operator_alerts(request):
    """The live calls this user answered as an operator, each with the caller's latest message.

    The operator's integrated pages poll it and alert on a call or a message they have not seen
    yet (a banner, the tab's title and, where allowed, a system notification). Only this user's
    own calls of their own customer: nothing about other operators or tenants.
    """
    mine = Operator.objects.filter(
        user=request.user, employee__customer=request.customer
    ).values_list("employee_id", flat=True)
    calls = (
        IntegratedCall.objects.filter(
            service__customer=request.customer, operator_id__in=list(mine), ended_at__isnull=True
        )
        .select_related("caller")
        .order_by("-started_at", "-pk")[:20]
    )
    rows = []
    for call in calls:
        last = call.messages.filter(author="caller").order_by("-created_at", "-pk").first()
        rows.append(
            {
                "id": call.pk,
                "caller": _authors(call)["caller"],
                "url": reverse("integrated:operator_call", args=[call.pk]),
                "started_at": call.started_at.isoformat(),
                "message": last.pk if last else 0,
                "text": (last.text[:80] if last and last.text else ("📷" if last else "")),
            }
        )
    response = JsonResponse({"calls": rows})
    response["Cache-Control"] = "no-store"
    return response


@customer_page(staff_may_write=True)
@require_POST
def enable_chat(request, pk: int):
    call = _operator_call(request, pk)
    try:
        services.chat_enable(call, request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("integrated:operator_call", pk)


@customer_page(staff_may_write=True)
@require_POST
def operator_messages(request, pk: int):
    return _post_message(request, _operator_call(request, pk), "operator")


class ServiceForm(forms.ModelForm):
    info_url = forms.URLField(
        label=_("Ссылка на информацию"), required=False, assume_scheme="https"
    )

    class Meta:
        model = IntegratedService
        fields = ["name", "description", "info_url", "numbers"]
        widgets = {"numbers": forms.CheckboxSelectMultiple}
        labels = {"numbers": _("Номера")}  # the model field has no Russian name

    def __init__(self, *args, customer, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["numbers"].queryset = PhoneNumber.objects.filter(customer=customer)


class OperatorForm(forms.Form):
    employee = forms.ModelChoiceField(label=_("Сотрудник"), queryset=Employee.objects.none())
    user = forms.ModelChoiceField(label=_("Пользователь портала"), queryset=User.objects.none())

    def __init__(self, *args, customer, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["employee"].queryset = Employee.objects.filter(customer=customer)
        self.fields["user"].queryset = User.objects.filter(customer=customer)


@customer_page
def index(request):
    customer = request.customer
    service = IntegratedService.objects.filter(customer=customer).first()
    form = ServiceForm(instance=service, customer=customer)
    operator_form = OperatorForm(customer=customer)
    status = 200
    if request.method == "POST" and request.POST.get("form") == "operator":
        operator_form = OperatorForm(request.POST, customer=customer)
        if operator_form.is_valid():
            Operator.objects.filter(
                Q(employee=operator_form.cleaned_data["employee"])
                | Q(user=operator_form.cleaned_data["user"])
            ).delete()
            Operator.objects.create(**operator_form.cleaned_data)
            return redirect("integrated:index")
        status = 400
    elif request.method == "POST":
        form = ServiceForm(request.POST, instance=service, customer=customer)
        if form.is_valid():
            saved = form.save(commit=False)
            saved.customer = customer
            saved.save()
            form.save_m2m()
            messages.success(request, _t("Сервис сохранён."))
            return redirect("integrated:index")
        status = 400
    live = IntegratedCall.objects.filter(
        service__customer=customer, ended_at__isnull=True
    ).select_related("caller", "operator")
    mine = Operator.objects.filter(user=request.user).values_list("employee_id", flat=True)
    return render(
        request,
        "integrated/index.html",
        {
            "form": form,
            "operator_form": operator_form,
            "operators": Operator.objects.filter(employee__customer=customer).select_related(
                "employee", "user"
            ),
            "live": live,
            "mine": set(mine),
            "option_on": option_enabled(customer.pk, Option.INTEGRATED_NUMBER),
        },
        status=status,
    )
