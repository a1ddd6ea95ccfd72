/* revenium-flow: clientside callbacks (namespace "revenium") and the drill-down's browser history. */
(function () {
  "use strict";
  var DRILL_STORE = "store-drill";
  var popped = null; // the drill path a back/forward navigation just restored (not pushed again)

  function noUpdate() {
    return window.dash_clientside.no_update;
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    revenium: {
      /* The badge says "starting" the moment Generate (or the overwrite confirmation) is clicked,
         before the generator process has written anything. With data in the file, Generate first
         asks for confirmation (server side), so only the confirmation sets it then. */
      startingBadge: function (_generate, _confirm, version, badge) {
        var nu = noUpdate();
        if (badge === "generating" || badge === "starting") {
          return [nu, nu];
        }
        var triggered = (window.dash_clientside.callback_context.triggered || []).map(function (t) {
          return t.prop_id;
        });
        var confirmed = triggered.some(function (p) {
          return p.indexOf("gen-confirm-ok") === 0;
        });
        var hasRows = version && version.rows > 0;
        return confirmed || !hasRows ? ["starting", "info"] : [nu, nu];
      },

      /* Each drill step is a browser history entry (same URL), so Back goes up one level. */
      drillHistory: function (drill) {
        var path = drill || [];
        var key = JSON.stringify(path);
        if (popped === key) {
          popped = null;
          return noUpdate();
        }
        var state = window.history.state || {};
        if (!Object.prototype.hasOwnProperty.call(state, "rfDrill")) {
          window.history.replaceState(Object.assign({}, state, { rfDrill: path }), "", window.location.href);
        } else if (JSON.stringify(state.rfDrill) !== key) {
          window.history.pushState({ rfDrill: path }, "", window.location.href);
        }
        return noUpdate();
      },
    },
  });

  window.addEventListener("popstate", function (event) {
    var state = event.state || {};
    if (!Object.prototype.hasOwnProperty.call(state, "rfDrill")) {
      return;
    }
    if (window.dash_clientside && window.dash_clientside.set_props) {
      popped = JSON.stringify(state.rfDrill || []);
      window.dash_clientside.set_props(DRILL_STORE, { data: state.rfDrill || [] });
    }
  });
})();
