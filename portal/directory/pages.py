"""The directory's pages: departments, employees and numbers, listed, created and edited.

Views only read input, check access (`customer_page`: another customer's row is a 404) and
call `portal.directory.services`; the URLs are the portal's (`web:departments`...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from portal.billing.models import Option
from portal.billing.selectors import option_enabled
from portal.directory import services as directory_services
from portal.directory.forms import DepartmentForm, DirectoryForm, EmployeeForm, NumberForm
from portal.directory.models import Department, Employee, PhoneNumber
from portal.directory.phone import display as display_number
from portal.web.access import customer_page


@customer_page
@require_GET
def departments(request):
    customer = request.customer
    depts = Department.objects.for_customer(customer).prefetch_related(
        Prefetch("employees", queryset=Employee.objects.order_by("extension")),
        Prefetch("numbers", queryset=PhoneNumber.objects.order_by("e164")),
    )
    context = {
        "departments": depts,
        "loose_employees": Employee.objects.for_customer(customer).filter(department=None),
        "loose_numbers": PhoneNumber.objects.for_customer(customer).filter(department=None),
        "can_edit": request.user.is_customer_admin,
        "callback_on": option_enabled(customer.pk, Option.CALLBACK),
        "any_flagged": any(d.notify_callback for d in depts),
    }
    return render(request, "web/departments.html", context)


def _apply_service_errors(form: forms.Form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


def _form_page(request, *, form, title: str, back: str, save, saved_message: str):
    """GET shows the form; a valid POST calls `save(cleaned_data)` (a service) and redirects."""
    if request.method == "POST" and form.is_valid():
        try:
            obj = save(form.cleaned_data)
        except ValidationError as exc:
            _apply_service_errors(form, exc)
        else:
            messages.success(request, saved_message % {"name": str(obj)})
            return redirect(back)
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "web/form.html",
        {"form": form, "title": title, "back": back},
        status=status,
    )


def _bound(request, form_class, customer, initial=None):
    data = request.POST if request.method == "POST" else None
    return form_class(data, customer=customer, initial=initial)


@dataclass(frozen=True)
class _DirectoryPages:
    """The create and edit pages of one kind of directory row; both write through a service."""

    model: type[Department | Employee | PhoneNumber]
    form_class: type[DirectoryForm]
    back: str  # URL name of the list page
    new_title: str
    edit_title: Callable[[Department | Employee | PhoneNumber], str]
    saved_message: str
    create: Callable[..., object]
    update: Callable[..., object]
    id_argument: str  # how `update` names the row's id


DEPARTMENT_PAGES = _DirectoryPages(
    model=Department,
    form_class=DepartmentForm,
    back="web:departments",
    new_title=gettext_lazy("Новый отдел"),
    edit_title=lambda dept: _("Отдел «%(name)s»") % {"name": dept.name},
    saved_message=gettext_lazy("Отдел «%(name)s» сохранён."),
    create=directory_services.department_create,
    update=directory_services.department_update,
    id_argument="department_id",
)
EMPLOYEE_PAGES = _DirectoryPages(
    model=Employee,
    form_class=EmployeeForm,
    back="web:employees",
    new_title=gettext_lazy("Новый сотрудник"),
    edit_title=lambda emp: _("Сотрудник %(name)s") % {"name": str(emp)},
    saved_message=gettext_lazy("Сотрудник «%(name)s» сохранён."),
    create=directory_services.employee_create,
    update=directory_services.employee_update,
    id_argument="employee_id",
)
NUMBER_PAGES = _DirectoryPages(
    model=PhoneNumber,
    form_class=NumberForm,
    back="web:numbers",
    new_title=gettext_lazy("Новый номер"),
    edit_title=lambda num: _("Номер %(name)s") % {"name": display_number(num.e164)},
    saved_message=gettext_lazy("Номер %(name)s сохранён."),
    create=directory_services.number_create,
    update=directory_services.number_update,
    id_argument="number_id",
)


def _create_page(request, pages: _DirectoryPages):
    customer = request.customer
    return _form_page(
        request,
        form=_bound(request, pages.form_class, customer),
        title=str(pages.new_title),
        back=reverse(pages.back),
        save=lambda data: pages.create(customer=customer, **data),
        saved_message=str(pages.saved_message),
    )


def _edit_page(request, pages: _DirectoryPages, pk: int):
    customer = request.customer
    obj = get_object_or_404(pages.model.objects.for_customer(customer), pk=pk)
    return _form_page(
        request,
        form=_bound(request, pages.form_class, customer, pages.form_class.initial_for(obj)),
        title=pages.edit_title(obj),
        back=reverse(pages.back),
        save=lambda data: pages.update(customer=customer, **{pages.id_argument: obj.pk}, **data),
        saved_message=str(pages.saved_message),
    )


@customer_page
@require_http_methods(["GET", "POST"])
def department_create(request):
    return _create_page(request, DEPARTMENT_PAGES)


@customer_page
@require_http_methods(["GET", "POST"])
def department_edit(request, pk: int):
    return _edit_page(request, DEPARTMENT_PAGES, pk)


@customer_page
@require_GET
def employees(request):
    customer = request.customer
    rows = Employee.objects.for_customer(customer).select_related("department")
    return render(
        request,
        "web/employees.html",
        {"employees": rows, "can_edit": request.user.is_customer_admin},
    )


@customer_page
@require_http_methods(["GET", "POST"])
def employee_create(request):
    return _create_page(request, EMPLOYEE_PAGES)


@customer_page
@require_http_methods(["GET", "POST"])
def employee_edit(request, pk: int):
    return _edit_page(request, EMPLOYEE_PAGES, pk)


@customer_page
@require_GET
def numbers(request):
    customer = request.customer
    rows = PhoneNumber.objects.for_customer(customer).select_related("department")
    return render(
        request,
        "web/numbers.html",
        {"numbers": rows, "can_edit": request.user.is_customer_admin},
    )


@customer_page
@require_http_methods(["GET", "POST"])
def number_create(request):
    return _create_page(request, NUMBER_PAGES)


@customer_page
@require_http_methods(["GET", "POST"])
def number_edit(request, pk: int):
    return _edit_page(request, NUMBER_PAGES, pk)


# --- "Голосовое меню", "Статистика", "Дополнительно" ------------------------------------------
