//! NocoBase keeps a workflow's nodes as a flat, unordered list linked by ids; this rebuilds
//! sequences and branches from it exactly as NocoBase's `Processor` walks them:
//! - the head is the first listed node without an upstream (`nodes.find(n => !n.upstream)`);
//! - a chain follows `downstreamId`;
//! - the branches of a node are the nodes whose `upstreamId` is that node and whose
//!   `branchIndex` is set, in index order; when a branch ends, the flow goes on at the
//!   branching node's `downstreamId`.
//!
//! It knows no node types: what a type does with its branches comes in as a [`Plan`]. Every
//! walk is iterative and every lookup indexed, because the list comes from outside: ten
//! thousand nodes in a chain, nesting thousands deep and cycles must all end, and quickly.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::ImportProblem;

/// One entry of NocoBase's `nodes`, as far as linking and mapping need it.
pub(super) struct RawNode {
    /// Position in the given list: problems name `nodes[<position>]`.
    pub position: usize,
    /// The id as it was given, for problems (snowflake ids are often strings).
    pub id: Value,
    pub key: Option<Value>,
    pub title: Option<String>,
    pub kind: String,
    pub config: Value,
    /// NocoBase's `branchIndex`; `None` for `null` (and, as in the API answers, when absent).
    pub branch_index: Option<i64>,
    upstream: Option<String>,
    downstream: Option<String>,
}

impl RawNode {
    /// A problem about this node at `field` (`""` for the node itself).
    pub fn problem(&self, field: &str, message: impl Into<String>) -> ImportProblem {
        let path = match field {
            "" => format!("nodes[{}]", self.position),
            field => format!("nodes[{}].{field}", self.position),
        };
        ImportProblem {
            node_id: Some(self.id.clone()),
            title: self.title.clone(),
            path,
            message: message.into(),
        }
    }

    /// The id as text, for messages.
    pub fn id_text(&self) -> String {
        match &self.id {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        }
    }
}

/// What NocoBase does with the nodes linked as branches of a node, by its type.
#[derive(Clone, Copy)]
pub(super) enum Plan {
    /// The type has no branches: NocoBase never looks at nodes linked as its branches.
    NoBranches,
    /// The type runs its branches. `accept`: the indices it knows; `unique`: NocoBase finds a
    /// branch by its index, so a second branch with the same index would be a guess;
    /// `single`: only the first branch (lowest index) ever runs.
    Branches { accept: fn(i64) -> bool, unique: bool, single: bool },
    /// NocoBase runs branch `index` in line and then goes on downstream; the other branches
    /// never run, for the reason `never_runs` gives.
    Inline { index: i64, accept: fn(i64) -> bool, never_runs: &'static str },
}

/// What becomes of one branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Fate {
    Kept,
    /// NocoBase never runs it; left out with a warning saying why.
    NeverRuns(String),
    /// Left out as a problem saying why.
    Refused(String),
}

pub(super) struct Branch {
    pub index: i64,
    pub sequence: usize,
    pub fate: Fate,
}

/// A chain of nodes run one after the other.
pub(super) struct Sequence {
    /// Indices into [`Graph::nodes`].
    pub nodes: Vec<usize>,
    /// 0 for the main chain, one more per branch level.
    pub depth: usize,
}

/// The rebuilt flow. Sequence 0 is the main chain; a branch's sequence always comes after the
/// sequence holding its node, so walking them backwards meets children before parents.
pub(super) struct Tree {
    pub sequences: Vec<Sequence>,
    /// The branches of each node (by index into [`Graph::nodes`]), in index order.
    pub branches: Vec<Vec<Branch>>,
    pub problems: Vec<ImportProblem>,
    pub warnings: Vec<ImportProblem>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Link {
    None,
    To(usize),
    /// An id that no node has: NocoBase's lookup gives `undefined`, i.e. no link.
    Dangling,
}

impl Link {
    fn node(self) -> Option<usize> {
        match self {
            Link::To(n) => Some(n),
            Link::None | Link::Dangling => None,
        }
    }
}

/// The parsed list with its links resolved.
pub(super) struct Graph {
    pub nodes: Vec<RawNode>,
    upstream: Vec<Link>,
    downstream: Vec<Link>,
    /// `(branchIndex, node)` of the nodes that start a branch of each node, sorted.
    children: Vec<Vec<(i64, usize)>>,
}

/// An id or a reference to one, as text: NocoBase compares them after loading both from the
/// same column, so `10` and `"10"` are the same id. `None`: no reference (JavaScript's
/// `if (node.upstreamId)` takes `0`, `""` and `null` for none).
fn reference(value: &Value) -> Result<Option<String>, ()> {
    match value {
        Value::Null => Ok(None),
        Value::Number(n) => {
            if let Some(whole) = n.as_u64() {
                return Ok((whole != 0).then(|| whole.to_string()));
            }
            if let Some(whole) = n.as_i64() {
                return Ok(Some(whole.to_string()));
            }
            // `10.0` is the id 10 to JavaScript.
            match n.as_f64() {
                Some(0.0) => Ok(None),
                Some(f) if f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 => {
                    Ok(Some(format!("{}", f as i64)))
                }
                _ => Ok(Some(n.to_string())),
            }
        }
        Value::String(text) if text.is_empty() => Ok(None),
        Value::String(text) => Ok(Some(text.clone())),
        _ => Err(()),
    }
}

/// `branchIndex`: an integer (a numeric string, as a database driver may give it, too).
fn branch_index(value: Option<&Value>) -> Result<Option<i64>, ()> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or(()),
        Some(Value::String(text)) => text.trim().parse().map(Some).map_err(|_| ()),
        Some(_) => Err(()),
    }
}

impl Graph {
    /// Reads the list. Entries that cannot take part in linking (not an object, no usable id,
    /// an id used twice) are reported and left out.
    pub fn parse(list: &[Value], problems: &mut Vec<ImportProblem>) -> Graph {
        let mut nodes: Vec<RawNode> = Vec::with_capacity(list.len());
        let mut by_id: HashMap<String, usize> = HashMap::with_capacity(list.len());
        for (position, entry) in list.iter().enumerate() {
            let Value::Object(object) = entry else {
                problems
                    .push(ImportProblem::at(format!("nodes[{position}]"), "a node must be a JSON object"));
                continue;
            };
            let title = object.get("title").and_then(Value::as_str).map(str::to_owned);
            let id = object.get("id").cloned().unwrap_or(Value::Null);
            let at = |field: &str, message: String| ImportProblem {
                node_id: (!id.is_null()).then(|| id.clone()),
                title: title.clone(),
                path: format!("nodes[{position}].{field}"),
                message,
            };
            // 0 and "" are no ids either: nothing could link to them.
            let id_text = match reference(&id) {
                Ok(Some(text)) => text,
                _ => {
                    problems.push(at("id", "every node needs an id (a number or a string)".into()));
                    continue;
                }
            };
            if let Some(first) = by_id.get(&id_text) {
                problems.push(at(
                    "id",
                    format!("the id {id_text} is also the id of nodes[{}]", nodes[*first].position),
                ));
                continue;
            }
            let mut link = |field: &str| match reference(object.get(field).unwrap_or(&Value::Null)) {
                Ok(target) => target,
                Err(()) => {
                    problems.push(at(field, "must be a node id (a number or a string) or null".into()));
                    None
                }
            };
            let (upstream, downstream) = (link("upstreamId"), link("downstreamId"));
            let branch_index = match branch_index(object.get("branchIndex")) {
                Ok(index) => index,
                Err(()) => {
                    problems.push(at("branchIndex", "must be an integer or null".into()));
                    None
                }
            };
            by_id.insert(id_text, nodes.len());
            nodes.push(RawNode {
                position,
                id,
                key: object.get("key").cloned(),
                title,
                kind: object.get("type").and_then(Value::as_str).unwrap_or_default().to_owned(),
                config: object.get("config").cloned().unwrap_or(Value::Object(Map::new())),
                branch_index,
                upstream,
                downstream,
            });
        }
        let resolve = |target: &Option<String>| match target {
            None => Link::None,
            Some(id) => by_id.get(id).map_or(Link::Dangling, |n| Link::To(*n)),
        };
        let upstream: Vec<Link> = nodes.iter().map(|n| resolve(&n.upstream)).collect();
        let downstream: Vec<Link> = nodes.iter().map(|n| resolve(&n.downstream)).collect();
        let mut children = vec![Vec::new(); nodes.len()];
        for (n, node) in nodes.iter().enumerate() {
            if let (Link::To(parent), Some(index)) = (upstream[n], node.branch_index) {
                children[parent].push((index, n));
            }
        }
        for list in &mut children {
            // Stable: among equal indices the first listed stays first, as `find` would.
            list.sort_by_key(|(index, _)| *index);
        }
        Graph { nodes, upstream, downstream, children }
    }
}

/// How the walk came to the first node of a chain.
#[derive(Clone, Copy)]
enum Lead {
    /// The head, or the first node of a branch: found by its own `upstreamId`.
    Found,
    /// Through `downstreamId` of this node.
    Downstream(usize),
}

/// One chain to walk: into `sequence`, from `start`, inside the branches of `parent`.
struct Walk {
    sequence: usize,
    start: usize,
    lead: Lead,
    /// The branching node NocoBase returns to when this chain ends (`None`: the main chain).
    parent: Option<usize>,
}

struct Builder<'g> {
    graph: &'g Graph,
    tree: Tree,
    visited: Vec<bool>,
    /// Memo of [`Builder::branch_parent`]: `Some(Err(()))` for nodes on an upstream cycle.
    parents: Vec<Option<Result<Option<usize>, ()>>>,
    /// Marks the nodes of the current `branch_parent` walk (by walk number).
    on_walk: Vec<u32>,
    walk_number: u32,
}

/// Rebuilds the flow of `graph`, asking `plan` what each node does with its branches.
pub(super) fn build(graph: &Graph, plan: impl Fn(&RawNode) -> Plan) -> Tree {
    let count = graph.nodes.len();
    let mut builder = Builder {
        graph,
        tree: Tree {
            sequences: vec![Sequence { nodes: Vec::new(), depth: 0 }],
            branches: (0..count).map(|_| Vec::new()).collect(),
            problems: Vec::new(),
            warnings: Vec::new(),
        },
        visited: vec![false; count],
        parents: vec![None; count],
        on_walk: vec![0; count],
        walk_number: 0,
    };
    let heads: Vec<usize> = (0..count).filter(|n| graph.upstream[*n].node().is_none()).collect();
    let mut reported = vec![false; count];
    if let Some(&head) = heads.first() {
        if graph.upstream[head] == Link::Dangling {
            builder.warn(head, "upstreamId", "refers to no node; NocoBase starts the workflow here");
        }
        for &other in &heads[1..] {
            reported[other] = true;
            let node = &graph.nodes[other];
            let message = if graph.upstream[other] == Link::Dangling {
                format!(
                    "refers to no node, so this is a second node without upstream; NocoBase starts at node {} (the first one listed)",
                    graph.nodes[head].id_text()
                )
            } else {
                format!(
                    "is null on several nodes; NocoBase starts at node {} (the first one listed) and runs this one only if a link leads to it",
                    graph.nodes[head].id_text()
                )
            };
            builder.tree.problems.push(node.problem("upstreamId", message));
        }
        builder.walk_all(Walk { sequence: 0, start: head, lead: Lead::Found, parent: None }, &plan);
    } else if count > 0 {
        builder.tree.problems.push(ImportProblem::at(
            "nodes",
            "every node has an upstream: NocoBase finds no node to start from (a cycle?)",
        ));
    }
    for (n, node) in graph.nodes.iter().enumerate() {
        if builder.visited[n] || reported[n] {
            continue;
        }
        let problem = match (graph.upstream[n], node.branch_index) {
            (Link::To(up), None) if graph.downstream[up] != Link::To(n) => node.problem(
                "upstreamId",
                format!(
                    "is node {}, but no downstreamId leads here: NocoBase never runs this node",
                    graph.nodes[up].id_text()
                ),
            ),
            _ => node.problem("", "not reachable from the head: NocoBase never runs this node"),
        };
        builder.tree.problems.push(problem);
    }
    builder.tree
}

impl Builder<'_> {
    fn warn(&mut self, n: usize, field: &str, message: impl Into<String>) {
        self.tree.warnings.push(self.graph.nodes[n].problem(field, message));
    }

    fn problem(&mut self, n: usize, field: &str, message: impl Into<String>) {
        self.tree.problems.push(self.graph.nodes[n].problem(field, message));
    }

    fn new_sequence(&mut self, depth: usize) -> usize {
        self.tree.sequences.push(Sequence { nodes: Vec::new(), depth });
        self.tree.sequences.len() - 1
    }

    fn walk_all(&mut self, first: Walk, plan: &impl Fn(&RawNode) -> Plan) {
        let mut pending = vec![first];
        while let Some(walk) = pending.pop() {
            self.walk_chain(walk, plan, &mut pending);
        }
    }

    /// Follows one chain (with the chains it runs in line), queueing the branches it meets.
    fn walk_chain(&mut self, walk: Walk, plan: &impl Fn(&RawNode) -> Plan, pending: &mut Vec<Walk>) {
        let graph = self.graph;
        let depth = self.tree.sequences[walk.sequence].depth;
        // Where to go on when a chain run in line ends: (next, lead, parent).
        let mut resume: Vec<(Option<usize>, Lead, Option<usize>)> = Vec::new();
        let (mut current, mut lead, mut parent) = (Some(walk.start), walk.lead, walk.parent);
        loop {
            let Some(n) = current else {
                match resume.pop() {
                    Some((next, next_lead, next_parent)) => {
                        (current, lead, parent) = (next, next_lead, next_parent);
                        continue;
                    }
                    None => break,
                }
            };
            if self.visited[n] {
                const AGAIN: &str = "which the flow has already reached (a cycle, or two links to one node)";
                match (lead, parent) {
                    (Lead::Downstream(from), _) => self.problem(
                        from,
                        "downstreamId",
                        format!("leads to node {}, {AGAIN}", graph.nodes[n].id_text()),
                    ),
                    (Lead::Found, parent) => self.problem(
                        n,
                        "branchIndex",
                        format!(
                            "makes this node a branch of node {}, {AGAIN}",
                            parent.map_or_else(String::new, |p| graph.nodes[p].id_text())
                        ),
                    ),
                }
                current = None;
                continue;
            }
            self.visited[n] = true;
            if let Lead::Downstream(from) = lead {
                self.check_upstream(n, from, parent);
            }
            self.tree.sequences[walk.sequence].nodes.push(n);
            let node = &graph.nodes[n];
            let plan = plan(node);
            let mut inline = None;
            // Children come sorted by index: a repeated index follows its first.
            let mut previous: Option<i64> = None;
            for &(index, child) in &graph.children[n] {
                let repeated = previous == Some(index);
                let first = previous.is_none();
                previous = Some(index);
                let fate = match plan {
                    Plan::NoBranches => Fate::NeverRuns(format!(
                        "linked as branch {index} of node {}, but a {} node has no branches: NocoBase never runs it",
                        node.id_text(),
                        node.kind
                    )),
                    Plan::Branches { accept, unique, single } => {
                        if !accept(index) {
                            Fate::Refused(format!("branchIndex {index} is not a branch of a {} node", node.kind))
                        } else if unique && repeated {
                            Fate::Refused(format!(
                                "node {} has two branches with branchIndex {index}; which one NocoBase runs depends on the order it loads them",
                                node.id_text()
                            ))
                        } else if single && !first {
                            Fate::NeverRuns(format!(
                                "a {} node runs only its first branch: NocoBase never runs this one",
                                node.kind
                            ))
                        } else {
                            Fate::Kept
                        }
                    }
                    Plan::Inline { index: inlined, accept, never_runs } => {
                        if !accept(index) {
                            Fate::Refused(format!("branchIndex {index} is not a branch of a {} node", node.kind))
                        } else if repeated {
                            Fate::Refused(format!(
                                "node {} has two branches with branchIndex {index}; which one NocoBase runs depends on the order it loads them",
                                node.id_text()
                            ))
                        } else if index == inlined {
                            inline = Some(child);
                            continue;
                        } else {
                            Fate::NeverRuns(never_runs.to_owned())
                        }
                    }
                };
                let sequence = self.new_sequence(depth + 1);
                self.tree.branches[n].push(Branch { index, sequence, fate });
                pending.push(Walk { sequence, start: child, lead: Lead::Found, parent: Some(n) });
            }
            let next = match graph.downstream[n] {
                Link::To(next) => Some(next),
                Link::None => None,
                Link::Dangling => {
                    let target = graph.nodes[n].downstream.clone().unwrap_or_default();
                    self.warn(
                        n,
                        "downstreamId",
                        format!("{target} refers to no node; NocoBase ends the chain here"),
                    );
                    None
                }
            };
            match inline {
                Some(first) => {
                    resume.push((next, Lead::Downstream(n), parent));
                    (current, lead, parent) = (Some(first), Lead::Found, Some(n));
                }
                None => (current, lead) = (next, Lead::Downstream(n)),
            }
        }
    }

    /// `n` is reached through `from`'s `downstreamId`. NocoBase follows that link whatever
    /// `n` says, but finds where a branch returns to by walking `upstreamId`s back to the
    /// first node with a `branchIndex`: a disagreement matters only if that walk ends
    /// somewhere else than the branch `n` is in.
    fn check_upstream(&mut self, n: usize, from: usize, parent: Option<usize>) {
        let graph = self.graph;
        let node = &graph.nodes[n];
        if graph.upstream[n] == Link::To(from) && node.branch_index.is_none() {
            return;
        }
        let found = self.branch_parent(n);
        let (field, what) = match (graph.upstream[n] == Link::To(from), node.upstream.as_deref()) {
            (true, _) => (
                "branchIndex",
                format!(
                    "is set, but this node follows node {} (its downstreamId), it does not start a branch",
                    graph.nodes[from].id_text()
                ),
            ),
            (false, upstream) => (
                "upstreamId",
                format!(
                    "is {}, but node {} leads here with its downstreamId",
                    upstream.unwrap_or("null"),
                    graph.nodes[from].id_text()
                ),
            ),
        };
        match found {
            Ok(found) if found == parent => {
                self.warn(n, field, format!("{what}; NocoBase follows downstreamId and still ends this chain in the right place"))
            }
            Ok(_) => self.problem(
                n,
                field,
                format!("{what}; when this chain ends, NocoBase would go on after the wrong node"),
            ),
            Err(()) => self.problem(
                n,
                field,
                format!("{what}, and the upstreamIds form a cycle: NocoBase would never find where this chain ends"),
            ),
        }
    }

    /// NocoBase's `findBranchParentNode`: up the `upstreamId`s to the first node with a
    /// `branchIndex`, whose upstream is the node this chain returns to. Memoised, so that a
    /// list of disagreeing nodes costs linear time; `Err` on a cycle of upstreams.
    fn branch_parent(&mut self, start: usize) -> Result<Option<usize>, ()> {
        self.walk_number += 1;
        let mark = self.walk_number;
        let mut path = Vec::new();
        let mut m = start;
        let result = loop {
            if let Some(known) = self.parents[m] {
                break known;
            }
            if self.on_walk[m] == mark {
                break Err(());
            }
            self.on_walk[m] = mark;
            path.push(m);
            if self.graph.nodes[m].branch_index.is_some() {
                break Ok(self.graph.upstream[m].node());
            }
            match self.graph.upstream[m].node() {
                Some(up) => m = up,
                None => break Ok(None),
            }
        };
        for m in path {
            self.parents[m] = Some(result);
        }
        result
    }
}
