// chatapp's UI kit: the words in the page's language, the confirmation dialog, toasts, and a
// message's tools (copy its text, copy a code block, edit in place, regenerate). Loaded
// before people.js and app.js, which use window.chatappI18n for their words and
// window.chatappUI for their confirmations and notes. Every tool here has a plain link or
// form under it, so the page works without this file (docs/design.md).
"use strict";

(function () {
  const $ = (selector, root = document) => root.querySelector(selector);
  const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));
  document.documentElement.classList.add("js");

  // --- words, in the page's language (docs/i18n.md) --------------------------------------------
  // gettext, ngettext and interpolate are Django's, from the JavaScript catalogue that
  // base.html loads before this file (/i18n/<language>.js, chatapp/i18n.py). Without it (it
  // did not load) the English written in the code is shown, through these stand-ins.
  const gettext = window.gettext || ((text) => text);
  const ngettext = window.ngettext || ((singular, plural, count) => (count === 1 ? singular : plural));
  const interpolate = window.interpolate || ((format, values, named) => (named
    ? format.replace(/%\((\w+)\)s/g, (match, name) => String(values[name]))
    : format.replace(/%s/g, () => String(values.shift()))));
  const language = document.documentElement.lang || "en";
  const numbers = new Intl.NumberFormat(language);
  // ngettext's "%(count)s messages" filled in, the count written as the language writes
  // numbers: counted(ngettext("%(count)s message", "%(count)s messages", n), n).
  const counted = (format, count, values = {}) => interpolate(
    format, { ...values, count: numbers.format(count) }, true);

  // What the API's refusal means, for people. Its error message is English, for programs
  // (docs/api.md): an English page shows it as it is (it says the most), any other says it
  // in its own words by the error's code; `words` names what the page was doing when a code
  // means something of its own there ({conflict: …}).
  function refusalReason(status, body, words = {}) {
    const error = (body && body.error) || {};
    if (language.split("-")[0] === "en" && error.message) return error.message;
    const code = error.code || "";
    if (words[code]) return words[code];
    const reasons = {
      not_authenticated: gettext("You are signed out. Sign in again, then try once more."),
      forbidden: gettext("You may not do this here."),
      not_found: gettext("This conversation or message is no longer there for you."),
      rate_limited: gettext("Too many at once; wait a moment and try again."),
      too_large: gettext("This is too large to send."),
      invalid: gettext("The server did not accept it as written."),
      conflict: gettext("This cannot be done just now; reload the page to see why."),
    };
    return reasons[code] || interpolate(gettext("The server refused it (HTTP %s)."), [status]);
  }
  window.chatappI18n = { gettext, ngettext, interpolate, counted, language, refusalReason };

  function cookie(name) {
    const found = document.cookie.split("; ").find((row) => row.startsWith(name + "="));
    return found ? decodeURIComponent(found.split("=")[1]) : "";
  }

  // --- the confirmation dialog ---------------------------------------------------------------
  // A styled <dialog> in place of window.confirm: modal (focus stays in it, Escape cancels),
  // the safe choice focused first, the act named on its button. Resolves true or false.
  function confirmDialog({ question, detail = "", confirmLabel = gettext("Confirm"), danger = true }) {
    return new Promise((resolve) => {
      const dialog = document.createElement("dialog");
      dialog.className = "dialog";
      dialog.setAttribute("aria-labelledby", "dialog-question");
      dialog.innerHTML = '<h2 id="dialog-question"></h2><p id="dialog-detail"></p>'
        + '<div class="dialog-buttons"><button type="button" class="secondary" value="cancel"></button>'
        + '<button type="button" value="confirm"></button></div>';
      $("button[value=cancel]", dialog).textContent = gettext("Cancel");
      $("h2", dialog).textContent = question;
      const detailElement = $("p", dialog);
      if (detail) {
        detailElement.textContent = detail;
        dialog.setAttribute("aria-describedby", "dialog-detail");
      } else {
        detailElement.remove();
      }
      const confirmButton = $("button[value=confirm]", dialog);
      confirmButton.textContent = confirmLabel;
      if (danger) confirmButton.classList.add("danger");
      const opener = document.activeElement;
      let answer = false;
      dialog.addEventListener("click", (event) => {
        const button = event.target.closest("button");
        if (event.target === dialog) dialog.close(); // a click on the backdrop
        if (!button) return;
        answer = button.value === "confirm";
        dialog.close();
      });
      dialog.addEventListener("close", () => {
        dialog.remove();
        // Back where the person was: the button, or the menu's own button when the menu
        // that held it closed.
        const menu = opener && opener.closest && opener.closest("details.menu:not([open])");
        const back = menu ? $("summary", menu) : opener;
        if (back && back.isConnected) back.focus();
        resolve(answer);
      });
      // The menu that held the button closes: the dialog is the one thing on screen.
      $$("details.menu[open]").forEach((menu) => { menu.open = false; });
      document.body.append(dialog);
      dialog.showModal();
      $("button[value=cancel]", dialog).focus();
    });
  }

  // A submit button with data-confirm asks first (deleting a conversation or a message); the
  // form is then sent with that button's name and value, as the click would have sent it.
  document.addEventListener("submit", (event) => {
    const button = event.submitter;
    if (!button || !button.dataset.confirm || button.dataset.confirmed) return;
    event.preventDefault();
    confirmDialog({
      question: button.dataset.confirm,
      detail: button.dataset.confirmDetail || "",
      confirmLabel: button.dataset.confirmButton || gettext("Confirm"),
    }).then((confirmed) => {
      if (!confirmed) return;
      button.dataset.confirmed = "yes";
      event.target.requestSubmit(button);
    });
  });

  // --- toasts ----------------------------------------------------------------------------------
  // The server's flash messages arrive as toasts in #toasts; they, and the ones shown here,
  // go after a while unless the pointer or focus is on them. One with an action (Undo) stays
  // longer.
  const region = () => $("#toasts");

  function dismissLater(toast) {
    const close = $("[data-toast-close]", toast);
    if (close) {
      close.hidden = false;
      close.addEventListener("click", () => toast.remove());
    }
    const wait = $("form, .toast-action", toast) ? 10000 : 5000;
    let timer = setTimeout(() => toast.remove(), wait);
    const hold = () => clearTimeout(timer);
    const release = () => { timer = setTimeout(() => toast.remove(), 2500); };
    toast.addEventListener("pointerenter", hold);
    toast.addEventListener("focusin", hold);
    toast.addEventListener("pointerleave", release);
    toast.addEventListener("focusout", release);
  }

  function toast(text, { error = false } = {}) {
    const box = region();
    if (!box) return null;
    const element = document.createElement("div");
    element.className = "toast" + (error ? " error" : "");
    element.dataset.toast = "";
    const paragraph = document.createElement("p");
    paragraph.textContent = text;
    const close = document.createElement("button");
    close.type = "button";
    close.className = "toast-close icon-button small";
    close.dataset.toastClose = "";
    close.setAttribute("aria-label", gettext("Dismiss"));
    close.textContent = "×";
    element.append(paragraph, close);
    box.append(element);
    dismissLater(element);
    return element;
  }

  // --- copying ---------------------------------------------------------------------------------
  async function copyText(text) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch (error) {
      // No clipboard API (plain http on another host): a selected textarea and execCommand.
      const area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "visually-hidden";
      document.body.append(area);
      area.select();
      const copied = document.execCommand("copy");
      area.remove();
      return copied;
    }
  }

  function showCopied(button) {
    button.classList.add("done");
    const label = button.getAttribute("aria-label");
    button.setAttribute("aria-label", gettext("Copied"));
    setTimeout(() => {
      button.classList.remove("done");
      button.setAttribute("aria-label", label);
    }, 1500);
  }

  // A message's text as its author wrote it (Markdown), from /m/{id}/source; the shown text
  // when that cannot be had.
  async function messageSource(row) {
    try {
      const response = await fetch(`/m/${row.dataset.messageId}/source`, { credentials: "same-origin" });
      if (response.ok) return await response.text();
    } catch (error) { /* offline: fall back */ }
    const body = $(".body", row);
    return body ? body.innerText : "";
  }

  // Each code block gets a Copy button beside its language, added as the rows arrive (the
  // server's Markdown has no buttons: nh3 keeps it to text and formatting).
  const COPY_ICON = '<svg class="icon" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2"'
    + ' stroke-linecap="round" stroke-linejoin="round" aria-hidden="true" focusable="false">'
    + '<rect width="14" height="14" x="8" y="8" rx="2" ry="2"/><path d="M4 16c-1.1 0-2-.9-2-2V4c0-1.1.9-2 2-2h10c1.1 0 2 .9 2 2"/></svg>';

  function addCodeButtons(root) {
    $$(".code-block .code-head:not([data-has-copy])", root).forEach((head) => {
      head.dataset.hasCopy = "";
      const codeLanguage = ($(".code-lang", head) || {}).textContent || "code";
      const button = document.createElement("button");
      button.type = "button";
      button.className = "ghost copy-code";
      button.dataset.copyCode = "";
      button.setAttribute("aria-label", interpolate(gettext("Copy the %(language)s code"), { language: codeLanguage }, true));
      button.innerHTML = `${COPY_ICON}<span></span>`;
      $("span", button).textContent = gettext("Copy");
      head.append(button);
    });
  }

  function enhance(root) {
    addCodeButtons(root);
    $$("[data-copy-message][hidden]", root).forEach((button) => { button.hidden = false; });
  }

  // --- editing in place ------------------------------------------------------------------------
  // The Edit link opens /m/{id}/edit without JavaScript; here the text becomes a textarea in
  // the bubble, saved through PATCH /api/v1/messages/{id}; the thread's live update (or the
  // rows endpoint) then brings the saved row.
  async function editInPlace(row) {
    const bubble = $(".bubble", row);
    if (!bubble || $(".edit-form", bubble)) return;
    const source = await messageSource(row);
    const form = document.createElement("form");
    form.className = "edit-form stack";
    form.innerHTML = '<label class="visually-hidden"></label>'
      + '<textarea rows="3" maxlength="100000" required></textarea>'
      + '<p class="form-error" role="alert" hidden></p>'
      + '<div class="inline"><button type="submit" class="small"></button>'
      + '<button type="button" class="small secondary" data-cancel></button></div>';
    $("label", form).textContent = gettext("Edit your message");
    $("button[type=submit]", form).textContent = gettext("Save");
    $("[data-cancel]", form).textContent = gettext("Cancel");
    // To the assistant, an edited prompt can be sent again: a new version of the turn and
    // a new reply, the earlier ones kept (‹ 1/2 ›). Save only rewrites it.
    const thread = row.closest(".thread");
    const resendable = thread && thread.dataset.kind === "assistant" && row.classList.contains("role-user");
    if (resendable) {
      const send = document.createElement("button");
      send.type = "submit";
      send.className = "small";
      send.dataset.resend = "";
      send.textContent = gettext("Send");
      const save = $("button[type=submit]", form);
      save.classList.add("secondary");
      save.before(send);
    }
    const area = $("textarea", form);
    const areaId = `edit-${row.dataset.messageId}`;
    area.id = areaId;
    $("label", form).htmlFor = areaId;
    area.value = source;
    const shown = Array.from(bubble.children);
    shown.forEach((element) => { element.hidden = true; });
    bubble.append(form);
    row.classList.add("editing");
    area.focus();
    const finish = () => {
      form.remove();
      shown.forEach((element) => { element.hidden = false; });
      row.classList.remove("editing");
      const edit = $("[data-edit-message]", row);
      if (edit) edit.focus();
    };
    $("[data-cancel]", form).addEventListener("click", finish);
    area.addEventListener("keydown", (event) => {
      if (event.key === "Escape") finish();
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        const send = $("[data-resend]", form);
        if (send) form.requestSubmit(send); else form.requestSubmit();
      }
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const error = $(".form-error", form);
      const resend = event.submitter && "resend" in event.submitter.dataset;
      const body = resend
        ? { content: area.value, client_message_id: `resend-${crypto.randomUUID ? crypto.randomUUID() : Date.now()}` }
        : { content: area.value };
      const response = await fetch(`/api/v1/messages/${row.dataset.messageId}${resend ? "/resend" : ""}`, {
        method: resend ? "POST" : "PATCH",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": cookie("csrftoken") },
        body: JSON.stringify(body),
      }).catch(() => null);
      if (!response || !response.ok) {
        let reason = gettext("The message could not be saved. Try again.");
        if (response) {
          const body = await response.json().catch(() => null);
          reason = refusalReason(response.status, body, { invalid: gettext("A message cannot be empty.") });
        }
        error.textContent = reason;
        error.hidden = false;
        return;
      }
      if (resend) {
        const position = Number(row.dataset.position);
        thread.dispatchEvent(new CustomEvent("chatapp:resent", { detail: { position } }));
        return;
      }
      await refreshRow(row);
      toast(gettext("Message edited."));
    });
  }

  // The server's rendering of one row (the rows endpoint, from the position before it).
  async function refreshRow(row) {
    const thread = $(".thread");
    const position = Number(row.dataset.position);
    const response = await fetch(`${thread.dataset.rowsUrl}?after=${position - 1}`, { credentials: "same-origin" });
    if (!response.ok) return;
    const template = document.createElement("template");
    template.innerHTML = await response.text();
    const fresh = $(`.message[data-position="${position}"]`, template.content);
    if (fresh && row.isConnected) {
      enhance(fresh);
      row.replaceWith(fresh);
      const edit = $("[data-edit-message]", fresh);
      if (edit) edit.focus();
    }
  }

  document.addEventListener("click", async (event) => {
    const copyMessage = event.target.closest("[data-copy-message]");
    if (copyMessage) {
      const row = copyMessage.closest(".message");
      if (await copyText(await messageSource(row))) showCopied(copyMessage);
      else toast(gettext("Could not copy. Select the text instead."), { error: true });
      return;
    }
    const copyCode = event.target.closest("[data-copy-code]");
    if (copyCode) {
      const code = $("pre", copyCode.closest(".code-block"));
      if (code && await copyText(code.textContent)) {
        const label = $("span", copyCode);
        showCopied(copyCode);
        label.textContent = gettext("Copied");
        setTimeout(() => { label.textContent = gettext("Copy"); }, 1500);
      }
      return;
    }
    const edit = event.target.closest("[data-edit-message]");
    if (edit && !event.ctrlKey && !event.metaKey && !event.shiftKey) {
      event.preventDefault();
      editInPlace(edit.closest(".message"));
      return;
    }
    // Regenerate from a reply's tools: app.js streams a new version of that reply.
    const regenerate = event.target.closest("[data-regenerate-message]");
    const thread = regenerate && regenerate.closest(".thread");
    if (thread && $("#regenerate")) {
      event.preventDefault();
      const messageId = regenerate.closest(".message").dataset.messageId;
      thread.dispatchEvent(new CustomEvent("chatapp:regenerate", { detail: { messageId } }));
    }
  });

  // Menus (details.menu) close on Escape, focus going back to their button, and on a
  // click outside them, as people expect of a menu; without JavaScript a second click on
  // the button closes one.
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    const menu = document.activeElement && document.activeElement.closest("details.menu[open]");
    const open = menu || $("details.menu[open]");
    if (!open || $("dialog[open]")) return;
    open.open = false;
    $("summary", open).focus();
  });
  document.addEventListener("click", (event) => {
    $$("details.menu[open]").forEach((menu) => {
      if (!menu.contains(event.target)) menu.open = false;
    });
  });

  function start() {
    $$("#toasts [data-toast]").forEach(dismissLater);
    enhance(document);
    const messages = $("#messages");
    if (messages) {
      // Rows arrive from app.js (live updates, older pages, finished replies).
      new MutationObserver((records) => {
        for (const record of records) {
          record.addedNodes.forEach((node) => { if (node.nodeType === 1) enhance(node); });
        }
      }).observe(messages, { childList: true });
    }
  }

  window.chatappUI = { confirm: confirmDialog, toast, copyText };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
