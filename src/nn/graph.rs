//! The computation graph that libtorch records, read from libtorch itself: what Python shows as
//! `y.grad_fn` and its `next_functions`. tch exposes no `grad_fn`, so a small C++ shim of our
//! own (csrc/graph.cpp, compiled by build.rs) gives, for a tensor, its `grad_fn` node, and for a
//! node its name, its next edges and, for an `AccumulateGrad` node, the leaf it feeds.
//!
//! [`Graph::of`] walks it from the outputs into a plain value: nodes (operations, leaves and the
//! output tensors, named as the program names them) and edges in the direction gradients flow,
//! in the order PyTorch lists them, so that `scripts/reference.py` walking
//! `grad_fn.next_functions` prints the very same text.
use super::autograd::first_line;
use anyhow::Result;
#[cfg(feature = "cli")]
use serde_json::{json, Value};
use std::collections::HashMap;
use tch::Tensor;

/// The only `unsafe` of this module: the calls into csrc/graph.cpp.
mod ffi {
    use std::ffi::{c_char, CStr};
    use tch::Tensor;

    #[repr(C)]
    struct RawNode {
        _private: [u8; 0],
    }

    extern "C" {
        fn lt_tensor_id(t: *const torch_sys::C_tensor, id: *mut u64) -> *mut c_char;
        fn lt_tensor_grad_fn(t: *const torch_sys::C_tensor, out: *mut *mut RawNode) -> *mut c_char;
        fn lt_node_info(
            n: *const RawNode,
            id: *mut u64,
            name: *mut *mut c_char,
            num_next: *mut u64,
            leaf_id: *mut u64,
        ) -> *mut c_char;
        fn lt_node_next(
            n: *const RawNode,
            i: u64,
            out: *mut *mut RawNode,
            input_nr: *mut u64,
        ) -> *mut c_char;
        fn lt_node_free(n: *mut RawNode);
        fn lt_free_string(s: *mut c_char);
    }

    /// A counted reference to a libtorch autograd node (a `std::shared_ptr<Node>`).
    pub(super) struct NodeRef(*mut RawNode);

    impl Drop for NodeRef {
        fn drop(&mut self) {
            // SAFETY: the pointer came from the shim's `new` and is freed exactly once, here.
            unsafe { lt_node_free(self.0) }
        }
    }

    /// What the shim says about a node.
    pub(super) struct NodeInfo {
        pub id: u64,
        pub name: String,
        pub num_next: u64,
        /// For an AccumulateGrad node, the identity of the leaf tensor it feeds.
        pub leaf: Option<u64>,
    }

    /// Takes a string the shim allocated (an error or a name) and frees it.
    ///
    /// SAFETY: `s` is null or a NUL-terminated string from the shim's malloc, not yet freed.
    unsafe fn take_string(s: *mut c_char) -> Option<String> {
        if s.is_null() {
            return None;
        }
        let text = CStr::from_ptr(s).to_string_lossy().into_owned();
        lt_free_string(s);
        Some(text)
    }

    /// The shim's return value: NULL, or an error message to free.
    ///
    /// SAFETY: as [`take_string`].
    unsafe fn check(err: *mut c_char) -> Result<(), String> {
        match take_string(err) {
            None => Ok(()),
            Some(message) => Err(message),
        }
    }

    fn raw(t: &Tensor) -> *const torch_sys::C_tensor {
        t.as_ptr()
    }

    /// The identity of a tensor's storage-and-metadata object (its TensorImpl).
    pub(super) fn tensor_id(t: &Tensor) -> Result<u64, String> {
        let mut id = 0u64;
        // SAFETY: `t` is a live tensor for the duration of the call; the shim only reads it.
        unsafe { check(lt_tensor_id(raw(t), &mut id))? };
        Ok(id)
    }

    /// `t.grad_fn`.
    pub(super) fn grad_fn(t: &Tensor) -> Result<Option<NodeRef>, String> {
        let mut out = std::ptr::null_mut();
        // SAFETY: `t` is live; on success `out` is null or a new node reference that we own.
        unsafe { check(lt_tensor_grad_fn(raw(t), &mut out))? };
        Ok((!out.is_null()).then_some(NodeRef(out)))
    }

    impl NodeRef {
        pub(super) fn info(&self) -> Result<NodeInfo, String> {
            let (mut id, mut num_next, mut leaf) = (0u64, 0u64, 0u64);
            let mut name = std::ptr::null_mut();
            // SAFETY: `self.0` is a live node reference; the name is ours to free.
            let name = unsafe {
                check(lt_node_info(
                    self.0,
                    &mut id,
                    &mut name,
                    &mut num_next,
                    &mut leaf,
                ))?;
                take_string(name).ok_or("graph shim: a node without a name")?
            };
            Ok(NodeInfo {
                id,
                name,
                num_next,
                leaf: (leaf != 0).then_some(leaf),
            })
        }

        /// `next_functions[i]`: the node (None where PyTorch shows None).
        pub(super) fn next(&self, i: u64) -> Result<Option<NodeRef>, String> {
            let (mut out, mut input_nr) = (std::ptr::null_mut(), 0u64);
            // SAFETY: `self.0` is live; on success `out` is null or a new reference we own.
            unsafe { check(lt_node_next(self.0, i, &mut out, &mut input_nr))? };
            Ok((!out.is_null()).then_some(NodeRef(out)))
        }
    }
}

/// What a node of the graph is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// A backward function (`MulBackward0`, `AccumulateGrad`): a `grad_fn` of PyTorch.
    Operation,
    /// A leaf tensor that an `AccumulateGrad` node adds its gradient into (`w.grad`).
    Leaf,
    /// An output tensor whose gradient starts the flow (`y`).
    Tensor,
}

impl NodeKind {
    /// The kind's name in the trace (`reference.py` writes the same).
    pub fn as_str(self) -> &'static str {
        match self {
            NodeKind::Operation => "operation",
            NodeKind::Leaf => "leaf",
            NodeKind::Tensor => "tensor",
        }
    }
}

/// One node: its name (the backward function's class, or the tensor's name), its kind, the
/// named tensor an operation belongs to (`a` for `a.grad_fn`, `w` for w's AccumulateGrad), and
/// a label unique in the graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// What Python's `type(fn).__name__` says (`MulBackward0`), or the tensor's name.
    pub name: String,
    /// Operation, leaf or tensor.
    pub kind: NodeKind,
    /// The tensor it stands for, when one was named (`a`, `w`).
    pub tensor: Option<String>,
    /// The name, with the tensor's in parentheses: `AddBackward0 (a)`.
    pub label: String,
}

/// An edge `from -> to` in the direction gradients flow; `to = None` is an input that gets no
/// gradient (PyTorch's `(None, 0)` in `next_functions`: a constant, a detached tensor).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    /// The index of the node whose `next_functions` holds the edge.
    pub from: usize,
    /// The next node, or `None` (PyTorch's `(None, 0)`).
    pub to: Option<usize>,
}

/// The graph behind some outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Graph {
    /// The nodes, in walk order.
    pub nodes: Vec<Node>,
    /// The edges, in `next_functions` order.
    pub edges: Vec<Edge>,
}

/// `torch::autograd::AccumulateGrad` -> `AccumulateGrad`: the class name Python's
/// `type(fn).__name__` gives (namespaces stripped, template arguments kept).
pub fn strip_namespaces(name: &str) -> &str {
    let mut depth = 0i32;
    let mut start = 0;
    let bytes = name.as_bytes();
    for (i, &c) in bytes.iter().enumerate() {
        match c {
            b'<' | b'(' => depth += 1,
            b'>' | b')' => depth -= 1,
            b':' if depth == 0 && i + 1 < bytes.len() && bytes[i + 1] == b':' => start = i + 2,
            _ => {}
        }
    }
    // `start` is just past a `::` (ASCII), so it is a char boundary.
    &name[start..]
}

/// The error of a failed read, on one line.
fn read_error(m: String) -> anyhow::Error {
    anyhow::anyhow!("reading the autograd graph: {}", first_line(&m))
}

/// The names the caller gives: leaves by tensor identity, operation nodes by libtorch identity.
/// The first name given to a tensor or node wins (two views can share one grad_fn).
fn given_names(named: &[(&str, &Tensor)]) -> Result<(HashMap<u64, String>, HashMap<u64, String>)> {
    let err = read_error;
    let mut leaf_names: HashMap<u64, String> = HashMap::new();
    let mut fn_names: HashMap<u64, String> = HashMap::new();
    for (name, t) in named {
        if t.is_leaf() {
            let id = ffi::tensor_id(t).map_err(err)?;
            leaf_names.entry(id).or_insert_with(|| name.to_string());
        } else if let Some(node) = ffi::grad_fn(t).map_err(err)? {
            let id = node.info().map_err(err)?.id;
            fn_names.entry(id).or_insert_with(|| name.to_string());
        }
    }
    Ok((leaf_names, fn_names))
}

impl Node {
    fn new(name: String, kind: NodeKind, tensor: Option<String>) -> Self {
        Self {
            name,
            kind,
            tensor,
            label: String::new(),
        }
    }
}

impl Graph {
    /// Walks the graph behind `outputs` breadth-first, each node's `next_functions` in order.
    /// `named` gives names to leaves (through their AccumulateGrad) and to other tensors
    /// (through their grad_fn); the outputs are tensor nodes of their own.
    pub fn of(outputs: &[(&str, &Tensor)], named: &[(&str, &Tensor)]) -> Result<Graph> {
        let err = read_error;
        let (leaf_names, fn_names) = given_names(named)?;
        let mut nodes: Vec<Node> = Vec::new();
        let mut edges: Vec<Edge> = Vec::new();
        // Operation nodes by libtorch identity, leaves by tensor identity.
        let mut op_index: HashMap<u64, usize> = HashMap::new();
        let mut leaf_index: HashMap<u64, usize> = HashMap::new();
        let mut queue: std::collections::VecDeque<(usize, ffi::NodeRef, ffi::NodeInfo)> =
            Default::default();
        let mut add_op = |node: ffi::NodeRef,
                          nodes: &mut Vec<Node>,
                          queue: &mut std::collections::VecDeque<_>|
         -> Result<usize> {
            let info = node.info().map_err(err)?;
            if let Some(&i) = op_index.get(&info.id) {
                return Ok(i);
            }
            let tensor = match info.leaf {
                Some(leaf) => leaf_names.get(&leaf).cloned(),
                None => fn_names.get(&info.id).cloned(),
            };
            let i = nodes.len();
            let name = strip_namespaces(&info.name).to_string();
            nodes.push(Node::new(name, NodeKind::Operation, tensor));
            op_index.insert(info.id, i);
            queue.push_back((i, node, info));
            Ok(i)
        };

        for (name, t) in outputs {
            let i = nodes.len();
            nodes.push(Node::new(name.to_string(), NodeKind::Tensor, None));
            if let Some(node) = ffi::grad_fn(t).map_err(err)? {
                let to = add_op(node, &mut nodes, &mut queue)?;
                edges.push(Edge {
                    from: i,
                    to: Some(to),
                });
            }
        }
        while let Some((i, node, info)) = queue.pop_front() {
            for k in 0..info.num_next {
                let to = match node.next(k).map_err(err)? {
                    Some(next) => Some(add_op(next, &mut nodes, &mut queue)?),
                    None => None,
                };
                edges.push(Edge { from: i, to });
            }
            if let Some(leaf) = info.leaf {
                let to = *leaf_index.entry(leaf).or_insert_with(|| {
                    let name = leaf_names.get(&leaf).cloned();
                    let name = name.unwrap_or_else(|| "leaf".to_string());
                    nodes.push(Node::new(name, NodeKind::Leaf, None));
                    nodes.len() - 1
                });
                edges.push(Edge {
                    from: i,
                    to: Some(to),
                });
            }
        }
        label_nodes(&mut nodes);
        Ok(Graph { nodes, edges })
    }

    /// One line per edge, `MulBackward0 -> AddBackward0 (a)`, in walk order.
    pub fn lines(&self) -> Vec<String> {
        self.edges
            .iter()
            .map(|e| {
                let to = e.to.map_or("None", |t| self.nodes[t].label.as_str());
                format!("{} -> {to}", self.nodes[e.from].label)
            })
            .collect()
    }

    /// The graph in the trace: nodes (label, name, kind) and edges (labels; null for None).
    #[cfg(feature = "cli")]
    pub fn to_json(&self) -> Value {
        json!({
            "nodes": self.nodes.iter().map(|n| json!({
                "label": n.label,
                "name": n.name,
                "kind": n.kind.as_str(),
            })).collect::<Vec<_>>(),
            "edges": self.edges.iter().map(|e| json!([
                self.nodes[e.from].label,
                e.to.map(|t| self.nodes[t].label.clone()),
            ])).collect::<Vec<_>>(),
        })
    }
}

/// The graph as text: [`Graph::lines`], one per line.
impl std::fmt::Display for Graph {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        for line in self.lines() {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

/// Labels: a tensor's name; an operation's class, with the named tensor it belongs to in
/// brackets (`AddBackward0 (a)`, `AccumulateGrad (w)`); a label that would still occur more
/// than once gets ` #1`, ` #2`, ... in walk order.
fn label_nodes(nodes: &mut [Node]) {
    for n in nodes.iter_mut() {
        n.label = match &n.tensor {
            Some(t) => format!("{} ({t})", n.name),
            None => n.name.clone(),
        };
    }
    let mut count: HashMap<String, usize> = HashMap::new();
    for n in nodes.iter() {
        *count.entry(n.label.clone()).or_default() += 1;
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    for n in nodes.iter_mut() {
        if count[&n.label] > 1 {
            let k = seen.entry(n.label.clone()).or_default();
            *k += 1;
            n.label = format!("{} #{k}", n.label);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_are_stripped_like_python_type_names() {
        assert_eq!(
            strip_namespaces("torch::autograd::AccumulateGrad"),
            "AccumulateGrad"
        );
        assert_eq!(strip_namespaces("MulBackward0"), "MulBackward0");
        assert_eq!(
            strip_namespaces("torch::autograd::CppNode<my::Fn>"),
            "CppNode<my::Fn>"
        );
    }

    #[test]
    fn the_lessons_graph() {
        let w = Tensor::from_slice(&[1.0f32]).set_requires_grad(true);
        let x = Tensor::from_slice(&[2.0f32]).set_requires_grad(true);
        let a = &w + &x;
        let b = &w + Tensor::from(1.0f32); // as Python's torch.add(w, 1)
        let y = &a * &b;
        let g = Graph::of(&[("y", &y)], &[("w", &w), ("x", &x), ("a", &a), ("b", &b)]).unwrap();
        assert_eq!(
            g.lines(),
            [
                "y -> MulBackward0",
                "MulBackward0 -> AddBackward0 (a)",
                "MulBackward0 -> AddBackward0 (b)",
                "AddBackward0 (a) -> AccumulateGrad (w)",
                "AddBackward0 (a) -> AccumulateGrad (x)",
                "AddBackward0 (b) -> AccumulateGrad (w)",
                "AddBackward0 (b) -> None",
                "AccumulateGrad (w) -> w",
                "AccumulateGrad (x) -> x",
            ]
        );
        let kinds: Vec<_> = g.nodes.iter().map(|n| n.kind).collect();
        assert_eq!(kinds.iter().filter(|k| **k == NodeKind::Leaf).count(), 2);
        // A tensor without history is a lone tensor node.
        let c = Tensor::from_slice(&[1.0f32]);
        let g = Graph::of(&[("c", &c)], &[]).unwrap();
        assert_eq!((g.nodes.len(), g.edges.len()), (1, 0));
    }
}
