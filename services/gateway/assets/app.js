// cinerec web app: small progressive enhancement. Every page works without it.
"use strict";
// Activity for analytics (clicks on recommended movies, movie views, searches), sent to the
// gateway's POST /events; signed-out visitors get a random anonymous id kept in localStorage.
const activity = (() => {
  const id = () => (crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2) + Date.now()).replace(/[^A-Za-z0-9_-]/g, "");
  let anonymous = null;
  try {
    anonymous = localStorage.getItem("cinerec_anonymous_id");
    if (!anonymous) { anonymous = "web-" + id(); localStorage.setItem("cinerec_anonymous_id", anonymous); }
  } catch (_) { anonymous = "web-" + id(); }
  const signedIn = () => document.body.dataset.signedIn === "1";
  return (type, fields) => {
    const event = Object.assign({ event_id: id(), event_type: type, occurred_at: new Date().toISOString() }, fields);
    if (!signedIn()) event.anonymous_id = anonymous;
    const body = JSON.stringify({ events: [event] });
    // A beacon survives the navigation a click starts; fetch with keepalive where there is none.
    const blob = new Blob([body], { type: "application/json" });
    if (!(navigator.sendBeacon && navigator.sendBeacon("/events", blob))) {
      fetch("/events", { method: "POST", body, keepalive: true, headers: { "Content-Type": "application/json" } }).catch(() => {});
    }
  };
})();

document.addEventListener("DOMContentLoaded", () => {
  // Clicks on movies of a recommendation list (home, similar movies).
  document.addEventListener("click", (event) => {
    const card = event.target.closest && event.target.closest("li.card[data-recommendation-id]");
    if (!card || !event.target.closest("a")) return;
    activity("click", {
      recommendation_id: card.dataset.recommendationId,
      position: Number(card.dataset.position),
      movie_id: Number(card.dataset.movieId),
      context: { page: location.pathname },
    });
  });
  // A movie page seen.
  const viewed = document.querySelector("[data-view-movie-id]");
  if (viewed) activity("view", { movie_id: Number(viewed.dataset.viewMovieId), context: { page: location.pathname } });
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
      const q = params.get("q");
      if (seq === latest && q) activity("search", { context: { q } });
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
