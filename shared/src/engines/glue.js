// Hookflow's entry point into the bundled engines (engines.js): evaluates one expression with
// math.js or formula.js, as NocoBase's evaluators do, with values crossing as JSON text both
// ways. Compiled expressions are kept per source text, so each is parsed once per runtime.
//
// One runtime serves every workflow of its thread, so an expression must not change what the
// next one sees: math.js's mutating functions are disabled (its own security advice),
// formula.js's functions and JSON are frozen, the engines are taken off the global object, and
// this entry point keeps its own references to everything it uses. (The built-in prototypes stay writable: freezing them breaks math.js's
// lazily built functions, which assign `toString` and the like on their prototypes.)
(function () {
  'use strict';
  var KEEP = 1024;
  var compiled = { 'math.js': new Map(), 'formula.js': new Map() };
  var compileMath = mathjs.compile;
  var round = mathjs.round;
  var isMatrix = mathjs.isMatrix;
  var functions = formulajs;
  var parseJson = JSON.parse;
  var toJson = JSON.stringify;
  var isFinite = Number.isFinite;
  var makeFunction = Function;

  mathjs.import({
    'import': function () { throw new Error('Function import is disabled'); },
    'createUnit': function () { throw new Error('Function createUnit is disabled'); }
  }, { override: true });

  function compile(engine, source) {
    var cache = compiled[engine];
    var code = cache.get(source);
    if (code === undefined) {
      if (cache.size >= KEEP) cache.clear();
      if (engine === 'math.js') {
        code = compileMath(source);
      } else {
        // NocoBase runs a formula.js expression as JavaScript with formula.js's functions and
        // the bound values as globals; here, as names in scope.
        code = makeFunction('__functions', '__values', 'with (__functions) { with (__values) { return (' + source + '\n); } }');
      }
      cache.set(source, code);
    }
    return code;
  }

  // NocoBase's post-processing of a result: numbers rounded to 9 decimals, non-finite ones
  // null, matrices as arrays.
  function finish(result) {
    if (typeof result === 'number') {
      return isFinite(result) ? round(result, 9) : null;
    }
    if (isMatrix(result)) return result.toArray();
    return result;
  }

  function evaluate(engine, source, valuesJson) {
    var values = parseJson(valuesJson);
    var code = compile(engine, source);
    var result = engine === 'math.js' ? code.evaluate(values) : code(functions, values);
    var text = toJson(finish(result));
    return text === undefined ? 'null' : text;
  }

  Object.defineProperty(globalThis, '__hookflowEvaluate', { value: evaluate, writable: false, configurable: false });
  Object.freeze(functions);
  Object.freeze(JSON);
  // Reachable from here only: a formula.js expression cannot reach the math.js instance.
  delete globalThis.mathjs;
  delete globalThis.formulajs;
})();
