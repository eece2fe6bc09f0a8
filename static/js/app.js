// chatapp: what JavaScript adds to pages that work without it — posting in place, streamed
// replies with Stop, live updates, older messages on scroll, the theme toggle, the drawer.
"use strict";

(function () {
  const $ = (selector, root = document) => root.querySelector(selector);
  const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

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
      button.setAttribute("aria-label", `Switch to ${dark ? "light" : "dark"} mode`);
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
    }, 250);
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
    const conversationId = thread.dataset.conversationId;
    const rowsUrl = thread.dataset.rowsUrl;
    const list = $("#messages");
    const composer = $("#composer");
    const textarea = $("#composer-text");
    const stopButton = $("#stop");
    const regenerateButton = $("#regenerate");
    let streamingMessageId = null;

    const lastSeq = () => {
      const rows = $$(".message[data-seq]", list);
      return rows.length ? Number(rows[rows.length - 1].dataset.seq) : 0;
    };
    const atBottom = () => list.scrollHeight - list.scrollTop - list.clientHeight < 80;
    const scrollToBottom = () => { list.scrollTop = list.scrollHeight; };

    if (!location.hash) scrollToBottom();

    // The header's count follows new rows: seq has no gaps, so the newest seq is the count.
    const count = $("#message-count");
    function updateCount() {
      const total = lastSeq();
      if (!count || total <= Number(count.dataset.count)) return;
      count.dataset.count = total;
      count.textContent = `${total} message${total === 1 ? "" : "s"}`;
    }

    // Insert server-rendered rows: replace rows already shown (same seq), append the rest.
    function placeRows(html) {
      const stick = atBottom();
      const rows = fragment(html);
      $$(".message[data-seq]", rows).forEach((row) => {
        const existing = $(`.message[data-seq="${row.dataset.seq}"]`, list);
        if (existing) {
          // The reply streaming into this page keeps its row; the saved one replaces it at
          // the end (a live event for it can arrive while it streams).
          if (streamingMessageId && existing.dataset.messageId === streamingMessageId) return;
          existing.replaceWith(row);
        } else {
          const newer = $$(".message[data-seq]", list).find((m) => Number(m.dataset.seq) > Number(row.dataset.seq));
          const pending = $(".message.pending", list);
          list.insertBefore(row, newer || pending || null);
        }
      });
      if (stick) scrollToBottom();
      updateRegenerate();
      updateCount();
    }

    async function loadAfter(seq) {
      const response = await fetch(`${rowsUrl}?after=${seq}`, { credentials: "same-origin" });
      if (response.ok) placeRows(await response.text());
    }

    function updateRegenerate() {
      if (!regenerateButton) return;
      const rows = $$(".message[data-seq]", list);
      const last = rows[rows.length - 1];
      regenerateButton.hidden = !(last && last.classList.contains("role-assistant")) || streamingMessageId !== null;
    }

    let readTimer = null;
    function markRead() {
      clearTimeout(readTimer);
      readTimer = setTimeout(() => api(`/api/v1/conversations/${conversationId}/read`, { method: "POST", json: {} }), 500);
    }

    // Older messages: on scroll to the top, or on the link without waiting.
    async function loadOlder() {
      const older = $("#older");
      if (!older || older.dataset.loading) return;
      older.dataset.loading = "1";
      const first = $(".message[data-seq]", list);
      const before = first ? first.dataset.seq : 1;
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

    // --- posting ---
    function pendingRow(text) {
      const row = document.createElement("div");
      row.className = "message role-user mine pending";
      const head = document.createElement("div");
      head.className = "message-head";
      head.innerHTML = '<span class="sender">You</span><span class="status">sending…</span>';
      const body = document.createElement("div");
      body.className = "md body streaming-text";
      body.textContent = text;
      row.append(head, body);
      list.appendChild(row);
      scrollToBottom();
      return row;
    }

    async function send(text, clientId, row) {
      row.classList.remove("failed");
      $(".status", row).textContent = "sending…";
      $$(".retry", row).forEach((button) => button.remove());
      try {
        const response = await api(composer.dataset.apiUrl, {
          method: "POST",
          json: { content: text, client_message_id: clientId },
        });
        if (!response.ok) {
          const body = await response.json().catch(() => ({}));
          throw new Error((body.error && body.error.message) || `HTTP ${response.status}`);
        }
        const message = await response.json();
        row.remove();
        await loadAfter(message.seq - 1);
        if (thread.dataset.kind === "assistant") startReply(false);
      } catch (error) {
        row.classList.add("failed");
        $(".status", row).textContent = `not sent: ${error.message}`;
        const retry = document.createElement("button");
        retry.type = "button";
        retry.className = "small retry";
        retry.textContent = "Retry";
        retry.addEventListener("click", () => send(text, clientId, row));
        $(".message-head", row).appendChild(retry);
      }
    }

    if (composer && textarea) {
      textarea.addEventListener("keydown", (event) => {
        if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
          event.preventDefault();
          composer.requestSubmit();
        }
      });
      composer.addEventListener("submit", (event) => {
        event.preventDefault();
        const text = textarea.value;
        if (!text.trim()) return;
        textarea.value = "";
        const clientId = crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random();
        send(text, clientId, pendingRow(text));
        textarea.focus();
      });
    }

    // --- streamed replies ---
    async function startReply(regenerate) {
      if (streamingMessageId) return;
      streamingMessageId = "starting";
      if (stopButton) stopButton.hidden = false;
      updateRegenerate();
      let row = null;
      let text = null;
      let seq = null;
      try {
        const response = await api(`/api/v1/conversations/${conversationId}/reply`, {
          method: "POST",
          json: { regenerate },
        });
        if (!response.ok) {
          const body = await response.json().catch(() => ({}));
          throw new Error((body.error && body.error.message) || `HTTP ${response.status}`);
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
              seq = data.seq;
              row = $(`.message[data-seq="${seq}"]`, list);
              const fresh = document.createElement("div");
              fresh.className = "message role-assistant status-streaming";
              fresh.id = `m${seq}`;
              fresh.dataset.seq = seq;
              fresh.dataset.messageId = data.message_id;
              fresh.innerHTML = '<div class="message-head"><span class="sender">Assistant</span><span class="status">writing…</span></div>';
              text = document.createElement("div");
              text.className = "md body streaming-text";
              fresh.appendChild(text);
              if (row) row.replaceWith(fresh); else list.appendChild(fresh);
              row = fresh;
              updateCount();
              scrollToBottom();
            } else if (name === "delta" && text && data.text) {
              const stick = atBottom();
              text.append(data.text);
              if (stick) scrollToBottom();
            }
          }
        }
      } catch (error) {
        const note = document.createElement("p");
        note.className = "error-note";
        note.setAttribute("role", "alert");
        note.textContent = `The assistant could not answer: ${error.message}`;
        list.appendChild(note);
      } finally {
        streamingMessageId = null;
        if (stopButton) stopButton.hidden = true;
        if (seq !== null) await loadAfter(seq - 1);
        updateRegenerate();
        markRead();
      }
    }

    // Someone else's streaming reply (another tab, another person): each delta says where
    // its text starts in the reply (`offset`, in characters), and the row says how much it
    // holds (`data-length`), so text fetched with the row is not added twice, and a gap
    // (a missed delta) fetches the row again.
    function appendDelta(row, body, data) {
      if (typeof data.offset !== "number") {
        body.append(data.text);
        return;
      }
      const have = Number(body.dataset.length || 0);
      if (data.offset > have) {
        if (!row.dataset.refetching) {
          row.dataset.refetching = "1";
          loadAfter(Number(row.dataset.seq) - 1);
        }
        return;
      }
      const fresh = Array.from(data.text).slice(have - data.offset);
      if (!fresh.length) return;
      const stick = atBottom();
      body.append(fresh.join(""));
      body.dataset.length = String(have + fresh.length);
      if (stick) scrollToBottom();
    }

    if (stopButton) {
      stopButton.addEventListener("click", () => {
        if (streamingMessageId && streamingMessageId !== "starting") {
          api(`/api/v1/messages/${streamingMessageId}/abort`, { method: "POST" });
        }
      });
    }
    if (regenerateButton) regenerateButton.addEventListener("click", () => startReply(true));

    return {
      conversationId,
      onEvent(event, payload) {
        if (payload.conversation_id !== conversationId) return;
        const data = payload.data || {};
        if (event === "message.delta") {
          if (data.message_id === streamingMessageId) return;
          const row = $(`.message[data-message-id="${data.message_id}"]`, list);
          const body = row && $(".streaming-text", row);
          if (body) appendDelta(row, body, data);
          else if (!row) loadAfter(lastSeq()); // once: the next deltas find the row
          return;
        }
        if (event.startsWith("message.")) {
          if (data.message_id === streamingMessageId) return;
          loadAfter(Math.min(lastSeq(), (data.seq || 1) - 1));
          markRead();
        } else if (event === "conversation.updated" && data.title !== undefined) {
          $("#thread-title").textContent = data.title || "Untitled";
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
      "participant.removed", "read",
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
    const thread = setupThread();
    setupLive(thread);
  });
})();
