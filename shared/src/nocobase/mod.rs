//! NocoBase workflows in and out: [`import`] turns a NocoBase webhook workflow (the answer of
//! `GET /api/workflows:get?filterByTk=<id>&appends[]=nodes`, or its bare `data` record) into a
//! Hookflow [`WorkflowDefinition`], and [`export`] writes a definition back in that shape.
//!
//! NocoBase has no export file of its own: the API answer is the file, and [`export`] writes
//! the same shape so that a workflow can travel both ways.
//!
//! Layout:
//! - [`links`]: the flat node list (`id`, `upstreamId`, `branchIndex`, `downstreamId`) rebuilt
//!   into sequences and branches the way NocoBase's `Processor` walks it, whatever the types.
//! - `nodes`: what each NocoBase node type becomes (and which ones are not supported yet).
//! - `import`: the workflow record, its trigger, assembling and validating the result.
//! - `export`: the way back.
//!
//! This module reads and writes JSON only; saving is the caller's (admin API, CLI).

mod export;
mod import;
mod links;
mod nodes;

#[cfg(test)]
mod tests;

use serde::Serialize;
use serde_json::Value;

pub use export::export;
pub use import::{import, import_lenient};

use crate::model::WorkflowDefinition;

/// Deepest nesting of branches an import produces. Definitions are stored and sent as JSON
/// text, which serde_json reads to a depth of 128; each level of branches takes three, and a
/// node's config needs room of its own. It also bounds the recursion of everything that walks
/// a definition (validation, the worker).
pub const MAX_BRANCH_DEPTH: usize = 24;

/// Most problems (and warnings) one import reports: a hostile list of a million broken nodes
/// should not turn into an answer of a million lines.
pub const MAX_REPORTED: usize = 200;

/// One thing about a NocoBase workflow that could not be imported as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportProblem {
    /// The NocoBase node's `id` as it was given (number or string), when this is about a node.
    pub node_id: Option<Value>,
    /// The node's `title`, when it has one.
    pub title: Option<String>,
    /// Where in the NocoBase record (`nodes[3].config.engine`, `config.request.body[0].key`);
    /// node positions are those of the given `nodes` list.
    pub path: String,
    pub message: String,
}

impl ImportProblem {
    /// A problem about the workflow record itself.
    pub fn at(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { node_id: None, title: None, path: path.into(), message: message.into() }
    }
}

impl std::fmt::Display for ImportProblem {
    /// One line for a terminal: text from the imported file (ids, titles, type names) has its
    /// control characters escaped, so a file cannot write escape sequences to an operator's
    /// screen.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(id) = &self.node_id {
            let id = match id {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            write!(f, "node {}", printable(&id))?;
            if let Some(title) = &self.title {
                write!(f, " {title:?}")?;
            }
            f.write_str(", ")?;
        }
        if self.path.is_empty() {
            f.write_str(&printable(&self.message))
        } else {
            write!(f, "{}: {}", printable(&self.path), printable(&self.message))
        }
    }
}

fn printable(text: &str) -> String {
    text.chars()
        .flat_map(|c| if c.is_control() { c.escape_default().collect::<Vec<_>>() } else { vec![c] })
        .collect()
}

/// A successful import.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// Decoded and validated like any definition sent to the admin API.
    pub definition: WorkflowDefinition,
    /// What changed on the way without changing what the workflow does in NocoBase: nodes
    /// NocoBase never runs, links it tolerates, settings Hookflow has no use for.
    pub warnings: Vec<ImportProblem>,
    /// Lenient imports only: what was left out of `definition`, and why.
    pub skipped: Vec<ImportProblem>,
}

/// Keeps at most [`MAX_REPORTED`] entries, the last one saying how many more there were.
fn capped(mut list: Vec<ImportProblem>) -> Vec<ImportProblem> {
    if list.len() > MAX_REPORTED {
        let more = list.len() - (MAX_REPORTED - 1);
        list.truncate(MAX_REPORTED - 1);
        list.push(ImportProblem::at("", format!("… and {more} more")));
    }
    list
}
