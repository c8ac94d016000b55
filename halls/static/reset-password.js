// The reset page (halls/auth/pages.py): sends the mailed token and the new password to
// POST /auth/reset-password and shows the API's answer. Nothing else is loaded or called.
"use strict";

(() => {
  const form = document.getElementById("reset-form");
  const status = document.getElementById("status");
  const button = form.querySelector("button");
  const labels = { token: "Reset token", new_password: "New password" };

  // The token stays in the form: not in the address bar, the history or a bookmark.
  if (window.location.search) {
    window.history.replaceState(null, "", window.location.pathname);
  }

  function show(kind, text) {
    status.hidden = false;
    status.className = `status ${kind}`;
    status.textContent = text;
  }

  // The envelope's message, and for a 422 what each field got wrong.
  function explain(error) {
    const lines = [error.message];
    for (const [field, messages] of Object.entries(error.details || {})) {
      if (Array.isArray(messages)) {
        lines.push(`${labels[field] || field}: ${messages.join(" ")}`);
      }
    }
    return lines.join("\n");
  }

  async function send(token, password) {
    const response = await fetch(form.dataset.api, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ token, new_password: password }),
      credentials: "omit",
    });
    try {
      return await response.json();
    } catch {
      return { ok: false, error: { message: `The server answered ${response.status}; try again later.` } };
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const password = form.elements.new_password.value;
    if (password !== form.elements.repeat_password.value) {
      show("error", "The two passwords are not the same.");
      return;
    }
    button.disabled = true;
    show("pending", "Saving…");
    try {
      const body = await send(form.elements.token.value.trim(), password);
      if (body.ok) {
        form.hidden = true;
        show("success", body.data.message);
      } else {
        show("error", explain(body.error));
      }
    } catch {
      show("error", "The server could not be reached. Check the connection and try again.");
    } finally {
      button.disabled = false;
    }
  });
})();
