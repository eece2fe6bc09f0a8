// Finding people: the new-conversation form's People field becomes a combobox (the ARIA 1.2
// pattern: an input with role=combobox controlling a listbox) that finds members of the
// chosen workspace as one types (GET /api/v1/workspaces/{slug}/members?q=), and shows the
// people picked as chips. Without this file the field is what the server renders: usernames
// separated by commas or spaces, sent as they are. Also the workspace page's "Copy the
// link" button. Loaded after ui.js (window.chatappUI, and window.chatappI18n for the words);
// docs/ui.md, "Finding people".
"use strict";

(function () {
  const { gettext, ngettext, interpolate, counted } = window.chatappI18n;
  const $ = (selector, root = document) => root.querySelector(selector);
  const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));
  const SEPARATORS = /[\s,]+/;
  const LIMIT = 8;
  let instances = 0;

  function me() {
    const signOut = $("[data-sign-out]");
    return signOut ? signOut.dataset.signOut : "";
  }

  function combobox(input) {
    if (input.dataset.peopleReady) return;
    input.dataset.peopleReady = "yes";
    const number = ++instances;
    const form = input.form;
    const workspaceSelect = form && form.elements.namedItem("workspace");
    const listId = `people-list-${number}`;

    // The value the form sends: the original field's name moves to a hidden input that
    // holds the picked usernames (and, when sent, whatever is still typed).
    const hidden = document.createElement("input");
    hidden.type = "hidden";
    hidden.name = input.name;
    input.removeAttribute("name");

    const wrapper = document.createElement("div");
    wrapper.className = "people";
    const box = document.createElement("div");
    box.className = "people-box";
    const chips = document.createElement("ul");
    chips.className = "chips";
    chips.setAttribute("aria-label", gettext("People picked"));
    const list = document.createElement("ul");
    list.id = listId;
    list.className = "people-list";
    list.setAttribute("role", "listbox");
    list.setAttribute("aria-label", gettext("People found"));
    list.hidden = true;
    const status = document.createElement("span");
    status.className = "visually-hidden";
    status.setAttribute("role", "status");

    input.parentNode.insertBefore(wrapper, input);
    box.append(chips, input);
    wrapper.append(box, list, hidden, status);

    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", listId);
    input.setAttribute("autocomplete", "off");
    input.setAttribute("placeholder", gettext("Type a name"));
    const help = $("#" + (input.getAttribute("aria-describedby") || "people-help"));
    if (help) help.textContent = gettext("Type a name or username; ↓ and ↑ choose, Enter picks, Escape closes.");

    const picked = []; // [{username, name}]
    let options = []; // the people listed now
    let active = -1;
    let pending = null; // the AbortController of the search under way
    let timer = 0;

    const announce = (text) => { status.textContent = text; };

    function sync() {
      hidden.value = picked.map((person) => person.username).join(", ");
    }

    function renderChips() {
      chips.replaceChildren(...picked.map((person) => {
        const chip = document.createElement("li");
        chip.className = "chip";
        const label = document.createElement("span");
        label.textContent = person.name && person.name !== person.username
          ? `${person.name} (${person.username})` : person.username;
        const remove = document.createElement("button");
        remove.type = "button";
        remove.textContent = "×";
        remove.setAttribute("aria-label", interpolate(gettext("Remove %(name)s"), { name: person.name || person.username }, true));
        remove.addEventListener("click", () => {
          unpick(person.username);
          input.focus();
        });
        chip.append(label, remove);
        return chip;
      }));
      sync();
    }

    function pick(person) {
      if (!person.username || picked.some((p) => p.username.toLowerCase() === person.username.toLowerCase())) return;
      picked.push(person);
      renderChips();
      announce(interpolate(gettext("%(name)s added."), { name: person.name || person.username }, true));
    }

    function unpick(username) {
      const index = picked.findIndex((person) => person.username === username);
      if (index < 0) return;
      const [person] = picked.splice(index, 1);
      renderChips();
      announce(interpolate(gettext("%(name)s removed."), { name: person.name || person.username }, true));
    }

    // Names typed with a separator after them (or pasted as a list) become chips; the
    // last, unfinished one stays in the field.
    function takeTyped({ all = false } = {}) {
      const parts = input.value.split(SEPARATORS);
      const rest = all ? "" : parts.pop();
      parts.filter(Boolean).forEach((username) => pick({ username, name: "" }));
      if (input.value !== rest) input.value = rest;
    }

    function setActive(index) {
      const rows = $$("[role=option]", list);
      active = rows.length ? (index + rows.length) % rows.length : -1;
      rows.forEach((row, position) => row.setAttribute("aria-selected", String(position === active)));
      if (active >= 0) {
        input.setAttribute("aria-activedescendant", rows[active].id);
        rows[active].scrollIntoView({ block: "nearest" });
      } else {
        input.removeAttribute("aria-activedescendant");
      }
    }

    function open() {
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
    }

    function close() {
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      active = -1;
    }

    function renderOptions() {
      list.replaceChildren();
      if (!options.length) {
        const empty = document.createElement("li");
        empty.className = "empty";
        empty.textContent = input.value.trim() ? gettext("Nobody in this workspace matches.") : gettext("Type to find people.");
        list.append(empty);
        announce(input.value.trim() ? gettext("Nobody found.") : "");
        return;
      }
      options.forEach((person, position) => {
        const row = document.createElement("li");
        row.id = `${listId}-${position}`;
        row.setAttribute("role", "option");
        row.setAttribute("aria-selected", "false");
        row.dataset.username = person.username;
        const name = document.createElement("span");
        name.textContent = person.name || person.username;
        const username = document.createElement("small");
        username.textContent = "@" + person.username;
        row.append(name, username);
        // mousedown, not click: the field keeps focus (and the list stays for the pick).
        row.addEventListener("mousedown", (event) => {
          event.preventDefault();
          choose(position);
        });
        list.append(row);
      });
      announce(counted(
        ngettext(
          "%(count)s person found; arrow keys to choose.",
          "%(count)s people found; arrow keys to choose.",
          options.length,
        ),
        options.length,
      ));
    }

    async function search() {
      const slug = workspaceSelect && workspaceSelect.value;
      if (!slug) return;
      if (pending) pending.abort();
      pending = new AbortController();
      const query = input.value.trim();
      const url = `/api/v1/workspaces/${encodeURIComponent(slug)}/members?limit=${LIMIT + picked.length + 1}`
        + (query ? `&q=${encodeURIComponent(query)}` : "");
      try {
        const response = await fetch(url, {
          credentials: "same-origin",
          headers: { Accept: "application/json" },
          signal: pending.signal,
        });
        if (!response.ok) throw new Error(String(response.status));
        const body = await response.json();
        const self = me();
        const chosen = new Set(picked.map((person) => person.username.toLowerCase()));
        options = body.items
          .filter((item) => item.active && item.user.id !== self && !chosen.has(item.user.username.toLowerCase()))
          .slice(0, LIMIT)
          .map((item) => ({ username: item.user.username, name: item.user.display_name }));
      } catch (error) {
        if (error.name === "AbortError") return;
        options = []; // the plain field still works: what is typed is sent as it is
      }
      if (document.activeElement !== input) return;
      renderOptions();
      open();
      setActive(-1);
    }

    function searchSoon() {
      clearTimeout(timer);
      timer = setTimeout(search, 150);
    }

    function choose(position) {
      const person = options[position];
      if (!person) return;
      pick(person);
      input.value = "";
      close();
      options = [];
      input.focus();
    }

    input.addEventListener("input", () => {
      if (SEPARATORS.test(input.value)) takeTyped();
      searchSoon();
    });
    input.addEventListener("keydown", (event) => {
      const expanded = !list.hidden;
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        const step = event.key === "ArrowDown" ? 1 : -1;
        if (!expanded || !options.length) {
          search().then(() => setActive(step > 0 ? 0 : options.length - 1));
        } else {
          setActive(active < 0 && step < 0 ? options.length - 1 : active + step);
        }
      } else if (event.key === "Enter") {
        if (expanded && active >= 0) {
          event.preventDefault();
          choose(active);
        } else if (input.value.trim()) {
          event.preventDefault(); // a name typed out: a chip, not a send
          takeTyped({ all: true });
          close();
        }
      } else if (event.key === "Escape") {
        if (expanded) {
          event.preventDefault();
          event.stopPropagation();
          close();
        } else if (input.value) {
          event.preventDefault();
          input.value = "";
        }
      } else if (event.key === "Backspace" && !input.value && picked.length) {
        unpick(picked[picked.length - 1].username);
      } else if (event.key === "Tab") {
        close();
      }
    });
    input.addEventListener("blur", () => setTimeout(() => {
      if (document.activeElement !== input) close();
    }, 100));
    if (workspaceSelect) workspaceSelect.addEventListener("change", () => { close(); options = []; });
    if (form) {
      form.addEventListener("submit", () => {
        takeTyped({ all: true });
        sync();
      });
    }

    // A form shown again (a refused start) keeps what was typed: those names are chips.
    input.value = input.value.trim();
    takeTyped({ all: true });
    renderChips();
    status.textContent = "";
  }

  // The workspace page: "Copy the link" of a new invitation.
  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-copy-text]");
    if (!button || !window.chatappUI) return;
    const source = $(button.dataset.copyText);
    if (source && await window.chatappUI.copyText(source.textContent.trim())) {
      window.chatappUI.toast(gettext("Link copied."));
    }
  });

  function start() {
    $$("input[data-people]").forEach(combobox);
    $$("[data-copy-text][hidden]").forEach((button) => { button.hidden = false; });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
