//! The execution engine. Semantics (NocoBase's): nodes run in sequence; a branching node runs
//! one of its branches, and when that branch's sequence ends the flow continues after the
//! branching node; `end` stops the whole execution; a Response node answers and stops it.

mod run;

pub use run::{run_execution, Outcome};
