// Live password rules: as the user types a new password, ask the server which rules of their
// policy it meets (POST with the CSRF token; the password never goes into a URL) and redraw
// the list. The server checks everything again when the form is submitted.
(function () {
  "use strict";
  var form = document.querySelector("form[data-check-url]");
  var list = document.getElementById("password-rules");
  if (!form || !list) return;
  var input = form.querySelector("input[name=new_password]");
  var csrf = form.querySelector("input[name=csrfmiddlewaretoken]");
  if (!input || !csrf) return;
  var timer = null;
  var seq = 0;

  function draw(rules) {
    var note = list.querySelector("[data-rule=history-note]");
    while (list.firstChild) list.removeChild(list.firstChild);
    rules.forEach(function (rule) {
      var li = document.createElement("li");
      li.setAttribute("data-rule", rule.code);
      li.className = rule.ok ? "met" : "unmet";
      var mark = document.createElement("span");
      mark.setAttribute("aria-hidden", "true");
      mark.textContent = rule.ok ? "✓" : "✗";
      var msg = document.createElement("span");
      msg.className = "msg";
      msg.textContent = rule.message;
      var sr = document.createElement("span");
      sr.className = "sr-only";
      sr.textContent = rule.ok ? " (met)" : " (not met)";
      li.appendChild(mark);
      li.appendChild(document.createTextNode(" "));
      li.appendChild(msg);
      li.appendChild(sr);
      list.appendChild(li);
    });
    if (note) list.appendChild(note);
    list.setAttribute("data-state", "checked");
  }

  function check() {
    var mine = ++seq;
    fetch(form.getAttribute("data-check-url"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf.value, Accept: "application/json" },
      body: JSON.stringify({ password: input.value }),
    })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data && data.rules && mine === seq) draw(data.rules); })
      .catch(function () { /* the submission is checked by the server anyway */ });
  }

  input.addEventListener("input", function () {
    list.setAttribute("data-state", "checking");
    if (timer) clearTimeout(timer);
    timer = setTimeout(check, 200);
  });
})();
