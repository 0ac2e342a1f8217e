/* Figures to explore (rnnbook.explore): each .rnnbook-explore holds its frames as JSON and a static
   image. With Plotly on the page (book/_ext/rnnbook_explore.py adds it where needed) the image gives
   way to a Plotly figure; moving a slider shows the stored frame for the sliders' new positions.
   Without Plotly (Colab, Jupyter, a print) the static image stays. Nothing here requests anything. */
(function () {
  "use strict";
  function explore(id) {
    if (document.readyState === "loading") {  // the page's layout first: Plotly sizes the figure to its box
      document.addEventListener("DOMContentLoaded", function () { explore(id); });
      return;
    }
    var el = typeof id === "string" ? document.getElementById(id) : id;
    if (!el || el.dataset.ready || !window.Plotly) return;
    el.dataset.ready = "1";
    var spec = JSON.parse(el.querySelector("script.rnnbook-explore-spec").textContent);
    var plot = document.createElement("div");
    plot.className = "rnnbook-explore-plot";
    plot.setAttribute("role", "img");
    var image = el.querySelector("img.rnnbook-explore-static");
    if (image) plot.setAttribute("aria-label", image.alt);
    el.appendChild(plot);
    var active = spec.initial === "" ? [] : spec.initial.split(",").map(Number);
    // A frame is a list of traces, or {data, layout}: its layout patch replaces the layout's keys,
    // and an object (an axis, a title) is merged into the layout's object of that name.
    // Each drawing gets a fresh copy of the stored layout (Plotly.react compares objects, and keeps
    // what a resize wrote into the old one), the frame's patch and the sliders' positions.
    function render(frame) {
      var layout = JSON.parse(JSON.stringify(spec.layout));
      var patch = Array.isArray(frame) ? {} : frame.layout || {};
      Object.keys(patch).forEach(function (k) {
        var v = patch[k];
        layout[k] = v && typeof v === "object" && !Array.isArray(v) ? Object.assign({}, layout[k] || {}, v) : v;
      });
      (layout.sliders || []).forEach(function (s, i) { s.active = active[i]; });
      return [Array.isArray(frame) ? frame : frame.data, layout];
    }
    var config = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["sendChartToCloud", "sendDataToCloud", "lasso2d", "select2d"], showSendToCloud: false, showEditInChartStudio: false, showLink: false };
    // the box's height is the figure's (Plotly's responsive mode sizes the figure to its box)
    if (spec.layout.height) plot.style.height = spec.layout.height + "px";
    var first = render(spec.frames[spec.initial]);
    Plotly.newPlot(plot, first[0], first[1], config).then(function () {
      el.classList.add("rnnbook-explore-live");
      el.dataset.frame = spec.initial;
      // follow the box's width (the sidebar opening or closing, a phone turned), not only the window's
      if (window.ResizeObserver) new ResizeObserver(function () { Plotly.Plots.resize(plot); }).observe(el);
      Plotly.Plots.resize(plot);
    });
    plot.on("plotly_sliderchange", function (event) {
      var sliders = plot._fullLayout.sliders || [];
      var k = sliders.findIndex(function (s) { return s._index === event.slider._index; });
      if (k < 0) k = 0;
      active[k] = event.step._index;
      var key = active.join(",");
      if (!(key in spec.frames)) return;
      var next = render(spec.frames[key]);
      Plotly.react(plot, next[0], next[1], config).then(function () { el.dataset.frame = key; });
    });
  }
  window.rnnbookExplore = explore;
  function all() { document.querySelectorAll(".rnnbook-explore").forEach(explore); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", all);
  else all();
  window.addEventListener("load", function () {  // fonts and images in: sizes are final
    document.querySelectorAll(".rnnbook-explore-live .rnnbook-explore-plot").forEach(function (p) { Plotly.Plots.resize(p); });
  });
})();
