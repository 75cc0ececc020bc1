/* Message page: follows the message live. When its status or history changes, the
   page's live regions (badge, history, details) are fetched again and swapped in. */
(function () {
  "use strict";

  const root = document.querySelector("[data-message-page]");
  if (!root || root.dataset.terminal === "true") return;
  const note = document.querySelector("[data-live-note]");
  let status = root.dataset.status;
  let events = Number(root.dataset.events);

  window.smsgateway.pollStatus(root.dataset.statusUrl, {
    interval: 1000,
    maxMs: 120000,
    onUpdate: async (data) => {
      if (data.status !== status || data.events !== events) {
        status = data.status;
        events = data.events;
        root.dataset.status = status;
        await window.smsgateway.refreshLive();
      }
      if (data.terminal && note) note.hidden = true;
    },
    onGiveUp: () => { if (note) note.hidden = true; },
  });
})();
