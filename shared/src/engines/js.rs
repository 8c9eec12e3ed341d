//! The `math.js` and `formula.js` engines, run by the real libraries (bundled in
//! `shared/js/engines.js`, see `scripts/build-js-engines.sh`) in an embedded QuickJS runtime.
//!
//! Each thread that evaluates gets a runtime of its own on first use (a runtime is not `Send`),
//! with the bundle loaded once. Every evaluation is bounded: in time (an interrupt handler stops
//! the interpreter at [`TIME_LIMIT`]) and in memory ([`MEMORY_LIMIT`] above what the loaded
//! engines take). A runtime that hit either limit is dropped and the next evaluation builds a
//! fresh one, so a hostile expression cannot leave state behind. The runtime has no I/O at all:
//! no module loader, no file, network or process access.
//!
//! Values cross as JSON text: the bound values in, the result out (as NocoBase stores a result:
//! a Date as its ISO text, a math.js unit or number type as its `toJSON` form).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use rquickjs::{Context, Function, Runtime};
use serde_json::Value;

/// The bundled engines.
const ENGINES: &str = include_str!("../../js/engines.js");
/// The entry point Hookflow calls.
const GLUE: &str = include_str!("glue.js");

/// Longest one evaluation may run.
pub const TIME_LIMIT: Duration = Duration::from_secs(1);
/// Memory one evaluation may take on top of the loaded engines.
pub const MEMORY_LIMIT: usize = 32 * 1024 * 1024;
/// Stack the interpreter may use (deep recursion ends in an error, not a crash).
const STACK_LIMIT: usize = 512 * 1024;

/// The two JavaScript engines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsEngine {
    MathJs,
    FormulaJs,
}

impl JsEngine {
    fn name(self) -> &'static str {
        match self {
            Self::MathJs => "math.js",
            Self::FormulaJs => "formula.js",
        }
    }
}

/// Why an evaluation gave no value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsError {
    /// The expression threw (a syntax error, an unknown function, a type error): its message.
    #[error("{0}")]
    Thrown(String),
    #[error("the expression ran longer than {TIME_LIMIT:?} and was stopped")]
    TimedOut,
    #[error("the expression needed more than {} MiB and was stopped", MEMORY_LIMIT / (1024 * 1024))]
    OutOfMemory,
    /// The runtime itself could not be set up.
    #[error("the expression engines could not start: {0}")]
    Unavailable(String),
}

struct Engines {
    /// Kept for its lifetime: the context refers to it.
    _runtime: Runtime,
    context: Context,
    /// When the running evaluation must stop; read by the interrupt handler.
    deadline: Rc<Cell<Option<Instant>>>,
}

thread_local! {
    static ENGINES_OF_THREAD: RefCell<Option<Engines>> = const { RefCell::new(None) };
}

impl Engines {
    fn start() -> Result<Self, JsError> {
        let unavailable = |e: rquickjs::Error| JsError::Unavailable(e.to_string());
        let runtime = Runtime::new().map_err(unavailable)?;
        runtime.set_max_stack_size(STACK_LIMIT);
        let deadline: Rc<Cell<Option<Instant>>> = Rc::new(Cell::new(None));
        let watched = deadline.clone();
        runtime.set_interrupt_handler(Some(Box::new(move || {
            watched.get().is_some_and(|at| Instant::now() >= at)
        })));
        let context = Context::full(&runtime).map_err(unavailable)?;
        context.with(|ctx| {
            ctx.eval::<(), _>(ENGINES)
                .map_err(|e| JsError::Unavailable(format!("loading the engines: {e}")))?;
            ctx.eval::<(), _>(GLUE).map_err(|e| JsError::Unavailable(format!("loading the entry point: {e}")))
        })?;
        runtime.run_gc();
        let loaded = usize::try_from(runtime.memory_usage().malloc_size).unwrap_or(0);
        runtime.set_memory_limit(loaded + MEMORY_LIMIT);
        Ok(Self { _runtime: runtime, context, deadline })
    }

    fn evaluate(&self, engine: JsEngine, source: &str, values: &str) -> Result<Value, JsError> {
        self.deadline.set(Some(Instant::now() + TIME_LIMIT));
        let outcome = self.context.with(|ctx| {
            let evaluate: Function =
                ctx.globals().get("__hookflowEvaluate").map_err(|e| JsError::Unavailable(e.to_string()))?;
            match evaluate.call::<_, String>((engine.name(), source, values)) {
                Ok(text) => serde_json::from_str(&text).map_err(|e| JsError::Thrown(e.to_string())),
                Err(rquickjs::Error::Exception) => Err(thrown(&ctx.catch())),
                Err(error) => Err(JsError::Thrown(error.to_string())),
            }
        });
        let timed_out = self.deadline.take().is_some_and(|at| Instant::now() >= at);
        match outcome {
            Err(JsError::Thrown(message)) if timed_out && message.contains("interrupted") => {
                Err(JsError::TimedOut)
            }
            Err(JsError::Thrown(message)) if message.contains("out of memory") => Err(JsError::OutOfMemory),
            other => other,
        }
    }
}

/// The text of a thrown value: an Error's `name: message`, anything else as a string.
fn thrown(value: &rquickjs::Value<'_>) -> JsError {
    if let Some(error) = value.as_exception() {
        let message = error.message().unwrap_or_default();
        let name = error.get::<_, String>("name").unwrap_or_else(|_| "Error".into());
        return JsError::Thrown(format!("{name}: {message}"));
    }
    let text = value.as_string().and_then(|s| s.to_string().ok()).unwrap_or_else(|| format!("{value:?}"));
    JsError::Thrown(text)
}

/// Evaluates `source` (placeholders already replaced by `$$0`, `$$1`, …) with `values` bound to
/// those names, on this thread's runtime.
pub fn evaluate(
    engine: JsEngine,
    source: &str,
    values: &serde_json::Map<String, Value>,
) -> Result<Value, JsError> {
    let values = serde_json::to_string(values).map_err(|e| JsError::Thrown(e.to_string()))?;
    ENGINES_OF_THREAD.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(Engines::start()?);
        }
        let engines = slot.as_ref().ok_or_else(|| JsError::Unavailable("no runtime".into()))?;
        let outcome = engines.evaluate(engine, source, &values);
        if matches!(outcome, Err(JsError::TimedOut | JsError::OutOfMemory)) {
            // Whatever it left half-built goes with the runtime.
            *slot = None;
        }
        outcome
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn math(source: &str) -> Result<Value, JsError> {
        evaluate(JsEngine::MathJs, source, &serde_json::Map::new())
    }

    fn formula(source: &str) -> Result<Value, JsError> {
        evaluate(JsEngine::FormulaJs, source, &serde_json::Map::new())
    }

    fn with(engine: JsEngine, source: &str, values: Value) -> Result<Value, JsError> {
        evaluate(engine, source, values.as_object().unwrap())
    }

    #[test]
    fn math_js_documented_examples() {
        // https://mathjs.org/docs/expressions/syntax.html and the function reference.
        assert_eq!(math("sqrt(3^2 + 4^2)"), Ok(json!(5)));
        assert_eq!(math("round(e, 2)"), Ok(json!(2.72)));
        assert_eq!(math("round(123.45678, 2)"), Ok(json!(123.46)));
        assert_eq!(math("7 / 2"), Ok(json!(3.5)), "numbers are floats");
        assert_eq!(math("det([-1, 2; 3, 1])"), Ok(json!(-7)));
        assert_eq!(math("[1, 2; 3, 4] * 2"), Ok(json!([[2, 4], [6, 8]])), "a matrix comes back as an array");
        assert_eq!(math("number(5 cm + 2 inch, cm)"), Ok(json!(10.08)));
        assert_eq!(math("format(pi, {precision: 3})"), Ok(json!("3.14")));
        assert_eq!(math("format(1/3, 3)"), Ok(json!("0.333")));
        let unit = math("2 inch to cm").unwrap();
        assert_eq!(unit["mathjs"], "Unit", "a unit is kept as math.js serialises it: {unit}");
    }

    #[test]
    fn nocobase_post_processing() {
        // From NocoBase's evaluator tests: results rounded to 9 decimals, non-finite ones null.
        assert_eq!(math("100*2.3"), Ok(json!(230)));
        assert_eq!(math("1/0"), Ok(Value::Null));
        assert_eq!(math("range(1, 3, 1)"), Ok(json!([1, 2, 3])));
        assert_eq!(math("numeric('123')"), Ok(json!(123)));
        assert_eq!(formula("100*2.3"), Ok(json!(230)));
        assert_eq!(formula("null + 1"), Ok(json!(1)));
        assert_eq!(with(JsEngine::MathJs, "$$0  + 1", json!({"$$0": 1})), Ok(json!(2)));
        assert_eq!(
            with(JsEngine::MathJs, "$$0[1]", json!({"$$0": [1, 2, 3]})),
            Ok(json!(1)),
            "math.js indexes from 1"
        );
        assert!(matches!(
            with(JsEngine::MathJs, "$$0[0]", json!({"$$0": [1, 2, 3]})),
            Err(JsError::Thrown(_))
        ));
        assert!(
            matches!(math("1 1"), Err(JsError::Thrown(m)) if m.starts_with("SyntaxError: ")),
            "as NocoBase's calculation test"
        );
    }

    #[test]
    fn formula_js_documented_examples() {
        // https://formulajs.info/functions/
        assert_eq!(formula("IF(true, 'Hello!', 'Goodbye!')"), Ok(json!("Hello!")));
        assert_eq!(formula("SUM(1, 2, 3)"), Ok(json!(6)));
        assert_eq!(formula("SUM([1, 2, 3])"), Ok(json!(6)));
        assert_eq!(formula("CONCATENATE('hello', ' ', 'world')"), Ok(json!("hello world")));
        assert_eq!(formula("CONCATENATE('a', '\\n', 'b')"), Ok(json!("a\nb")));
        assert_eq!(formula("ROUND(2.15, 1)"), Ok(json!(2.2)));
        assert_eq!(formula("DAYS('3/15/11', '2/1/11')"), Ok(json!(42)));
        assert_eq!(formula("YEAR('2011-04-15')"), Ok(json!(2011)));
        assert_eq!(
            formula("DATE(2008, 7, 8)"),
            Ok(json!("2008-07-08T00:00:00.000Z")),
            "a Date as its ISO text"
        );
        assert_eq!(
            with(JsEngine::FormulaJs, "CONCATENATE('a', $$0)", json!({"$$0": "t1"})),
            Ok(json!("at1"))
        );
        assert_eq!(
            with(JsEngine::FormulaJs, "Date.parse($$0)", json!({"$$0": "2021-01-01T00:00:00.000Z"})),
            Ok(json!(1609459200000_i64))
        );
    }

    #[test]
    fn the_sandbox_has_no_way_out() {
        for probe in ["typeof process", "typeof require", "typeof window", "typeof std", "typeof os"] {
            assert_eq!(formula(probe), Ok(json!("undefined")), "{probe}");
        }
        // No module loader: a dynamic import is a promise that never settles, nothing loaded.
        assert_eq!(formula("import('os')"), Ok(json!({})));
    }

    #[test]
    fn no_expression_changes_what_the_next_one_sees() {
        assert!(math("import({round: 1}, {override: true})").is_err());
        assert!(math("createUnit('furlong', '220 yards')").is_err());
        // Tampering with what the entry point uses is ignored, and the next evaluations are
        // unchanged.
        let _ = formula(
            "(() => { SUM = () => 0; JSON.stringify = () => '1'; JSON.parse = () => ({}); return 1; })()",
        );
        let _ = formula("(() => { globalThis.__hookflowEvaluate = null; mathjs.compile = null; mathjs.round = null; return 1; })()");
        assert_eq!(formula("SUM(1, 2)"), Ok(json!(3)));
        assert_eq!(with(JsEngine::MathJs, "round($$0 * 1.005, 2)", json!({"$$0": 2})), Ok(json!(2.01)));
    }

    #[test]
    fn start_and_evaluation_cost() {
        // Not asserted (timings are measured in bench/); printed for the record.
        let started = Instant::now();
        assert_eq!(math("1 + 1"), Ok(json!(2)));
        let first = started.elapsed();
        let started = Instant::now();
        for n in 0..200 {
            let values = json!({"$$0": n});
            assert_eq!(with(JsEngine::MathJs, "$$0 * 2 + 1", values.clone()), Ok(json!(n * 2 + 1)));
            assert_eq!(
                with(JsEngine::FormulaJs, "IF($$0 > 100, 'big', 'small')", values).map(|v| v.is_string()),
                Ok(true)
            );
        }
        println!(
            "figure: engines started and first evaluation in {first:?}; 400 compiled evaluations in {:?}",
            started.elapsed()
        );
    }

    #[test]
    fn an_endless_loop_is_stopped_and_the_engines_still_work() {
        let started = Instant::now();
        assert_eq!(formula("(() => { while (true) {} })()"), Err(JsError::TimedOut));
        assert!(started.elapsed() < TIME_LIMIT * 3, "stopped after {:?}", started.elapsed());
        assert_eq!(math("1 + 1"), Ok(json!(2)));
    }

    #[test]
    fn a_huge_allocation_is_stopped_and_the_engines_still_work() {
        let outcome = formula("(() => { const a = []; for (;;) a.push(new Array(100000).fill(1)); })()");
        assert!(matches!(outcome, Err(JsError::OutOfMemory)), "{outcome:?}");
        assert_eq!(formula("SUM(2, 2)"), Ok(json!(4)));
        let outcome = math("zeros(100000, 100000)");
        assert!(matches!(outcome, Err(JsError::OutOfMemory | JsError::Thrown(_))), "{outcome:?}");
        assert_eq!(math("2 * 3"), Ok(json!(6)));
    }

    #[test]
    fn deep_recursion_is_an_error_not_a_crash() {
        let outcome = formula("(function f(n) { return f(n + 1) + 1; })(0)");
        assert!(matches!(outcome, Err(JsError::Thrown(_) | JsError::OutOfMemory)), "{outcome:?}");
        assert_eq!(formula("1 + 1"), Ok(json!(2)));
    }
}
