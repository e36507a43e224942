// The console works without this script; with it, actions confirm in a dialog and the live
// parts of a page ([data-live][id]) refresh every two seconds without a reload.
"use strict";

const REFRESH_MS = 2000;

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.dataset.confirm) return;
  if (!window.confirm(form.dataset.confirm)) {
    event.preventDefault();
    return;
  }
  const confirmed = document.createElement("input");
  confirmed.type = "hidden";
  confirmed.name = "confirmed";
  confirmed.value = "1";
  form.appendChild(confirmed);
});

function busy(region) {
  // Never swap a part the user is about to click or is typing in.
  return region.querySelector("button:hover, a:hover, :focus") !== null;
}

async function refresh() {
  if (document.visibilityState !== "visible") return;
  let answer;
  try {
    answer = await fetch(window.location.href, {
      headers: { "X-Console-Live": "1" },
      cache: "no-store",
    });
  } catch {
    return; // the emulator is restarting: try again at the next tick
  }
  if (!answer.ok) return;
  const fresh = new DOMParser().parseFromString(await answer.text(), "text/html");
  for (const part of fresh.querySelectorAll("[data-live][id]")) {
    const current = document.getElementById(part.id);
    if (current && !busy(current) && current.innerHTML !== part.innerHTML) {
      current.innerHTML = part.innerHTML;
    }
  }
  document.documentElement.dataset.refreshed = String(Date.now());
}

if (document.querySelector("[data-live]")) {
  window.setInterval(refresh, REFRESH_MS);
}
