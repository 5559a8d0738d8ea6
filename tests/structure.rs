//! The shape a reader can walk: no function in `src/`, `csrc/` or `scripts/` is longer than
//! [`MAX_LINES`] lines, from its signature to its closing brace (Rust, parsed with syn, methods
//! and nested functions included; C++, by its braces, methods included; Python, by `ast`'s line
//! numbers, methods and nested functions included; shell, by its `name() {` and `}` lines).
//! Not measured: functions inside macro invocations, and tests/ and benches/ (a test's table of
//! cases is long on purpose).
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

impl Function {
    fn new(file: &Path, name: String, first: usize, last: usize) -> Self {
        let file = file.to_path_buf();
        Self {
            file,
            name,
            first,
            last,
        }
    }
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
        .map(|(name, first, last)| Function::new(file, name, first, last))
        .collect()
}

/// A C++ line without its `//` comment and the contents of its string and char literals, so
/// that only the code's own braces and parentheses are counted.
fn cxx_code(line: &str) -> String {
    let mut code = String::new();
    let mut quote: Option<char> = None;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(_), '\\') => {
                chars.next();
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '/') if chars.peek() == Some(&'/') => break,
            (None, c) => code.push(c),
        }
    }
    code
}

/// Every C++ function body, methods and constructors included: a `{` that ends a line whose
/// statement holds a parameter list, and is not a control statement, a lambda, an initialiser,
/// a namespace or a type; it runs from its signature's first line to its matching `}`.
fn cxx_functions(file: &Path) -> Vec<Function> {
    let text = std::fs::read_to_string(file).unwrap();
    let lines: Vec<String> = text.lines().map(cxx_code).collect();
    let count = |l: &str, c: char| l.matches(c).count() as i64;
    let mut found = Vec::new();
    // Open braces: (depth, Some((first line, name)) for a function body).
    let mut open: Vec<Option<(usize, String)>> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        for (k, c) in line.char_indices() {
            if c == '}' {
                if let Some(Some((first, name))) = open.pop() {
                    found.push(Function::new(file, name, first, i + 1));
                }
                continue;
            }
            if c != '{' {
                continue;
            }
            let ends_line = line[k + 1..].trim().is_empty();
            // The signature: back from this line until its parentheses balance.
            let mut first = i;
            let mut balance = count(&line[..k], ')') - count(&line[..k], '(');
            while balance > 0 && first > 0 {
                first -= 1;
                balance += count(&lines[first], ')') - count(&lines[first], '(');
            }
            let head = lines[first].trim_start();
            let word = head
                .split(|c: char| !c.is_alphanumeric() && c != '_')
                .next()
                .unwrap_or("");
            let control = [
                "if", "for", "while", "switch", "catch", "else", "do", "try", "return",
            ];
            let kind = ["namespace", "struct", "class", "enum", "union"];
            let statement = lines[first..i].concat() + &line[..k];
            let function = ends_line
                && statement.contains('(')
                && !head.starts_with('}')
                && !control.contains(&word)
                && !kind.contains(&word)
                && !statement.contains("](")
                && !statement.contains("] (")
                && !statement.trim_end().ends_with('=');
            let name = statement.split('(').next().unwrap_or("").trim();
            let name = name.rsplit(' ').next().unwrap_or(name);
            let name = name.trim_start_matches(['*', '&']).to_string();
            open.push(function.then_some((first + 1, name)));
        }
    }
    found
}

/// Every shell function: `name() {` at the start of a line, to the first `}` alone on a line.
fn shell_functions(file: &Path) -> Vec<Function> {
    let text = std::fs::read_to_string(file).unwrap();
    let mut found = Vec::new();
    let mut start: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let opens = line.trim_end().ends_with("() {") || line.starts_with("function ");
        if start.is_none() && opens && !line.starts_with(' ') {
            let name = line
                .trim_start_matches("function ")
                .split(['(', ' '])
                .next();
            start = Some((i + 1, name.unwrap_or("").to_string()));
        } else if line == "}" {
            if let Some((first, name)) = start.take() {
                found.push(Function::new(file, name, first, i + 1));
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
    let sources = ["cpp", "cc", "h", "hpp"].into_iter().flat_map(|ext| {
        let (csrc, scripts) = (
            files(&root.join("csrc"), ext),
            files(&root.join("scripts"), ext),
        );
        csrc.into_iter().chain(scripts)
    });
    let functions: Vec<Function> = sources.flat_map(|file| cxx_functions(&file)).collect();
    // bench_twin.cpp's functions and methods (29), the shims' functions (12).
    assert_short(&functions, 32);
}

#[test]
fn no_shell_function_is_longer_than_80_lines() {
    let scripts = files(&common::root().join("scripts"), "sh").into_iter();
    let functions: Vec<Function> = scripts.flat_map(|file| shell_functions(&file)).collect();
    for f in &functions {
        assert!(
            f.last > f.first,
            "{}: {} has no body",
            f.file.display(),
            f.name
        );
    }
    assert_short(&functions, 1);
}

#[test]
fn no_python_function_is_longer_than_80_lines() {
    let scripts = common::root().join("scripts");
    let out = common::python_eval(&format!(
        r#"
import ast, glob, os
for path in sorted(glob.glob(os.path.join({dir:?}, "**", "*.py"), recursive=True)):
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
            let (first, last) = (fields[2].parse().unwrap(), fields[3].parse().unwrap());
            Function::new(Path::new(fields[0]), fields[1].to_string(), first, last)
        })
        .collect();
    assert_short(&functions, 100);
}
