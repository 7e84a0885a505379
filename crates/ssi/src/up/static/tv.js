// The TV page: builds one TV per device (the app's view, and the device's system
// screen over it while the app waits for the owner), follows each app's state and
// the app server's activity. Text is set with textContent only.
"use strict";

const apps = new Map(); // device number -> latest app state
let selected = 1;

function $(id) { return document.getElementById(id); }

function element(tag, attributes, text) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) { node.setAttribute(name, value); }
  if (text !== undefined) { node.textContent = text; }
  return node;
}

function fillList(list, items, empty) {
  list.replaceChildren();
  if (items.length === 0) { list.append(element("li", { class: "empty" }, empty)); }
  for (const item of items) { list.append(item); }
  list.scrollTop = list.scrollHeight;
}

function select(number) {
  selected = number;
  for (const tab of document.querySelectorAll(".tabs button")) {
    const isSelected = tab.dataset.device === String(number);
    tab.setAttribute("aria-selected", isSelected ? "true" : "false");
    tab.tabIndex = isSelected ? 0 : -1;
  }
  for (const tv of document.querySelectorAll(".tv")) {
    tv.hidden = tv.dataset.device !== String(number);
  }
  if (location.hash !== "#device-" + number) { history.replaceState(null, "", "#device-" + number); }
  renderCalls();
}

function renderCalls() {
  const state = apps.get(selected);
  const calls = state ? state.calls : [];
  fillList($("calls"), calls.map((call) => {
    const item = element("li");
    item.append(element("code", {}, call.call), document.createTextNode(" \u2192 " + call.outcome));
    return item;
  }), "none yet");
}

function renderDevice(number, state) {
  apps.set(number, state);
  const tv = $("tv-" + number);
  const up = state.screen.kind === "busy" && state.screen.onSystemScreen;
  tv.classList.toggle("system-screen-up", up);
  $("screen-" + number).setAttribute("aria-hidden", up ? "false" : "true");
  if (number === selected) { renderCalls(); }
}

async function followApp(device) {
  let version = -1;
  for (;;) {
    try {
      const query = version < 0 ? "" : "?after=" + version;
      const response = await fetch(device.appUrl + "state" + query, { cache: "no-store" });
      const state = await response.json();
      version = state.version;
      renderDevice(device.number, state);
    } catch (e) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

async function followBackend() {
  for (;;) {
    try {
      const response = await fetch("backend/events", { cache: "no-store" });
      const body = await response.json();
      fillList($("events"), body.events.map((event) => {
        const at = new Date(event.at * 1000).toLocaleTimeString();
        const item = element("li");
        item.append(element("time", {}, at), document.createTextNode(" " + event.text));
        return item;
      }), "nothing yet");
    } catch (e) { /* the next round tries again */ }
    await new Promise((resolve) => setTimeout(resolve, 1500));
  }
}

function buildTv(device) {
  const tab = element("button", {
    id: "device-" + device.number, role: "tab", type: "button", "data-device": String(device.number),
  }, device.number + "  " + device.name);
  tab.addEventListener("click", () => select(device.number));
  tab.addEventListener("keydown", (event) => {
    if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
      const tabs = [...document.querySelectorAll(".tabs button")];
      const index = tabs.indexOf(tab) + (event.key === "ArrowRight" ? 1 : -1);
      const next = tabs[(index + tabs.length) % tabs.length];
      next.focus();
      select(Number(next.dataset.device));
    }
  });
  document.querySelector(".tabs").append(tab);

  const tv = element("div", { id: "tv-" + device.number, class: "tv", "data-device": String(device.number) });
  const app = element("iframe", {
    id: "app-" + device.number, class: "app", src: device.appUrl, title: "The app on " + device.name,
  });
  const screen = element("iframe", {
    id: "screen-" + device.number, class: "system", src: device.screenUrl,
    title: "The system screen of " + device.name, "aria-hidden": "true",
  });
  const label = element("span", { class: "label" }, "System screen of " + device.name);
  tv.append(app, screen, label);
  $("tvs").append(tv);
}

async function start() {
  const response = await fetch("tv.json", { cache: "no-store" });
  const tv = await response.json();
  $("link-account").href = tv.links.account;
  $("link-console").href = tv.links.console;
  $("link-partner").href = tv.links.partner;
  $("settings-link").href = tv.links.account;
  $("account-email").textContent = tv.links.email;
  $("account-credentials").textContent = tv.links.email + " / " + tv.links.password;
  $("first-user").textContent = tv.links.users[0];
  for (const device of tv.devices) { buildTv(device); }
  const fromHash = Number((location.hash.match(/^#device-(\d+)$/) || [])[1]);
  select(tv.devices.some((d) => d.number === fromHash) ? fromHash : 1);
  for (const device of tv.devices) { followApp(device); }
  followBackend();
}

document.addEventListener("DOMContentLoaded", start);
