// Loaded between require.js and the ipywidgets HTML manager (nb_ipywidgets_js in _config.yml)
// on pages that show widgets. Written for this book, not vendored.
(function () {
  "use strict";
  // 1. The manager finds its fonts next to the AMD module it defines: map that module to
  //    _static/widgets/ (this file is _static/widgets-setup.js); by default they resolve
  //    next to the page and 404.
  var widgets = new URL("widgets", document.currentScript.src).href;
  window.require.config({ paths: { "@jupyter-widgets/html-manager/dist": widgets } });

  // 2. Widgets typeset their labels with the MathJax 2 API (MathJax.Hub.Queue); the book
  //    loads MathJax 3. Bridge the call, and keep the bridge when MathJax 3 starts up and
  //    replaces the global MathJax object.
  var pending = [];
  var hub = {
    Queue: function (job) {
      var element = job && job[2];
      var mj = window.MathJax;
      if (mj && mj.startup && mj.startup.promise && mj.typesetPromise) {
        mj.startup.promise.then(function () { return mj.typesetPromise(element ? [element] : undefined); });
      } else if (element) {
        pending.push(element);
      }
    },
  };
  function install() {
    var mj = window.MathJax;
    if (mj && !mj.Hub) { mj.Hub = hub; }
    if (mj && mj.typesetPromise && pending.length) {
      var elements = pending.splice(0);
      mj.startup.promise.then(function () { return mj.typesetPromise(elements); });
    }
  }
  install();
  document.addEventListener("DOMContentLoaded", install);
  window.addEventListener("load", install);
})();
