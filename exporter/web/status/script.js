(function () {
  var q = document.getElementById("filter"), p = document.getElementById("problems");
  var shown = document.getElementById("shown");
  var rows = Array.prototype.slice.call(document.querySelectorAll("#fleet tbody tr"));
  var text = rows.map(function (r) { return r.textContent.toLowerCase(); });
  var params = new URLSearchParams(location.search);
  q.value = params.get("filter") || "";
  p.checked = params.get("problems") === "1";
  function apply() {
    var t = q.value.trim().toLowerCase(), n = 0;
    rows.forEach(function (r, i) {
      var hide = (p.checked && r.dataset.problem !== "1") || (t !== "" && text[i].indexOf(t) < 0);
      r.hidden = hide;
      if (!hide) n++;
    });
    shown.textContent = n + " of " + rows.length + " customers shown";
    var u = new URLSearchParams();
    if (t) u.set("filter", q.value.trim());
    if (p.checked) u.set("problems", "1");
    var s = u.toString();
    history.replaceState(null, "", location.pathname + (s ? "?" + s : ""));
  }
  q.addEventListener("input", apply);
  p.addEventListener("change", apply);
  document.getElementById("controls").hidden = false;
  apply();
})();
