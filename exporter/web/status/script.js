(function () {
  var form = document.getElementById("controls");
  var q = document.getElementById("filter"), p = document.getElementById("problems");
  var asked = 0, timer = null;
  form.querySelector("button").hidden = true;  // the view follows typing; without a script, the button applies it
  function search() {
    var u = new URLSearchParams(), t = q.value.trim();
    if (t) u.set("filter", t);
    if (p.checked) u.set("problems", "1");
    var s = u.toString();
    return s ? "?" + s : "";
  }
  function local() {  // every customer is on the page: filter it in place, as the server would
    var rows = document.querySelectorAll("#fleet tbody tr"), t = q.value.trim().toLowerCase(), n = 0;
    Array.prototype.forEach.call(rows, function (r) {
      var hide = (p.checked && r.dataset.problem !== "1") || (t !== "" && r.dataset.search.indexOf(t) < 0);
      r.hidden = hide;
      if (!hide) n++;
    });
    document.getElementById("shown").textContent = n + " of " + rows.length + " customers shown";
  }
  function remote(s) {  // ask the server for the view's first page and put its rows in place of these
    var mine = ++asked;
    fetch(location.pathname + s, {headers: {"Accept": "text/html"}}).then(function (r) {
      return r.ok ? r.text() : Promise.reject(new Error(r.status));
    }).then(function (text) {
      if (mine !== asked) return;  // a later keystroke's answer wins
      var doc = new DOMParser().parseFromString(text, "text/html");
      ["rows", "pager", "shown"].forEach(function (id) {
        document.getElementById(id).replaceWith(document.adoptNode(doc.getElementById(id)));
      });
      form.dataset.complete = doc.getElementById("controls").dataset.complete;
      if (form.dataset.complete === "1") local();
    }).catch(function () {
      location.replace(location.pathname + s);  // a plain navigation shows whatever went wrong
    });
  }
  function apply() {
    var s = search();
    history.replaceState(null, "", location.pathname + s);
    if (form.dataset.complete === "1") {
      local();
      return;
    }
    clearTimeout(timer);
    timer = setTimeout(function () { remote(s); }, 150);
  }
  q.addEventListener("input", apply);
  p.addEventListener("change", apply);
  form.addEventListener("submit", function (e) { e.preventDefault(); clearTimeout(timer); remote(search()); });
})();
