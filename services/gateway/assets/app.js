// cinerec web app: small progressive enhancement. Every page works without it.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Search as you type: the results fragment replaces #results.
  for (const input of document.querySelectorAll("[data-live-search]")) {
    const target = document.querySelector(input.dataset.liveSearch);
    const form = input.form;
    let timer;
    let latest = 0;
    const run = async () => {
      const params = new URLSearchParams(new FormData(form));
      const seq = ++latest;
      history.replaceState(null, "", "/search?" + params);
      params.set("partial", "1");
      const answer = await fetch("/search?" + params, { headers: { "X-Requested-With": "fetch" } });
      if (seq === latest && answer.ok) target.innerHTML = await answer.text();
    };
    input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(run, 200); });
    for (const other of form.querySelectorAll("select, input[type=number]")) other.addEventListener("change", run);
  }
  // Rating without a reload.
  for (const form of document.querySelectorAll("form[data-enhance=rating]")) {
    const status = form.querySelector("[role=status]");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = new URLSearchParams(new FormData(form));
      if (!body.get("rating")) { status.textContent = "Choose a rating first."; return; }
      status.textContent = "Saving…";
      const answer = await fetch(form.action, {
        method: "POST",
        body,
        headers: { "X-Requested-With": "fetch", "Content-Type": "application/x-www-form-urlencoded" },
      });
      if (!answer.ok) { status.textContent = "Could not save the rating."; return; }
      const saved = await answer.json();
      status.textContent = "Saved: " + saved.rating + " stars.";
      const mean = document.getElementById("mean");
      if (mean && saved.count > 0) mean.textContent = "Rated " + saved.mean.toFixed(1) + " / 5 by " + saved.count + (saved.count === 1 ? " person" : " people");
    });
  }
});
