//! The shape a reader can walk: no function in `src/`, `csrc/` or `scripts/` is longer than
//! [`MAX_LINES`] lines, from its signature to its closing brace (Rust, parsed with syn; C++, by
//! its braces; Python, by `ast`'s line numbers).
mod common;

use std::path::{Path, PathBuf};
use syn::visit::Visit;

const MAX_LINES: usize = 80;

/// Every file below `dir` (recursively) whose name ends with `ext`.
fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path, ext));
        } else if path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// (name, first line, last line) of every function with a body, methods and nested ones included.
#[derive(Default)]
struct RustFunctions(Vec<(String, usize, usize)>);

impl RustFunctions {
    fn add(&mut self, sig: &syn::Signature, block: &syn::Block) {
        let first = sig.fn_token.span.start().line;
        let last = block.brace_token.span.close().end().line;
        self.0.push((sig.ident.to_string(), first, last));
    }
}

impl<'ast> Visit<'ast> for RustFunctions {
    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        self.add(&f.sig, &f.block);
        syn::visit::visit_item_fn(self, f);
    }

    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        self.add(&f.sig, &f.block);
        syn::visit::visit_impl_item_fn(self, f);
    }

    fn visit_trait_item_fn(&mut self, f: &'ast syn::TraitItemFn) {
        if let Some(block) = &f.default {
            self.add(&f.sig, block);
        }
        syn::visit::visit_trait_item_fn(self, f);
    }
}

/// A function found in a source file: where it is, its name, its first and last lines.
struct Function {
    file: PathBuf,
    name: String,
    first: usize,
    last: usize,
}

/// Asserts that at least `at_least` functions were found (the walk sees what is there) and that
/// none of them is longer than [`MAX_LINES`].
fn assert_short(functions: &[Function], at_least: usize) {
    assert!(
        functions.len() >= at_least,
        "only {} functions found",
        functions.len()
    );
    let long: Vec<String> = functions
        .iter()
        .filter(|f| f.last - f.first + 1 > MAX_LINES)
        .map(|f| {
            let file = f.file.strip_prefix(common::root()).unwrap_or(&f.file);
            let lines = f.last - f.first + 1;
            format!("{}:{} {}: {lines} lines", file.display(), f.first, f.name)
        })
        .collect();
    assert!(
        long.is_empty(),
        "longer than {MAX_LINES} lines:\n{}",
        long.join("\n")
    );
}

fn rust_functions(file: &Path) -> Vec<Function> {
    let text = std::fs::read_to_string(file).unwrap();
    let ast = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let mut functions = RustFunctions::default();
    functions.visit_file(&ast);
    let found = functions.0.into_iter();
    found
        .map(|(name, first, last)| Function {
            file: file.to_path_buf(),
            name,
            first,
            last,
        })
        .collect()
}

/// A C++ function starts at column 0 and its body ends with a `}` at column 0 (namespaces and
/// `extern "C" {` are not bodies; their closing braces carry a comment).
fn cxx_functions(file: &Path) -> Vec<Function> {
    let text = std::fs::read_to_string(file).unwrap();
    let mut found = Vec::new();
    let mut start: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let opens_scope = line.starts_with("namespace") || line.starts_with("extern \"C\" {");
        let signature = !line.starts_with([' ', '}', '#', '/', '\t'])
            && line.contains('(')
            && !opens_scope
            && !line.trim_end().ends_with(';');
        if start.is_none() && signature {
            start = Some((i + 1, line.split('(').next().unwrap().trim().to_string()));
        } else if line.starts_with('}') && !line.contains("//") {
            if let Some((first, name)) = start.take() {
                let file = file.to_path_buf();
                let last = i + 1;
                found.push(Function {
                    file,
                    name,
                    first,
                    last,
                });
            }
        }
    }
    found
}

#[test]
fn no_rust_function_is_longer_than_80_lines() {
    let root = common::root();
    let sources = files(&root.join("src"), "rs").into_iter();
    let functions: Vec<Function> = sources
        .chain([root.join("build.rs")])
        .flat_map(|file| rust_functions(&file))
        .collect();
    // The library and its programs have hundreds of functions.
    assert_short(&functions, 300);
}

#[test]
fn no_cxx_function_is_longer_than_80_lines() {
    let root = common::root();
    let sources = [("csrc", "cpp"), ("csrc", "h"), ("scripts", "cpp")];
    let functions: Vec<Function> = sources
        .into_iter()
        .flat_map(|(dir, ext)| files(&root.join(dir), ext))
        .flat_map(|file| cxx_functions(&file))
        .collect();
    assert_short(&functions, 10);
}

#[test]
fn no_python_function_is_longer_than_80_lines() {
    let scripts = common::root().join("scripts");
    let out = common::python_eval(&format!(
        r#"
import ast, glob, os
for path in sorted(glob.glob(os.path.join({dir:?}, "*.py"))):
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            print(path, node.name, node.lineno, node.end_lineno, sep="\t")
"#,
        dir = scripts.display().to_string(),
    ));
    let functions: Vec<Function> = out
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            Function {
                file: PathBuf::from(fields[0]),
                name: fields[1].to_string(),
                first: fields[2].parse().unwrap(),
                last: fields[3].parse().unwrap(),
            }
        })
        .collect();
    assert_short(&functions, 100);
}
