// "Тариф и опции": switch options without reloading the page.
// Without JavaScript every switch is a plain form POST (the server redirects back), so this
// file only improves on that: same form, same fields, sent with fetch() and answered in JSON.
(function () {
  "use strict";

  var warning = document.getElementById("callback-warning");
  // The confirmation ("Опция «…» подключена."), where the plain post's message would appear.
  var status = document.getElementById("option-status");

  function setText(selector, text) {
    var el = document.querySelector(selector);
    if (el) el.textContent = text;
  }

  function showError(form, message) {
    var box = form.parentNode.querySelector(".option-error");
    if (!box) {
      box = document.createElement("p");
      box.className = "option-error error";
      box.setAttribute("role", "alert");
      form.parentNode.appendChild(box);
    }
    box.textContent = message;
  }

  function clearError(form) {
    var box = form.parentNode.querySelector(".option-error");
    if (box) box.remove();
  }

  function onSubmit(event) {
    var form = event.target;
    var button = form.querySelector("button[name=enabled]");
    if (!button || button.disabled) return;
    event.preventDefault();
    var body = new FormData(form);
    body.set("enabled", button.value);
    button.disabled = true;
    form.setAttribute("aria-busy", "true");
    fetch(form.action, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: {
        "Accept": "application/json",
        "X-CSRFToken": form.querySelector("input[name=csrfmiddlewaretoken]").value
      }
    })
      .then(function (response) {
        return response.json().then(
          function (data) { return { ok: response.ok, data: data }; },
          function () { return { ok: false, data: { error: response.statusText } }; }
        );
      })
      .then(function (result) {
        if (!result.ok) {
          showError(form, result.data.error || "Error");
          return;
        }
        var data = result.data;
        clearError(form);
        button.setAttribute("aria-checked", data.enabled ? "true" : "false");
        button.value = data.enabled ? "off" : "on";
        button.querySelector(".switch-text").textContent =
          data.enabled ? button.dataset.onText : button.dataset.offText;
        setText("[data-figure=options-count]", data.options_count_text);
        setText("[data-label=options-fee]", data.options_fee_label);
        setText("[data-figure=options-fee]", data.options_fee);
        if (warning) warning.innerHTML = data.callback_warning_html || "";
        if (status && data.message) {
          status.textContent = data.message;
          status.hidden = false;
        }
      })
      .catch(function (err) {
        // Network trouble: fall back to the plain form post.
        showError(form, String(err));
      })
      .finally(function () {
        button.disabled = false;
        form.removeAttribute("aria-busy");
      });
  }

  document.querySelectorAll("form[data-option-form]").forEach(function (form) {
    form.addEventListener("submit", onSubmit);
  });
  document.documentElement.dataset.js = "tariff";
})();
