/* Spreadsheet-safe CSV exports from AG Grid (issue 11): the rule of metering/csv_safety.py.
 * dashboard.components.blocks.csv_export_params passes the formula prefixes and the quote from Python,
 * so the rule has one home. Text starting with a prefix gets the quote in front; numbers stay numbers. */
window.dashAgGridFunctions = window.dashAgGridFunctions || {};
window.dashAgGridFunctions.neutralizeCsvCell = function (params, prefixes, quote) {
  var value = params.value;
  if (typeof value !== "string") {
    return value;
  }
  for (var i = 0; i < prefixes.length; i++) {
    if (value.indexOf(prefixes[i]) === 0) {
      return quote + value;
    }
  }
  return value;
};
