//! A NocoBase workflow record into a Hookflow definition: the record's own fields, its webhook
//! trigger, the nodes (rebuilt by `links`, mapped by `nodes`), then Hookflow's validation with
//! its problems pointed back at NocoBase's nodes.
//!
//! Strict imports refuse on any problem. Lenient ones leave out what they cannot import — a
//! node with its branches, an unusable key or timeout — and say so; the trigger is never left
//! out, because a webhook imported without its authentication would be open to anyone.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};

use super::links::{self, Fate, Graph, Tree};
use super::{capped, nodes, ImportProblem, Imported, MAX_BRANCH_DEPTH};
use crate::model::{
    decode_workflow, is_valid_workflow_key, Node, Trigger, WorkflowDefinition, WorkflowOptions,
};

/// What Hookflow reads of the trigger `config` (NocoBase's fields and Hookflow's extensions);
/// anything else is left out with a warning.
const TRIGGER_FIELDS: &[&str] =
    &["basicAuthentication", "request", "response", "signature", "idempotency", "allowedIps"];
const REQUEST_FIELDS: &[&str] = &["headers", "query", "body", "rawBody"];

/// Lenient imports drop the nodes Hookflow's validation refuses and validate again; removing
/// nodes cannot create new node problems, so two rounds are the rule and this is a guard.
const MAX_VALIDATION_ROUNDS: usize = 8;

/// Imports a NocoBase workflow; any problem refuses the whole import.
pub fn import(value: &Value) -> Result<Imported, Vec<ImportProblem>> {
    run(value, false)
}

/// Imports what can be imported; the rest is listed in [`Imported::skipped`]. Refuses only
/// what leaves nothing sensible to import: not a webhook workflow, an unusable trigger.
pub fn import_lenient(value: &Value) -> Result<Imported, Vec<ImportProblem>> {
    run(value, true)
}

fn run(value: &Value, lenient: bool) -> Result<Imported, Vec<ImportProblem>> {
    let record = record_of(value)?;
    let mut fatal = Vec::new();
    let mut problems = Vec::new();
    let mut warnings = Vec::new();

    match record.get("type") {
        Some(Value::String(kind)) if kind == "webhook" => {}
        Some(Value::String(kind)) => fatal.push(ImportProblem::at(
            "type",
            format!("a {kind} workflow cannot be imported: only webhook workflows can"),
        )),
        _ => fatal.push(ImportProblem::at("type", "missing: only webhook workflows can be imported")),
    }
    let trigger = trigger(record.get("config"), &mut fatal, &mut warnings);
    let key = match record.get("key") {
        Some(Value::String(key)) if is_valid_workflow_key(key) => key.clone(),
        Some(Value::String(key)) => {
            problems.push(ImportProblem::at("key", format!("{key:?} must match [a-z0-9][a-z0-9_-]{{2,63}}")));
            String::new()
        }
        None | Some(Value::Null) => {
            warnings.push(ImportProblem::at("key", "missing: a key is generated when the workflow is saved"));
            String::new()
        }
        Some(_) => {
            problems.push(ImportProblem::at("key", "must be a string"));
            String::new()
        }
    };
    let title = record.get("title").and_then(Value::as_str).unwrap_or_default().to_owned();
    // NocoBase's defaults: a workflow is created disabled and async.
    let enabled = flag(record, "enabled", &mut problems);
    let sync = flag(record, "sync", &mut problems);
    let options = options(record.get("options"), &mut problems, &mut warnings);

    let list = match record.get("nodes") {
        Some(Value::Array(list)) => list.as_slice(),
        None | Some(Value::Null) => {
            problems.push(ImportProblem::at(
                "nodes",
                "missing: fetch the workflow with appends[]=nodes (an empty list imports a workflow without nodes)",
            ));
            &[]
        }
        Some(_) => {
            problems.push(ImportProblem::at("nodes", "must be a list of nodes"));
            &[]
        }
    };
    let graph = Graph::parse(list, &mut problems);
    let mut tree = links::build(&graph, nodes::plan);
    problems.append(&mut tree.problems);
    warnings.append(&mut tree.warnings);
    let mut mapping = Mapping::new(&graph);

    let trigger = match trigger {
        Some(trigger) if fatal.is_empty() => trigger,
        _ => {
            if !lenient {
                // Everything else is still worth knowing when the import is refused anyway.
                let assembled = assemble(&graph, &tree, &mut mapping, &BTreeMap::new());
                fatal.extend(problems);
                fatal.extend(assembled.problems);
            }
            return Err(capped(fatal));
        }
    };
    let shell = WorkflowDefinition { key, title, enabled, sync, options, trigger, nodes: Vec::new() };

    // Lenient: nodes Hookflow's validation refused, with the problem that left them out
    // (ordered, so that answers list them the same way every time).
    let mut refused: BTreeMap<usize, ImportProblem> = BTreeMap::new();
    for _ in 0..MAX_VALIDATION_ROUNDS {
        let assembled = assemble(&graph, &tree, &mut mapping, &refused);
        let definition = WorkflowDefinition { nodes: assembled.nodes, ..shell.clone() };
        let validated = validate(definition, &assembled.paths, &graph);
        let mut left_out = problems.clone();
        left_out.extend(assembled.problems);
        left_out.extend(refused.values().cloned());
        let found = match validated {
            Ok(mut definition) if left_out.is_empty() || lenient => {
                let mut all_warnings = warnings;
                all_warnings.extend(mapping.warnings);
                all_warnings.extend(assembled.warnings);
                // A node left out may have guarded what follows it (a rejecting condition, an
                // `end`, a request that verifies the payment): nothing runs until someone has
                // looked at what was imported.
                if !left_out.is_empty() && definition.enabled {
                    definition.enabled = false;
                    all_warnings.push(ImportProblem::at(
                        "enabled",
                        "imported disabled because nodes were left out: check the workflow, then enable it",
                    ));
                }
                return Ok(Imported {
                    definition,
                    warnings: capped(all_warnings),
                    skipped: capped(left_out),
                });
            }
            Ok(_) => return Err(capped(left_out)),
            Err(found) => found,
        };
        if !lenient {
            left_out.extend(found.into_iter().map(|(problem, _)| problem));
            return Err(capped(left_out));
        }
        // Only problems of single nodes can be left out; the others concern the whole workflow.
        if found.is_empty() || found.iter().any(|(_, n)| n.is_none()) {
            return Err(capped(found.into_iter().map(|(problem, _)| problem).collect()));
        }
        for (problem, n) in found {
            if let Some(n) = n {
                refused.entry(n).or_insert(problem);
            }
        }
    }
    Err(vec![ImportProblem::at("", "the imported definition did not pass validation")])
}

/// Hookflow's own decoding and validation, exactly as the admin API applies it to a definition
/// sent to it; its problems pointed back at the NocoBase record.
fn validate(
    definition: WorkflowDefinition,
    paths: &HashMap<String, usize>,
    graph: &Graph,
) -> Result<WorkflowDefinition, Vec<(ImportProblem, Option<usize>)>> {
    let value = serde_json::to_value(&definition).map_err(|e| {
        vec![(ImportProblem::at("", format!("the imported definition cannot be written: {e}")), None)]
    })?;
    decode_workflow(value)
        .map_err(|found| found.into_iter().map(|p| locate(&p.path, p.message, paths, graph)).collect())
}

/// The workflow record: the API answer's `data`, or the record itself.
fn record_of(value: &Value) -> Result<&Map<String, Value>, Vec<ImportProblem>> {
    let Value::Object(object) = value else {
        return Err(vec![ImportProblem::at("", "a NocoBase workflow must be a JSON object")]);
    };
    let wrapped = !object.contains_key("type") && !object.contains_key("nodes");
    match object.get("data") {
        Some(Value::Object(record)) if wrapped => Ok(record),
        Some(Value::Array(_)) if wrapped => Err(vec![ImportProblem::at(
            "data",
            "this is a list of workflows (workflows:list); import one (workflows:get?filterByTk=<id>&appends[]=nodes)",
        )]),
        _ => Ok(object),
    }
}

fn flag(record: &Map<String, Value>, name: &str, problems: &mut Vec<ImportProblem>) -> bool {
    match record.get(name) {
        None | Some(Value::Null) => false,
        Some(Value::Bool(value)) => *value,
        Some(_) => {
            problems.push(ImportProblem::at(name, "must be true or false"));
            false
        }
    }
}

fn options(
    options: Option<&Value>,
    problems: &mut Vec<ImportProblem>,
    warnings: &mut Vec<ImportProblem>,
) -> WorkflowOptions {
    let mut result = WorkflowOptions::default();
    let object = match options {
        None | Some(Value::Null) => return result,
        Some(Value::Object(object)) => object,
        Some(_) => {
            problems.push(ImportProblem::at("options", "must be an object"));
            return result;
        }
    };
    for (name, value) in object {
        match name.as_str() {
            "timeout" => match value {
                Value::Null => {}
                Value::Number(n) => match n.as_u64() {
                    Some(ms) => result.timeout = ms,
                    None => problems.push(ImportProblem::at(
                        "options.timeout",
                        "must be a whole number of milliseconds, 0 or more",
                    )),
                },
                _ => problems.push(ImportProblem::at("options.timeout", "must be a number of milliseconds")),
            },
            // NocoBase's own bookkeeping: recursion guard and execution pruning.
            "stackLimit" | "deleteExecutionOnStatus" => {}
            other => {
                warnings.push(ImportProblem::at(format!("options.{other}"), "not used by Hookflow; left out"))
            }
        }
    }
    result
}

/// The trigger from NocoBase's `config`, with Hookflow's own extensions accepted under their
/// names so that an export of a Hookflow workflow imports back.
fn trigger(
    config: Option<&Value>,
    fatal: &mut Vec<ImportProblem>,
    warnings: &mut Vec<ImportProblem>,
) -> Option<Trigger> {
    let config = match config {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(config)) => config.clone(),
        Some(_) => {
            fatal.push(ImportProblem::at("config", "must be an object"));
            return None;
        }
    };
    // An export masks secrets; importing the mask would lock every caller out (or, saved over
    // an existing workflow, keep a password nobody chose for it).
    let masked = |value: Option<&Value>| value.and_then(Value::as_str) == Some(crate::model::MASK);
    if masked(config.get("basicAuthentication").and_then(|auth| auth.get("password"))) {
        fatal.push(ImportProblem::at(
            "config.basicAuthentication.password",
            "the password was masked by an export: put the real one back before importing",
        ));
    }
    let secrets = config.get("signature").and_then(|s| s.get("secrets")).and_then(Value::as_array);
    for (i, secret) in secrets.into_iter().flatten().enumerate() {
        if masked(Some(secret)) {
            fatal.push(ImportProblem::at(
                format!("config.signature.secrets[{i}]"),
                "the secret was masked by an export: put the real one (or its {{$env.NAME}} reference) back",
            ));
        }
    }
    let mut trigger = Map::new();
    trigger.insert("type".into(), Value::String("webhook".into()));
    for (name, value) in config {
        // `null` means "not set" to NocoBase; serde's defaults apply only to absent fields.
        if value.is_null() {
            continue;
        }
        if name == "request" {
            if let Value::Object(parts) = value {
                let mut request = Map::new();
                for (part, value) in parts {
                    if value.is_null() {
                        continue;
                    }
                    if REQUEST_FIELDS.contains(&part.as_str()) {
                        request.insert(part, value);
                    } else {
                        warnings.push(ImportProblem::at(
                            format!("config.request.{part}"),
                            "not used by Hookflow; left out",
                        ));
                    }
                }
                trigger.insert(name, Value::Object(request));
            } else {
                trigger.insert(name, value);
            }
        } else if TRIGGER_FIELDS.contains(&name.as_str()) {
            trigger.insert(name, value);
        } else {
            warnings.push(ImportProblem::at(format!("config.{name}"), "not used by Hookflow; left out"));
        }
    }
    match serde_path_to_error::deserialize::<_, Trigger>(Value::Object(trigger)) {
        Ok(trigger) => Some(trigger),
        Err(error) => {
            let path = match error.path().to_string().as_str() {
                "." => "config".to_owned(),
                inner => format!("config.{inner}"),
            };
            fatal.push(ImportProblem::at(path, error.into_inner().to_string()));
            None
        }
    }
}

/// Each node mapped at most once, however many validation rounds there are.
struct Mapping {
    mapped: Vec<Option<Result<Node, Vec<ImportProblem>>>>,
    warnings: Vec<ImportProblem>,
}

impl Mapping {
    fn new(graph: &Graph) -> Self {
        Self { mapped: (0..graph.nodes.len()).map(|_| None).collect(), warnings: Vec::new() }
    }

    fn get(&mut self, graph: &Graph, n: usize) -> &Result<Node, Vec<ImportProblem>> {
        let warnings = &mut self.warnings;
        self.mapped[n].get_or_insert_with(|| nodes::map(&graph.nodes[n], warnings))
    }
}

struct Assembled {
    nodes: Vec<Node>,
    /// Hookflow path of each node kept (`nodes[0].branches.true[1]`) → index into the graph.
    paths: HashMap<String, usize>,
    problems: Vec<ImportProblem>,
    warnings: Vec<ImportProblem>,
}

/// Why the nodes of a sequence are not imported.
enum Dropped {
    Warning(String),
    Problem(String),
}

/// Builds the Hookflow nodes from the tree: top-down to decide what is kept (and where), then
/// bottom-up to put branches inside their nodes, so nothing recurses on the input's depth.
fn assemble(
    graph: &Graph,
    tree: &Tree,
    mapping: &mut Mapping,
    refused: &BTreeMap<usize, ImportProblem>,
) -> Assembled {
    let count = graph.nodes.len();
    let mut kept = vec![false; count];
    let mut paths = HashMap::new();
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    // (sequence, Hookflow path of the list or why it is left out)
    let mut pending: Vec<(usize, Result<String, Dropped>)> = vec![(0, Ok("nodes".to_owned()))];
    while let Some((sequence, context)) = pending.pop() {
        let mut position = 0;
        for &n in &tree.sequences[sequence].nodes {
            let node = &graph.nodes[n];
            let path = match &context {
                Err(Dropped::Warning(why)) => {
                    warnings.push(node.problem("", format!("{why}; left out")));
                    None
                }
                Err(Dropped::Problem(why)) => {
                    problems.push(node.problem("", why.clone()));
                    None
                }
                Ok(list) => {
                    if refused.contains_key(&n) {
                        None
                    } else if let Err(found) = mapping.get(graph, n) {
                        problems.extend(found.iter().cloned());
                        None
                    } else if tree.sequences[sequence].depth >= MAX_BRANCH_DEPTH
                        && tree.branches[n].iter().any(|b| b.fate == Fate::Kept)
                    {
                        problems.push(node.problem(
                            "",
                            format!("its branches are nested more than {MAX_BRANCH_DEPTH} levels deep"),
                        ));
                        None
                    } else {
                        let path = format!("{list}[{position}]");
                        position += 1;
                        Some(path)
                    }
                }
            };
            let left_out_with =
                || Dropped::Problem(format!("left out with node {}, in whose branch it is", node.id_text()));
            for branch in &tree.branches[n] {
                let context = match (&branch.fate, &path, &context) {
                    (_, _, Err(Dropped::Warning(why))) => Err(Dropped::Warning(why.clone())),
                    (_, _, Err(Dropped::Problem(why))) => Err(Dropped::Problem(why.clone())),
                    (Fate::NeverRuns(why), _, _) => Err(Dropped::Warning(why.clone())),
                    (Fate::Refused(why), _, _) => Err(Dropped::Problem(why.clone())),
                    (Fate::Kept, None, _) => Err(left_out_with()),
                    (Fate::Kept, Some(path), _) => match nodes::label(&node.kind, branch.index) {
                        Some(label) => Ok(format!("{path}.branches.{label}")),
                        None => Err(left_out_with()),
                    },
                };
                pending.push((branch.sequence, context));
            }
            if let Some(path) = path {
                kept[n] = true;
                paths.insert(path, n);
            }
        }
    }
    let mut built: Vec<Option<Vec<Node>>> = (0..tree.sequences.len()).map(|_| None).collect();
    for sequence in (0..tree.sequences.len()).rev() {
        let mut list = Vec::new();
        for &n in tree.sequences[sequence].nodes.iter().filter(|n| kept[**n]) {
            let Ok(node) = mapping.get(graph, n) else { continue };
            let mut node = node.clone();
            for branch in tree.branches[n].iter().filter(|b| b.fate == Fate::Kept) {
                if let (Some(label), Some(children)) =
                    (nodes::label(&graph.nodes[n].kind, branch.index), built[branch.sequence].take())
                {
                    nodes::attach(&mut node, label, children);
                }
            }
            list.push(node);
        }
        built[sequence] = Some(list);
    }
    let nodes = built.first_mut().and_then(Option::take).unwrap_or_default();
    Assembled { nodes, paths, problems, warnings }
}

/// A problem of Hookflow's validation, pointed at the NocoBase record: node paths become the
/// node's place in NocoBase's list (with its id and title), `trigger` becomes `config`.
fn locate(
    path: &str,
    message: String,
    paths: &HashMap<String, usize>,
    graph: &Graph,
) -> (ImportProblem, Option<usize>) {
    let mut best: Option<(usize, usize)> = None;
    for (end, _) in path.match_indices(']') {
        if let Some(&n) = paths.get(&path[..=end]) {
            best = Some((end + 1, n));
        }
    }
    if let Some((end, n)) = best {
        let rest = path[end..].trim_start_matches('.');
        return (graph.nodes[n].problem(rest, message), Some(n));
    }
    let path = match path.strip_prefix("trigger") {
        Some(rest) if rest.is_empty() || rest.starts_with('.') => format!("config{rest}"),
        _ => path.to_owned(),
    };
    (ImportProblem::at(path, message), None)
}
