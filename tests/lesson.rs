//! The lesson files stay the lesson (issue: the lesson's code, plain, on both sides):
//! - every code statement of the lesson (`docs/lesson/README.md`, the lesson's code laid out)
//!   appears in its Python lesson file (`scripts/lesson/`) in the lesson's order, with only the
//!   parameters listed here substituted;
//! - the book's side-by-side tables (PyTorch statement -> Rust statement) quote both lesson
//!   files as they are, row after row in the files' order;
//! - no lesson file reaches for the machinery (options, traces, files, signals).
use std::path::Path;

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The code of a file with its comments removed (`#` for Python, `//` for Rust, to the end of
/// the line) and every run of white space made one space: a statement that rustfmt or a person
/// broke over lines reads as one.
fn flat(code: &str, comment: &str) -> String {
    let lines: Vec<&str> = code
        .lines()
        .map(|l| l.find(comment).map_or(l, |i| &l[..i]))
        .collect();
    lines
        .join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Asserts that every statement appears in `code` (flattened), each after the one before.
fn in_order(code: &str, statements: &[String], what: &str) {
    let mut at = 0;
    for s in statements {
        let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
        match code[at..].find(&s) {
            Some(i) => at += i + s.len(),
            None => panic!(
                "{what}: `{s}` is missing, or out of the lesson's order (looked after: `{}`)",
                &code[at.saturating_sub(60)..at]
            ),
        }
    }
}

/// The ```python blocks of the lesson's outline, each as its statements (one per line).
fn lesson_blocks() -> Vec<Vec<String>> {
    let text = read("docs/lesson/README.md");
    let mut blocks = Vec::new();
    let mut block: Option<Vec<String>> = None;
    for line in text.lines() {
        match (&mut block, line.trim()) {
            (None, "```python") => block = Some(Vec::new()),
            (Some(_), "```") => blocks.push(block.take().unwrap()),
            (Some(b), l) if !l.is_empty() => b.push(l.to_string()),
            _ => {}
        }
    }
    blocks
}

/// Splits a lesson block into its classes (each from `class` to the end of its body) and the
/// rest: a lesson file defines its classes first, the program after, so each part is checked
/// in its own order.
fn parts(block: &[String], raw: &str) -> Vec<Vec<String>> {
    let mut classes: Vec<Vec<String>> = Vec::new();
    let mut rest = Vec::new();
    let mut in_class = false;
    for line in raw.lines().filter(|l| !l.trim().is_empty()) {
        let statement = line.trim().to_string();
        if line.starts_with("class ") {
            in_class = true;
            classes.push(vec![statement]);
        } else if in_class && line.starts_with(' ') {
            classes.last_mut().unwrap().push(statement);
        } else {
            in_class = false;
            rest.push(statement);
        }
    }
    assert_eq!(
        classes.iter().map(Vec::len).sum::<usize>() + rest.len(),
        block.len()
    );
    classes.push(rest);
    classes
}

/// The lesson's code blocks with their raw text (indentation kept, for [`parts`]).
fn lesson_raw_blocks() -> Vec<String> {
    let text = read("docs/lesson/README.md");
    text.split("```python\n")
        .skip(1)
        .map(|b| b.split("\n```").next().unwrap().to_string())
        .collect()
}

/// The parameters a lesson file substitutes for the lesson's literals: (lesson, file).
const SUBSTITUTED: [(&str, &str); 14] = [
    ("torch.manual_seed(7)", "torch.manual_seed(seed)"),
    (
        "torch.rand((7, 2, 2))",
        "torch.rand((samples, 2, 2)).to(device)",
    ),
    (
        "torch.randint(0, 2, (7,))",
        "torch.randint(0, 2, (samples,)).to(device)",
    ),
    ("def __init__(self):", "def __init__(self, logits=False):"),
    (
        "net = LinearNet()",
        "net = LinearNet(logits=logits).to(device)",
    ),
    ("net.parameters(), lr=0.1)", "net.parameters(), lr=lr)"),
    ("range(70)", "range(epochs)"),
    ("(epoch + 1, train_l))", "(epoch + 1, train_l), file=file)"),
    ("requires_grad=True)", "requires_grad=True, device=device)"),
    (
        "y.backward(retain_graph=True)",
        "y.backward(retain_graph=True)",
    ),
    ("[[1.0, 2.0, 3.0]])", "[[1.0, 2.0, 3.0]]).to(device)"),
    ("[[4.0, 5.0]])", "[[4.0, 5.0]]).to(device)"),
    ("output_size=2)", "output_size=2).to(device)"),
    ("model.parameters(), lr=0.01)", "model.parameters(), lr=lr)"),
];

fn substituted(statement: &str) -> String {
    let mut s = statement.to_string();
    for (lesson, file) in SUBSTITUTED {
        if s.contains(lesson) {
            s = s.replacen(lesson, file, 1);
            break;
        }
    }
    s
}

/// The lesson's three code blocks and the Python files that hold them.
const FILES: [&str; 3] = ["softmax_regression", "autograd", "fully_connected"];

#[test]
fn every_lesson_statement_is_in_its_python_file_in_the_lessons_order() {
    let (blocks, raw) = (lesson_blocks(), lesson_raw_blocks());
    assert_eq!(
        blocks.len(),
        FILES.len(),
        "the lesson has three code blocks"
    );
    for ((block, raw), name) in blocks.iter().zip(&raw).zip(FILES) {
        let path = format!("scripts/lesson/{name}.py");
        let code = flat(&read(&path), "#");
        for part in parts(block, raw) {
            let part: Vec<String> = part.iter().map(|s| substituted(s)).collect();
            in_order(&code, &part, &path);
        }
    }
}

/// The substitutions are the only change: a lesson statement that the file no longer holds as
/// written (here: the lesson's seed) is caught.
#[test]
fn the_check_catches_a_changed_statement() {
    let code = flat(&read("scripts/lesson/softmax_regression.py"), "#");
    let changed = code.replace("torch.manual_seed(seed)", "torch.manual_seed(8)");
    let statements = vec![substituted("torch.manual_seed(7)")];
    in_order(&code, &statements, "as it is");
    let caught = std::panic::catch_unwind(|| in_order(&changed, &statements, "changed"));
    assert!(caught.is_err());
}

/// The lesson's sections, a file each on both sides and a table each in the book's chapter of
/// the same name (`book/{zh,en}/src/NAME.md`, section "Line by line").
const SECTIONS: [&str; 4] = [
    "softmax_regression",
    "autograd",
    "fully_connected",
    "activations",
];

/// The rows of the table after `<!-- lesson: NAME -->`: (Python, Rust) statements.
fn table(chapter: &str, name: &str) -> Vec<(String, String)> {
    let marker = format!("<!-- lesson: {name} -->");
    let start = chapter
        .find(&marker)
        .unwrap_or_else(|| panic!("no {marker} in the chapter"));
    chapter[start..]
        .lines()
        .skip(1)
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|row| {
            let cells: Vec<&str> = row.trim_matches('|').split(" | ").collect();
            assert_eq!(cells.len(), 2, "a row of two cells: {row}");
            let code = |c: &str| c.trim().trim_matches('`').to_string();
            (code(cells[0]), code(cells[1]))
        })
        .collect()
}

#[test]
fn the_books_tables_quote_both_lesson_files_in_order() {
    let chapter = |language: &str, name: &str| read(&format!("book/{language}/src/{name}.md"));
    for language in ["zh", "en"] {
        for name in SECTIONS {
            let rows = table(&chapter(language, name), name);
            assert!(rows.len() >= 10, "{language} {name}: {} rows", rows.len());
            let (python, rust): (Vec<String>, Vec<String>) = rows.into_iter().unzip();
            let py_path = format!("scripts/lesson/{name}.py");
            let rs_path = format!("src/lesson/{name}.rs");
            in_order(&flat(&read(&py_path), "#"), &python, &py_path);
            in_order(&flat(&read(&rs_path), "//"), &rust, &rs_path);
        }
    }
    // The two books show the same tables.
    for name in SECTIONS {
        assert_eq!(
            table(&chapter("en", name), name),
            table(&chapter("zh", name), name),
            "{name}"
        );
    }
}

#[test]
fn no_lesson_file_reaches_for_the_machinery() {
    let dir = |d: &str| -> Vec<std::path::PathBuf> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(d);
        let mut files: Vec<_> = std::fs::read_dir(root)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        files
    };
    for path in dir("src/lesson") {
        let text = std::fs::read_to_string(&path).unwrap();
        for banned in [
            "crate::cli",
            "crate::io",
            "crate::signals",
            "crate::programs",
            "crate::device",
            "std::fs",
            "clap",
            "serde",
            "signal_hook",
            "libc::",
        ] {
            assert!(!text.contains(banned), "{}: uses {banned}", path.display());
        }
    }
    for path in dir("scripts/lesson") {
        if path.extension().is_none_or(|e| e != "py") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for line in text
            .lines()
            .filter(|l| l.starts_with("import ") || l.starts_with("from "))
        {
            let module = line.split_whitespace().nth(1).unwrap();
            assert!(
                module == "torch" || module.starts_with("torch."),
                "{}: imports {module}",
                path.display()
            );
        }
    }
}
