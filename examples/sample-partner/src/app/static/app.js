// The sample app's page: renders the app's state (long-polled as JSON) and
// posts the user's actions. Text is set with textContent only.
"use strict";

const sections = ["welcome", "busy", "form", "signed-in"];
let version = -1;
let shown = null;

function $(id) { return document.getElementById(id); }

function setText(id, text) {
  const element = $(id);
  element.textContent = text || "";
  element.hidden = !text;
}

function show(id) {
  for (const section of sections) { $(section).hidden = section !== id; }
  if (shown !== id) {
    shown = id;
    // Remote-friendly: the first control of the new view has the focus.
    const first = $(id).querySelector("input, button");
    if (first) { first.focus(); }
  }
}

function render(state) {
  $("app-name").textContent = state.app;
  for (const name of document.querySelectorAll(".name")) { name.textContent = state.app; }
  $("device").textContent = "on " + state.device;
  document.title = state.app;
  const screen = state.screen;
  switch (screen.kind) {
    case "welcome":
      show("welcome");
      break;
    case "busy":
      $("busy-text").textContent = screen.text;
      show("busy");
      break;
    case "signInForm":
      setText("notice", screen.notice);
      setText("error", screen.error);
      show("form");
      break;
    case "signedIn":
      $("signed-in-as").textContent = "Signed in as " + screen.user.username;
      $("method").textContent = screen.method === "SIMPLE_SIGN_IN"
        ? "with Simple Sign-In (one click on the TV's screen)"
        : "with a password";
      setText("note", screen.note);
      $("password").value = "";
      show("signed-in");
      break;
  }
}

async function act(body) {
  await fetch("action", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
}

async function poll() {
  for (;;) {
    try {
      const url = version < 0 ? "state" : "state?after=" + version;
      const response = await fetch(url, { cache: "no-store" });
      const state = await response.json();
      version = state.version;
      render(state);
    } catch (e) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("start").addEventListener("click", () => act({ action: "start" }));
  $("sign-out").addEventListener("click", () => act({ action: "signOut" }));
  $("sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    act({ action: "signIn", username: $("username").value, password: $("password").value });
  });
  poll();
});
