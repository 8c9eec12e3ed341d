// Hookflow's entry point into the bundled engines (engines.js): evaluates one expression with
// math.js or formula.js, as NocoBase's evaluators do, with values crossing as JSON text both
// ways. Compiled expressions are kept per source text, so each is parsed once per runtime.
(function () {
  'use strict';
  var KEEP = 1024;
  var compiled = { 'math.js': new Map(), 'formula.js': new Map() };

  function compile(engine, source) {
    var cache = compiled[engine];
    var code = cache.get(source);
    if (code === undefined) {
      if (cache.size >= KEEP) cache.clear();
      if (engine === 'math.js') {
        code = mathjs.compile(source);
      } else {
        // NocoBase runs a formula.js expression as JavaScript with formula.js's functions and
        // the bound values as globals; here, as names in scope.
        code = new Function('__functions', '__values', 'with (__functions) { with (__values) { return (' + source + '\n); } }');
      }
      cache.set(source, code);
    }
    return code;
  }

  // NocoBase's post-processing of a result: numbers rounded to 9 decimals, non-finite ones
  // null, matrices as arrays.
  function finish(result) {
    if (typeof result === 'number') {
      return Number.isFinite(result) ? mathjs.round(result, 9) : null;
    }
    if (mathjs.isMatrix(result)) return result.toArray();
    return result;
  }

  globalThis.__hookflowEvaluate = function (engine, source, valuesJson) {
    var values = JSON.parse(valuesJson);
    var code = compile(engine, source);
    var result = engine === 'math.js' ? code.evaluate(values) : code(formulajs, values);
    var text = JSON.stringify(finish(result));
    return text === undefined ? 'null' : text;
  };
})();
