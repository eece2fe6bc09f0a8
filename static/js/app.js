// chatapp: what JavaScript adds to pages that work without it — posting in place (with an
// outbox and a draft kept in the browser, so nothing typed is lost), streamed replies with
// Stop, live updates, older messages on scroll, the theme toggle, the drawer.
"use strict";

(function () {
  const $ = (selector, root = document) => root.querySelector(selector);
  const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));
  // The words, in the page's language (ui.js, from Django's JavaScript catalogue).
  const { gettext, ngettext, interpolate, counted, language, refusalReason } = window.chatappI18n;

  function cookie(name) {
    const found = document.cookie.split("; ").find((row) => row.startsWith(name + "="));
    return found ? decodeURIComponent(found.split("=")[1]) : "";
  }

  function api(path, options = {}) {
    const headers = { "X-CSRFToken": cookie("csrftoken"), ...(options.headers || {}) };
    if (options.json !== undefined) {
      headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(options.json);
    }
    return fetch(path, { credentials: "same-origin", ...options, headers });
  }

  // data-confirm buttons, toasts and a message's tools are ui.js's (window.chatappUI).

  // Code blocks scroll sideways when their lines are long: make them reachable from the
  // keyboard (tool parts get tabindex in the template; rendered markdown does not).
  function focusableCode(root) {
    $$(".md pre:not([tabindex])", root).forEach((pre) => { pre.tabIndex = 0; });
  }

  function fragment(html) {
    const template = document.createElement("template");
    template.innerHTML = html;
    focusableCode(template.content);
    return template.content;
  }

  // --- what is kept in the browser: drafts and unsent messages ------------------------------
  // localStorage, per person and conversation (`chatapp:<user id>:draft:<conversation id>`,
  // `chatapp:<user id>:outbox:<conversation id>`): two accounts in one browser never see,
  // or send, each other's. Signing out removes the person's keys (setupSignOut).

  const memory = new Map(); // where localStorage is off or full: kept for this page only
  const stored = {
    get(key) {
      if (memory.has(key)) return memory.get(key);
      try { return localStorage.getItem(key); } catch (error) { return null; }
    },
    set(key, value) {
      try {
        localStorage.setItem(key, value);
        memory.delete(key);
      } catch (error) {
        memory.set(key, value);
      }
    },
    remove(key) {
      memory.delete(key);
      try { localStorage.removeItem(key); } catch (error) { /* no storage: nothing kept */ }
    },
    keys(prefix) {
      const keys = new Set(Array.from(memory.keys()));
      try {
        for (let index = 0; index < localStorage.length; index += 1) keys.add(localStorage.key(index));
      } catch (error) { /* no storage */ }
      return Array.from(keys).filter((key) => key && key.startsWith(prefix));
    },
  };
  const storageKey = (userId, kind, conversationId) => `chatapp:${userId}:${kind}:${conversationId}`;

  function readList(key) {
    try {
      const list = JSON.parse(stored.get(key) || "[]");
      return Array.isArray(list) ? list : [];
    } catch (error) {
      return [];
    }
  }

  // The messages of one conversation that the server has not confirmed, oldest first:
  // {id (the client_message_id), text, created_at (ms), state ("failed" or none), error}.
  // Read and written whole at every change, never cached: another tab of the same
  // conversation changes it too.
  function outboxFor(userId, conversationId) {
    const key = storageKey(userId, "outbox", conversationId);
    const write = (list) => (list.length ? stored.set(key, JSON.stringify(list)) : stored.remove(key));
    return {
      entries: () => readList(key),
      add(entry) { write([...readList(key).filter((e) => e.id !== entry.id), entry]); },
      // An entry another tab removed (confirmed) stays removed.
      update(id, changes) { write(readList(key).map((e) => (e.id === id ? { ...e, ...changes } : e))); },
      remove(id) { write(readList(key).filter((e) => e.id !== id)); },
    };
  }

  function newClientMessageId() {
    if (crypto.randomUUID) return crypto.randomUUID(); // secure contexts only (https, localhost)
    return Array.from(crypto.getRandomValues(new Uint8Array(16)),
      (byte) => byte.toString(16).padStart(2, "0")).join("");
  }

  // Signing out forgets the person's drafts and unsent messages on this browser (it may be
  // a shared one), after asking when some messages are not sent yet.
  function setupSignOut() {
    const form = $("form[data-sign-out]");
    if (!form) return;
    form.addEventListener("submit", (event) => {
      const keys = stored.keys(`chatapp:${form.dataset.signOut}:`);
      const unsent = keys.filter((key) => key.includes(":outbox:"))
        .reduce((total, key) => total + readList(key).length, 0);
      if (unsent) {
        const question = counted(
          ngettext(
            "%(count)s message is not sent yet. Sign out and forget it?",
            "%(count)s messages are not sent yet. Sign out and forget them?",
            unsent,
          ),
          unsent,
        );
        if (!window.confirm(question)) {
          event.preventDefault();
          return;
        }
      }
      keys.forEach((key) => stored.remove(key));
    });
  }

  // --- theme and drawer -----------------------------------------------------------------------

  function setupTheme() {
    const form = $(".theme-form");
    if (!form) return;
    const root = document.documentElement;
    const button = $("[data-theme-toggle]", form);
    const isDark = () => (root.dataset.theme
      ? root.dataset.theme === "dark"
      : window.matchMedia("(prefers-color-scheme: dark)").matches);
    // The button offers the other theme than the one shown: with no theme chosen, the page
    // follows the system, which only the browser knows.
    function label() {
      const dark = isDark();
      button.setAttribute("aria-label", dark ? gettext("Switch to light mode") : gettext("Switch to dark mode"));
      button.dataset.offer = dark ? "light" : "dark";
      $("input[name=theme]", form).value = dark ? "light" : "dark";
    }
    label();
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", label);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const next = isDark() ? "light" : "dark";
      root.dataset.theme = next;
      const secure = location.protocol === "https:" ? "; secure" : "";
      document.cookie = `theme=${next}; path=/; max-age=31536000; samesite=lax${secure}`;
      label();
    });
  }

  function setupDrawer() {
    // Open or close the drawer (a phone); the ☰ button's aria-expanded and the focus follow.
    function setDrawer(open) {
      document.body.classList.toggle("drawer-open", open);
      $$(".menu-button").forEach((button) => button.setAttribute("aria-expanded", String(open)));
      const target = open ? $("#sidebar a, #sidebar summary") : $(".menu-button");
      if (target) target.focus();
    }
    $$("[data-drawer-toggle]").forEach((toggle) => {
      toggle.addEventListener("click", (event) => {
        event.preventDefault();
        setDrawer(!document.body.classList.contains("drawer-open"));
      });
    });
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && document.body.classList.contains("drawer-open")) {
        setDrawer(false);
      }
    });
  }

  // --- the sidebar, refreshed on live events ------------------------------------------------

  let sidebarTimer = null;
  function refreshSidebar() {
    const lists = $("#sidebar-lists");
    if (!lists) return;
    clearTimeout(sidebarTimer);
    sidebarTimer = setTimeout(async () => {
      const response = await fetch(lists.dataset.sidebarUrl, { credentials: "same-origin" });
      if (!response.ok) return;
      const fresh = fragment(await response.text());
      keepOlderPages(lists, fresh);
      lists.replaceChildren(fresh);
      followTitleFromSidebar(lists);
    }, 250);
  }

  // The open thread's header and the tab's title follow the conversation's title. A rename
  // is announced (conversation.updated, with the title); a title derived from the first
  // message is not (it is written with the message), but the sidebar's refresh, which that
  // message's event causes, carries it.
  function showThreadTitle(title) {
    const heading = $("#thread-title");
    if (!heading) return;
    const shown = title || gettext("Untitled");
    if (heading.textContent !== shown) heading.textContent = shown;
    document.title = `${shown} · chatapp`;
    // The rename field holds the title too, unless the person is changing it.
    const field = $("#rename-title");
    if (field && field.value === field.defaultValue && document.activeElement !== field) {
      field.value = field.defaultValue = title;
    }
  }

  function followTitleFromSidebar(lists) {
    const thread = $(".thread");
    const item = thread && $(`li[data-conversation-id="${thread.dataset.conversationId}"] .title`, lists);
    // An untitled one says "Untitled" (in the page's language): only a rename clears a
    // title, and says so.
    if (!item || item.classList.contains("untitled")) return;
    const title = item.cloneNode(true);
    $$("[aria-hidden]", title).forEach((mark) => mark.remove()); // a group's "#"
    const text = title.textContent.trim();
    if (text) showThreadTitle(text);
  }

  // The refresh brings the newest page. When older pages were loaded in place, what was
  // shown below it stays (but for what the newest page now holds), and so does the link
  // that goes on after the last loaded page.
  function keepOlderPages(lists, fresh) {
    if (!$("li[data-older]", lists)) return;
    const freshList = $$("ul.conversation-list", fresh).pop();
    if (!freshList) return;
    const shown = new Set($$("li[data-conversation-id]", fresh).map((li) => li.dataset.conversationId));
    const kept = $$("li[data-conversation-id]", $$("ul.conversation-list", lists).pop())
      .filter((li) => !shown.has(li.dataset.conversationId));
    kept.forEach((li) => { li.dataset.older = "1"; });
    freshList.append(...kept);
    const link = $("[data-sidebar-older]", lists);
    const freshLink = $("[data-sidebar-older]", fresh);
    if (freshLink) freshLink.closest(".more").replaceWith(link ? link.closest(".more") : "");
  }

  // "Older conversations": the next page is appended to the list in place (without
  // JavaScript the link opens the page with it); a live refresh keeps it (keepOlderPages).
  function setupSidebarPaging() {
    const lists = $("#sidebar-lists");
    if (!lists) return;
    lists.addEventListener("click", async (event) => {
      const link = event.target.closest("[data-sidebar-older]");
      if (!link) return;
      event.preventDefault();
      const url = new URL(lists.dataset.sidebarUrl, location.href);
      new URL(link.href).searchParams.forEach((value, key) => url.searchParams.set(key, value));
      const response = await fetch(url, { credentials: "same-origin" });
      if (!response.ok) {
        location.href = link.href;
        return;
      }
      const older = fragment(await response.text());
      const list = $$("ul.conversation-list", lists).pop();
      const added = $$("li.conversation-item", older);
      added.forEach((li) => { li.dataset.older = "1"; });
      list.append(...added);
      const next = $("[data-sidebar-older]", older);
      link.closest(".more").replaceWith(next ? next.closest(".more") : "");
      // Keyboard users go on from the first conversation that came in.
      const first = added.length && $("a", added[0]);
      if (first) first.focus();
    });
  }

  // --- the thread ---------------------------------------------------------------------------

  function setupThread() {
    const thread = $(".thread");
    if (!thread) return null;
    // Empty on a New chat: the conversation is made by its first message (adopt, below).
    let conversationId = thread.dataset.conversationId;
    let rowsUrl = thread.dataset.rowsUrl;
    const list = $("#messages");
    const composer = $("#composer");
    const textarea = $("#composer-text");
    const stopButton = $("#stop");
    const regenerateButton = $("#regenerate");
    let streamingMessageId = null;
    let outbox = null; // set under "posting" below; placeRows confirms what it holds

    // Rows are the path through the versions this person is shown, in `position` order
    // (their turn: no gap); `seq` is the order messages were written, every version counted.
    const lastPosition = () => {
      const rows = $$(".message[data-position]", list);
      return rows.length ? Number(rows[rows.length - 1].dataset.position) : 0;
    };
    const newestSeq = () => Math.max(0, ...$$(".message[data-seq]", list).map((row) => Number(row.dataset.seq)));
    const rowsFrom = (position) => $$(".message[data-position]", list).filter((row) => Number(row.dataset.position) >= position);
    const scrollToBottom = () => { list.scrollTop = list.scrollHeight; };

    // --- streamed text, painted once per frame ---
    // A local model writes faster than the screen draws (500 tokens a second). Appending
    // each delta and then reading the scroll position forced a layout per token and froze
    // the page (Stop could not be clicked). So a delta only adds to the text waiting for its
    // row, in memory (queueText); one requestAnimationFrame callback appends what waits, one
    // text node per row, and scrolls at most once. Nothing on the delta path reads layout:
    // whether to stay at the bottom is a flag the scroll listener keeps (within 80 px of it).
    const nearBottom = () => list.scrollHeight - list.scrollTop - list.clientHeight < 80;
    let stuckToBottom = true;
    list.addEventListener("scroll", () => { stuckToBottom = nearBottom(); }, { passive: true });
    const waitingText = new Map(); // a row's text element → the text not painted yet
    let frameAsked = false;
    let scrollAsked = false;

    function paintText() {
      // A row replaced meanwhile (the server's rendering came) drops what waited for it.
      waitingText.forEach((text, body) => { if (body.isConnected) body.append(text); });
      waitingText.clear();
    }
    function paintFrame() {
      frameAsked = false;
      const grew = waitingText.size > 0;
      paintText();
      if (scrollAsked || (grew && stuckToBottom)) scrollToBottom();
      scrollAsked = false;
    }
    function askFrame() {
      if (frameAsked) return;
      frameAsked = true;
      requestAnimationFrame(paintFrame);
    }
    function queueText(body, text) {
      waitingText.set(body, (waitingText.get(body) || "") + text);
      askFrame();
    }
    // To the bottom at the next frame, whatever the flag says (a reply of ours begins).
    function scrollSoon() {
      scrollAsked = true;
      stuckToBottom = true;
      askFrame();
    }

    if (!location.hash) scrollToBottom();
    stuckToBottom = nearBottom(); // opened at a linked message: follow nothing until scrolled

    // The header's count follows new rows: seq has no gaps, so the newest seq is the count.
    function updateCount() {
      const count = $("#message-count"); // a New chat's header is replaced once it exists
      const total = newestSeq();
      if (!count || total <= Number(count.dataset.count)) return;
      count.dataset.count = total;
      count.textContent = counted(ngettext("%(count)s message", "%(count)s messages", total), total);
    }

    // A row replaced under the keyboard (a live update, the saved reply, another tab's switch)
    // keeps its focus: the same control, by its place among the row's, in the new row.
    const CONTROLS = "button, a[href], [tabindex]";
    function focusInRow() {
      const active = document.activeElement;
      const row = active && active.closest && active.closest(".message[data-position]");
      if (!row || !list.contains(row)) return null;
      return { position: row.dataset.position, index: $$(CONTROLS, row).indexOf(active) };
    }
    function restoreFocus(saved) {
      if (!saved || saved.index < 0) return;
      if (document.activeElement && document.activeElement !== document.body) return; // moved on
      const row = $(`.message[data-position="${saved.position}"]`, list);
      const control = row && $$(CONTROLS, row)[saved.index];
      if (control && !control.disabled) control.focus();
    }

    // Insert server-rendered rows: replace rows already shown (same position), append the rest.
    // A row of ours with the client_message_id of one still in the outbox confirms it (the
    // POST's answer, or the live stream, whichever comes first): it replaces the local row.
    function placeRows(html) {
      const stick = stuckToBottom;
      const focused = focusInRow();
      const rows = fragment(html);
      $$(".message[data-position]", rows).forEach((row) => {
        const clientId = row.dataset.clientMessageId;
        if (clientId) {
          if (outbox) outbox.remove(clientId);
          const local = localRow(clientId);
          if (local) local.remove();
        }
        const existing = $(`.message[data-position="${row.dataset.position}"]`, list);
        if (existing) {
          // The reply streaming into this page keeps its row; the saved one replaces it at
          // the end (a live event for it can arrive while it streams).
          if (streamingMessageId && existing.dataset.messageId === streamingMessageId) return;
          // Nor is a row being edited in place taken from under the person's typing.
          if (existing.classList.contains("editing") && existing.dataset.messageId === row.dataset.messageId) return;
          existing.replaceWith(row);
        } else {
          const newer = $$(".message[data-position]", list).find((m) => Number(m.dataset.position) > Number(row.dataset.position));
          list.insertBefore(row, newer || $(".message.local", list) || null);
        }
      });
      if (stick) scrollToBottom();
      restoreFocus(focused);
      updateRegenerate();
      updateCount();
    }

    async function loadAfter(position) {
      if (!rowsUrl) return;
      const response = await fetch(`${rowsUrl}?after=${position}`, { credentials: "same-origin" });
      if (response.ok) placeRows(await response.text());
    }

    // The path from `position` on changed (another version picked or made, here or in
    // another tab): its rows are read again, a page at a time, and replace those shown from
    // there (rows of the other version leave). What changes on screen is all that is read.
    let reloading = Promise.resolve();
    function reloadFrom(position) {
      reloading = reloading.then(async () => {
        if (!rowsUrl) return;
        let after = position - 1;
        const fresh = [];
        for (let page = 0; page < 20; page += 1) {
          const response = await fetch(`${rowsUrl}?after=${after}`, { credentials: "same-origin" });
          if (!response.ok) return;
          const html = await response.text();
          fresh.push(html);
          const rows = $$(".message[data-position]", fragment(html));
          if (response.headers.get("X-Has-More-After") !== "1" || !rows.length) break;
          after = Number(rows[rows.length - 1].dataset.position);
        }
        const focused = focusInRow();
        rowsFrom(position).forEach((row) => {
          if (!(streamingMessageId && row.dataset.messageId === streamingMessageId)) row.remove();
        });
        fresh.forEach(placeRows);
        restoreFocus(focused);
      });
      return reloading;
    }

    // ‹ 2/3 ›: the versions of a turn. The form (views.show_version) works without
    // JavaScript; here the pick is sent to the API (remembered for this person on the
    // server) and the rows from that turn on are replaced in place, focus kept on the arrow.
    async function switchVersion(button) {
      const row = button.closest(".message");
      const wanted = Number(button.dataset.showVersion);
      const listed = await api(`/api/v1/messages/${row.dataset.messageId}/versions`);
      if (!listed.ok) return;
      const target = (await listed.json()).items.find((version) => version.version === wanted);
      if (!target) return;
      const shown = await api(`/api/v1/messages/${target.id}/show`, { method: "POST", json: {} });
      if (!shown.ok) return;
      const next = wanted > Number(row.dataset.version);
      const position = Number(row.dataset.position);
      await reloadFrom(position);
      // Focus stays on the arrow pressed, or on the other one once this one is disabled.
      const fresh = $(`.message[data-position="${position}"]`, list);
      const arrows = fresh ? $$("[data-show-version]", fresh) : [];
      const pressed = next ? arrows[arrows.length - 1] : arrows[0];
      const focus = pressed && !pressed.disabled ? pressed : arrows.find((arrow) => !arrow.disabled);
      if (focus) focus.focus();
    }
    list.addEventListener("click", (event) => {
      const button = event.target.closest("[data-show-version]");
      if (!button || button.disabled) return;
      event.preventDefault();
      switchVersion(button);
    });

    // Regenerate is a tool of every assistant reply (partials/message_row.html) but one
    // still being written; any reply, not only the last, gets a new version.
    function updateRegenerate() {
      $$("[data-regenerate-message]", list).forEach((button) => {
        button.closest("form").hidden = streamingMessageId !== null;
      });
    }

    let readTimer = null;
    function markRead() {
      if (!conversationId) return;
      clearTimeout(readTimer);
      readTimer = setTimeout(() => api(`/api/v1/conversations/${conversationId}/read`, { method: "POST", json: {} }), 500);
    }

    // Older messages: on scroll to the top, or on the link without waiting.
    async function loadOlder() {
      const older = $("#older");
      if (!older || older.dataset.loading) return;
      older.dataset.loading = "1";
      const first = $(".message[data-position]", list);
      const before = first ? first.dataset.position : 1;
      const response = await fetch(`${rowsUrl}?before=${before}`, { credentials: "same-origin" });
      if (response.ok) {
        const height = list.scrollHeight;
        older.after(fragment(await response.text()));
        list.scrollTop += list.scrollHeight - height;
        if (response.headers.get("X-Has-More-Before") !== "1") older.remove();
      }
      delete older.dataset.loading;
    }
    const olderLink = $("[data-load-older]");
    if (olderLink) {
      olderLink.addEventListener("click", (event) => { event.preventDefault(); loadOlder(); });
      const observer = new IntersectionObserver((entries) => {
        if (entries.some((entry) => entry.isIntersecting)) loadOlder();
      }, { root: list });
      observer.observe($("#older"));
    }

    // --- posting: the outbox and the draft ---
    // A message is kept in the outbox (localStorage) before it is sent, shown at once
    // (pending), and sent until the server confirms it, always with the same
    // client_message_id: the API answers a repeat with the message it already has, so a
    // reload, a closed tab or a dropped network loses nothing and posts nothing twice.
    // One at a time, oldest first. No network: retried with backoff, at once when the
    // browser is back online; 429: after Retry-After; a final refusal (4xx): marked failed
    // with the reason, kept, and offered back (Retry, Edit, Discard).
    // A New chat's messages wait under "new" (its draft too) until the first one makes the
    // conversation; then they move to its id (adopt).
    const userId = thread.dataset.userId;
    let apiUrl = (composer && composer.dataset.apiUrl) || `/api/v1/conversations/${conversationId}/messages`;
    outbox = userId ? outboxFor(userId, conversationId || "new") : null;
    const SEND_TIMEOUT_MS = 20000; // an answer that never comes: sent again (same key)
    const STALE_MS = 24 * 3600 * 1000; // older than this: asked for, not sent on its own
    let failures = 0; // in a row, for the backoff
    let retryTimer = null;
    let flushing = false;

    function localRow(clientId) {
      return $$(".message.local", list).find((row) => row.dataset.clientMessageId === clientId) || null;
    }

    function showLocal(entry) {
      const row = document.createElement("div");
      row.className = "message role-user mine pending local";
      row.dataset.clientMessageId = entry.id;
      // The server's row shape (partials/message_row.html): our own, so a bubble and no avatar.
      row.innerHTML = '<div class="message-main"><div class="message-head"><span class="sender"></span>'
        + '<span class="status"></span></div><div class="bubble"><div class="md body streaming-text"></div></div></div>';
      $(".sender", row).textContent = thread.dataset.userName || gettext("You"); // as the server's row will say
      $(".body", row).textContent = entry.text;
      list.appendChild(row);
      return row;
    }

    // A local row's state: "sending", "waiting" (to be sent again) or "failed".
    function setState(clientId, state, note) {
      const row = localRow(clientId);
      if (!row) return;
      row.dataset.state = state;
      row.classList.toggle("failed", state === "failed");
      $(".status", row).textContent = state === "failed" ? gettext("not sent") : note;
      $$(".outbox-failed", row).forEach((element) => element.remove());
      if (state !== "failed") return;
      const box = document.createElement("div");
      box.className = "outbox-failed";
      const reason = document.createElement("p");
      reason.className = "error-note";
      reason.setAttribute("role", "alert");
      reason.innerHTML = '<span class="visually-hidden"></span>';
      $("span", reason).textContent = gettext("Not sent:") + " ";
      reason.append(note);
      const buttons = document.createElement("div");
      buttons.className = "outbox-actions";
      const button = (label, className, action) => {
        const element = document.createElement("button");
        element.type = "button";
        element.className = className;
        element.textContent = label;
        element.addEventListener("click", action);
        buttons.appendChild(element);
      };
      button(gettext("Retry"), "small", () => {
        outbox.update(clientId, { state: null, error: null, created_at: Date.now() });
        setState(clientId, "sending", gettext("sending…"));
        flush();
      });
      if (textarea) button(gettext("Edit"), "small secondary", () => editAgain(clientId));
      button(gettext("Discard"), "small danger-quiet", () => {
        outbox.remove(clientId);
        row.remove();
      });
      box.append(reason, buttons);
      $(".bubble", row).appendChild(box);
    }

    // A refused message back in the composer (after what is there), out of the outbox.
    function editAgain(clientId) {
      const entry = outbox.entries().find((e) => e.id === clientId);
      const row = localRow(clientId);
      if (row) row.remove();
      outbox.remove(clientId);
      if (!entry) return;
      textarea.value = textarea.value.trim() ? `${textarea.value}\n\n${entry.text}` : entry.text;
      saveDraft();
      textarea.focus();
    }

    function backoff() {
      failures += 1;
      const base = Math.min(30000, 1000 * 2 ** (failures - 1));
      return Math.round(base * (0.8 + Math.random() * 0.4));
    }

    async function flush() {
      if (flushing || !outbox) return;
      flushing = true;
      clearTimeout(retryTimer);
      retryTimer = null;
      try {
        for (;;) {
          const entry = outbox.entries().find((e) => e.state !== "failed");
          if (!entry) break;
          if (!localRow(entry.id)) showLocal(entry); // another tab's, left unsent
          const wait = await deliver(entry);
          if (wait !== null) {
            retryTimer = setTimeout(flush, wait);
            break;
          }
        }
      } finally {
        flushing = false;
      }
    }

    // Send one entry. Returns null when it is settled (confirmed, or refused for good), else
    // how long to wait before sending again.
    async function deliver(entry) {
      if (navigator.onLine === false) {
        setState(entry.id, "waiting", gettext("offline · sends when you are back online"));
        return backoff();
      }
      setState(entry.id, "sending", gettext("sending…"));
      let response;
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(), SEND_TIMEOUT_MS);
      const post = { content: entry.text, client_message_id: entry.id };
      try {
        // A New chat's first message makes the conversation with it (POST /conversations
        // with `message`, idempotent by the same client_message_id).
        response = await api(apiUrl, {
          method: "POST",
          json: conversationId ? post : { kind: "assistant", ...(entry.start || {}), message: post },
          signal: abort.signal,
        });
      } catch (error) {
        setState(entry.id, "waiting", navigator.onLine === false
          ? gettext("offline · sends when you are back online") : gettext("not sent yet · trying again"));
        return backoff();
      } finally {
        clearTimeout(timer);
      }
      if (response.ok) {
        failures = 0;
        const body = await response.json().catch(() => null);
        const started = !conversationId;
        if (started && !(body && body.message)) {
          // An answer cut short: sent again, the same key finds what it made.
          setState(entry.id, "waiting", gettext("not sent yet · trying again"));
          return backoff();
        }
        outbox.remove(entry.id);
        if (started) adopt(body.id);
        const message = started ? body.message : body;
        if (message) await loadAfter(message.position - 1);
        const row = localRow(entry.id);
        if (row) {
          // Saved, but its row did not come (yet): shown as sent; the server's replaces it.
          row.classList.remove("pending");
          row.dataset.state = "sent";
          $(".status", row).textContent = "";
        }
        // A reply, unless this resend found a message another page already had answered.
        const created = response.status === 201;
        if (message && thread.dataset.kind === "assistant" && (created || message.position >= lastPosition())) {
          startReply(false, !created);
        }
        return null;
      }
      if (response.status === 429) {
        const seconds = Math.max(1, Number(response.headers.get("Retry-After")) || 5);
        setState(entry.id, "waiting", counted(
          ngettext(
            "too many messages · sending again in %(count)s s",
            "too many messages · sending again in %(count)s s",
            seconds,
          ),
          seconds,
        ));
        return seconds * 1000;
      }
      if (response.status >= 500 || response.status === 408) {
        setState(entry.id, "waiting", gettext("the server did not take it · trying again"));
        return backoff();
      }
      const body = await response.json().catch(() => ({}));
      const reason = refusalReason(response.status, body, {
        conflict: gettext("This conversation does not take messages now: it may be completed."),
      });
      outbox.update(entry.id, { state: "failed", error: reason });
      setState(entry.id, "failed", reason);
      return null;
    }

    // The page opens with what this person left unsent here: confirmed meanwhile (its row is
    // in the thread) it leaves the outbox, else it is shown and sent again.
    function restoreOutbox() {
      if (!outbox) return;
      const saved = new Set($$(".message[data-client-message-id]", list).map((row) => row.dataset.clientMessageId));
      const entries = outbox.entries();
      entries.forEach((entry) => {
        if (saved.has(entry.id)) {
          outbox.remove(entry.id);
          // Saved before the last page could ask for the reply: ask now.
          const rows = $$(".message[data-position]", list);
          const last = rows[rows.length - 1];
          if (thread.dataset.kind === "assistant" && last && last.dataset.clientMessageId === entry.id) {
            startReply(false, true);
          }
          return;
        }
        showLocal(entry);
        if (entry.state === "failed") {
          setState(entry.id, "failed", entry.error || gettext("the server refused it."));
        } else if (Date.now() - (entry.created_at || 0) > STALE_MS) {
          const reason = interpolate(
            gettext("written %(when)s, and not sent since."),
            { when: new Date(entry.created_at).toLocaleString(language) },
            true,
          );
          outbox.update(entry.id, { state: "failed", error: reason });
          setState(entry.id, "failed", reason);
        } else {
          setState(entry.id, "waiting", gettext("not sent yet · sending again"));
        }
      });
      if (entries.length) {
        scrollToBottom();
        flush();
      }
    }

    window.addEventListener("online", () => {
      failures = 0;
      flush();
    });
    window.addEventListener("offline", () => {
      $$(".message.local[data-state=waiting], .message.local[data-state=sending]", list).forEach((row) => {
        row.dataset.state = "waiting";
        $(".status", row).textContent = gettext("offline · sends when you are back online");
      });
    });

    // The composer's draft, per conversation (a New chat's: "new"), until it is sent.
    let draftKey = userId ? storageKey(userId, "draft", conversationId || "new") : null;
    function saveDraft() {
      if (!draftKey) return;
      if (textarea.value) stored.set(draftKey, textarea.value);
      else stored.remove(draftKey);
    }

    if (composer && textarea) {
      const draft = draftKey && stored.get(draftKey);
      if (draft && !textarea.value) textarea.value = draft;
      textarea.addEventListener("input", saveDraft);
      textarea.addEventListener("keydown", (event) => {
        if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
          event.preventDefault();
          composer.requestSubmit();
        }
      });
      composer.addEventListener("submit", (event) => {
        if (!outbox) return; // no person to keep it for: the form posts it
        event.preventDefault();
        const text = textarea.value;
        if (!text.trim()) return;
        const entry = { id: newClientMessageId(), text, created_at: Date.now() };
        if (!conversationId) entry.start = newChatStart();
        outbox.add(entry); // kept before anything is sent
        textarea.value = "";
        saveDraft();
        showLocal(entry);
        setState(entry.id, "sending", gettext("sending…"));
        scrollToBottom();
        flush();
        textarea.focus();
      });
    }

    // What a New chat's conversation is made with, kept with its first message.
    function newChatStart() {
      const start = {};
      if (thread.dataset.agentId) start.agent_id = thread.dataset.agentId;
      if (thread.dataset.workspace) start.workspace = thread.dataset.workspace;
      if (thread.dataset.title) start.title = thread.dataset.title;
      return start;
    }

    // The New chat's conversation exists (its first message made it): from now on this page
    // is its thread, as if opened at its URL (history.replaceState, no reload). What waits
    // in the outbox and the draft under "new" moves to its id; the header (Actions, the
    // title) is the server's, taken from the thread page.
    function adopt(id) {
      if (conversationId) return;
      conversationId = id;
      thread.dataset.conversationId = id;
      rowsUrl = thread.dataset.rowsUrl = `/c/${id}/rows`;
      apiUrl = `/api/v1/conversations/${id}/messages`;
      if (composer) {
        composer.action = `/c/${id}/post`;
        composer.dataset.apiUrl = apiUrl;
        $$("input[name=agent], input[name=workspace], input[name=title]", composer).forEach((input) => input.remove());
      }
      if (userId) {
        const waiting = outbox;
        outbox = outboxFor(userId, id);
        waiting.entries().forEach((entry) => {
          outbox.add(entry);
          waiting.remove(entry.id);
        });
        const draft = stored.get(draftKey);
        stored.remove(draftKey);
        draftKey = storageKey(userId, "draft", id);
        if (draft) stored.set(draftKey, draft);
      }
      history.replaceState(null, "", `/c/${id}/`);
      const lists = $("#sidebar-lists");
      if (lists) {
        const url = new URL(lists.dataset.sidebarUrl, location.href);
        url.searchParams.set("current", id);
        lists.dataset.sidebarUrl = url.pathname + url.search;
      }
      $$(".new-chat[aria-current]").forEach((link) => link.removeAttribute("aria-current"));
      takeHeader(id);
      refreshSidebar();
    }

    async function takeHeader(id) {
      const response = await fetch(`/c/${id}/`, { credentials: "same-origin" });
      if (!response.ok) return;
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const header = $(".thread-header", page);
      if (!header) return;
      $(".thread-header", thread).replaceWith(document.adoptNode(header));
      thread.classList.remove("new-thread");
      document.title = page.title;
      updateCount();
    }

    restoreOutbox();

    // --- streamed replies ---
    // `quiet`: asked for by a message sent again, which another page may have answered
    // already; its 409 (a reply is being written) is no error then.
    // `regenerate`: a new version of the reply `messageId` (else of the path's last).
    async function startReply(regenerate, quiet = false, messageId = null) {
      if (streamingMessageId) return;
      streamingMessageId = "starting";
      if (stopButton) stopButton.hidden = false;
      updateRegenerate();
      let row = null;
      let text = null;
      let position = null;
      try {
        const response = await api(`/api/v1/conversations/${conversationId}/reply`, {
          method: "POST",
          // A key per click: the same regenerate sent again makes no second version.
          json: messageId ? { regenerate, message_id: messageId, client_message_id: newClientMessageId() } : { regenerate },
        });
        if (!response.ok) {
          if (quiet && response.status === 409) return;
          const body = await response.json().catch(() => ({}));
          throw new Error(refusalReason(response.status, body, {
            conflict: gettext("A reply is already being written, or the conversation is completed."),
          }));
        }
        const reader = response.body.getReader();
        const decoder = new TextDecoder();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true });
          let boundary;
          while ((boundary = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, boundary);
            buffer = buffer.slice(boundary + 2);
            const name = (block.match(/^event: (.*)$/m) || [])[1];
            const data = JSON.parse((block.match(/^data: (.*)$/m) || [null, "{}"])[1]);
            if (name === "message.created") {
              streamingMessageId = data.message_id;
              position = data.position;
              // A new version ends the path here: what followed the old one leaves the screen.
              rowsFrom(position + 1).forEach((later) => later.remove());
              row = $(`.message[data-position="${position}"]`, list);
              const fresh = document.createElement("div");
              fresh.className = "message role-assistant status-streaming";
              fresh.id = `m${data.seq}`;
              fresh.dataset.seq = data.seq;
              fresh.dataset.position = position;
              fresh.dataset.messageId = data.message_id;
              // The server's row shape (partials/message_row.html), until it replaces this.
              fresh.innerHTML = '<span class="avatar assistant" aria-hidden="true"></span><div class="message-main">'
                + '<div class="message-head"><span class="sender"></span><span class="status"></span></div>'
                + '<div class="bubble"></div></div>';
              $(".sender", fresh).textContent = gettext("Assistant");
              $(".status", fresh).textContent = gettext("writing…");
              text = document.createElement("div");
              text.className = "md body streaming-text";
              $(".bubble", fresh).appendChild(text);
              if (row) row.replaceWith(fresh); else list.appendChild(fresh);
              row = fresh;
              updateCount();
              scrollSoon();
            } else if (name === "delta" && text && data.text) {
              queueText(text, data.text); // painted at the next frame
            }
          }
        }
      } catch (error) {
        const note = document.createElement("p");
        note.className = "error-note";
        note.setAttribute("role", "alert");
        note.textContent = interpolate(gettext("The assistant could not answer: %(reason)s"), { reason: error.message }, true);
        list.appendChild(note);
      } finally {
        paintText(); // all of it shown while the saved row is fetched
        streamingMessageId = null;
        if (stopButton) stopButton.hidden = true;
        if (position !== null) await loadAfter(position - 1);
        updateRegenerate();
        markRead();
      }
    }

    // Someone else's streaming reply (another tab, another person): each delta says where
    // its text starts in the reply (`offset`, in characters), and the row says how much it
    // holds (`data-length`), so text fetched with the row is not added twice, and a gap
    // (a missed delta) fetches the row again.
    // The length is counted when a delta comes, its text painted at the next frame.
    function appendDelta(row, body, data) {
      if (typeof data.offset !== "number") {
        queueText(body, data.text);
        return;
      }
      const have = Number(body.dataset.length || 0);
      if (data.offset > have) {
        if (!row.dataset.refetching) {
          row.dataset.refetching = "1";
          loadAfter(Number(row.dataset.position) - 1);
        }
        return;
      }
      const fresh = Array.from(data.text).slice(have - data.offset);
      if (!fresh.length) return;
      queueText(body, fresh.join(""));
      body.dataset.length = String(have + fresh.length);
    }

    if (stopButton) {
      stopButton.addEventListener("click", () => {
        if (streamingMessageId && streamingMessageId !== "starting") {
          api(`/api/v1/messages/${streamingMessageId}/abort`, { method: "POST" });
        }
      });
    }
    if (regenerateButton) regenerateButton.addEventListener("click", () => startReply(true));
    // From a reply's tools (ui.js): a new version of that reply.
    thread.addEventListener("chatapp:regenerate", (event) => startReply(true, false, event.detail.messageId));
    // A prompt edited and sent again (ui.js): the path changed from its turn; then the reply.
    thread.addEventListener("chatapp:resent", async (event) => {
      await reloadFrom(event.detail.position);
      startReply(false);
    });

    return {
      get conversationId() { return conversationId; },
      onEvent(event, payload) {
        if (payload.conversation_id !== conversationId) return;
        const data = payload.data || {};
        if (event === "message.delta") {
          if (data.message_id === streamingMessageId) return;
          const row = $(`.message[data-message-id="${data.message_id}"]`, list);
          const body = row && $(".streaming-text", row);
          if (body) appendDelta(row, body, data);
          else if (!row) loadAfter(lastPosition()); // once: the next deltas find the row
          return;
        }
        if (event.startsWith("message.")) {
          if (data.message_id === streamingMessageId) return;
          loadAfter(Math.min(lastPosition(), (data.position || 1) - 1));
          markRead();
        } else if (event === "path.changed") {
          reloadFrom(data.position || 1);
        } else if (event === "conversation.updated" && data.title !== undefined) {
          showThreadTitle(data.title);
        }
      },
    };
  }

  // --- live updates -----------------------------------------------------------------------

  function setupLive(thread) {
    if (!window.EventSource || !$("#sidebar")) return;
    const source = new EventSource("/api/v1/events");
    const types = [
      "message.created", "message.updated", "message.delta", "message.completed",
      "conversation.created", "conversation.updated", "conversation.deleted",
      "conversation.restored", "conversation.removed", "participant.added",
      "participant.removed", "read", "path.changed",
    ];
    types.forEach((type) => {
      source.addEventListener(type, (message) => {
        const payload = JSON.parse(message.data);
        if (thread) thread.onEvent(type, payload);
        if (type !== "message.delta") refreshSidebar();
      });
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    focusableCode(document);
    setupTheme();
    setupDrawer();
    setupSidebarPaging();
    setupSignOut();
    const thread = setupThread();
    setupLive(thread);
  });
})();
