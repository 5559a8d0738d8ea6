//! The book (`book/zh`, `book/en`) cannot drift from the code: every command it shows is run
//! and its output compared with the book's block (exercise answers included), every include
//! names a file and an anchor that exist, no code is pasted, both books have the same chapters,
//! and the Chinese book's prose uses full-width punctuation. The conventions are in
//! book/README.md; `scripts/book.sh` builds the books and checks them in a browser.
mod common;

use common::{output_within, reference_command, root, text};
use std::collections::BTreeMap;
use std::process::{Command, Stdio};

const LANGUAGES: [&str; 2] = ["zh", "en"];

/// The chapters of one book, in the order its SUMMARY.md lists them: (file name, text).
fn chapters(language: &str) -> Vec<(String, String)> {
    let src = root().join("book").join(language).join("src");
    let summary = std::fs::read_to_string(src.join("SUMMARY.md")).unwrap();
    summary
        .lines()
        .filter_map(|line| {
            let start = line.find("](")? + 2;
            let end = start + line[start..].find(')')?;
            Some(line[start..end].to_string())
        })
        .map(|file| {
            let body = std::fs::read_to_string(src.join(&file))
                .unwrap_or_else(|e| panic!("book/{language}/src/{file}: {e}"));
            (file, body)
        })
        .collect()
}

/// A fenced block: its info string, its lines, and the line it starts on (1-based).
struct Block {
    info: String,
    lines: Vec<String>,
    line: usize,
}

fn blocks(markdown: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for (n, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("```") {
            match open.take() {
                None => {
                    open = Some(Block {
                        info: rest.trim().to_string(),
                        lines: Vec::new(),
                        line: n + 1,
                    })
                }
                Some(block) => out.push(block),
            }
        } else if let Some(block) = open.as_mut() {
            block.lines.push(line.to_string());
        }
    }
    assert!(open.is_none(), "a fenced block is never closed");
    out
}

/// The text outside fenced blocks and inline code: what a reader reads as prose.
fn prose(markdown: &str) -> Vec<(usize, String)> {
    let mut fenced = false;
    let mut out = Vec::new();
    for (n, line) in markdown.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let mut kept = String::new();
        for (i, part) in line.split('`').enumerate() {
            if i % 2 == 0 {
                kept.push_str(part);
            }
        }
        out.push((n + 1, kept));
    }
    out
}

#[test]
fn both_books_have_the_same_chapters_and_exercises() {
    let zh = chapters("zh");
    let en = chapters("en");
    let names = |c: &[(String, String)]| c.iter().map(|(f, _)| f.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&zh),
        names(&en),
        "the two SUMMARY.md list other chapters"
    );
    assert!(
        zh.len() >= 8,
        "a preface and seven chapters: {:?}",
        names(&zh)
    );
    for ((file, zh_text), (_, en_text)) in zh.iter().zip(&en) {
        let count = |t: &str, needle: &str| t.matches(needle).count();
        for needle in ["<details>", "```console", "{{#include", "](img/"] {
            assert_eq!(
                count(zh_text, needle),
                count(en_text, needle),
                "{file}: the two books differ in the number of {needle}"
            );
        }
        if file != "README.md" {
            let exercises = count(zh_text, "<details>");
            assert!(
                (2..=4).contains(&exercises),
                "{file}: {exercises} exercises with answers (two or three expected)"
            );
        }
    }
}

/// `{{#include PATH:ANCHOR}}` (or a whole file): the file exists and has the anchor.
#[test]
fn every_include_names_a_file_and_an_anchor_that_exist() {
    let mut count = 0;
    for language in LANGUAGES {
        let src = root().join("book").join(language).join("src");
        for (file, body) in chapters(language) {
            for (i, _) in body.match_indices("{{#include ") {
                let rest = &body[i + "{{#include ".len()..];
                let spec = rest[..rest.find("}}").expect("an include is closed")].trim();
                let (path, anchor) = match spec.rsplit_once(':') {
                    Some((p, a)) => (p, Some(a)),
                    None => (spec, None),
                };
                let target = src.join(path);
                let code = std::fs::read_to_string(&target)
                    .unwrap_or_else(|e| panic!("book/{language}/src/{file}: include {path}: {e}"));
                if let Some(anchor) = anchor {
                    for mark in [format!("ANCHOR: {anchor}"), format!("ANCHOR_END: {anchor}")] {
                        assert!(
                            code.lines().any(|l| l.trim_end().ends_with(&mark)),
                            "book/{language}/src/{file}: {path} has no `{mark}`"
                        );
                    }
                }
                count += 1;
            }
        }
    }
    assert!(count >= 16, "only {count} includes");
}

/// Code comes from the lesson files: a `rust` or `python` block holds includes only.
#[test]
fn no_code_is_pasted() {
    for language in LANGUAGES {
        for (file, body) in chapters(language) {
            for block in blocks(&body) {
                let lang = block.info.split(',').next().unwrap_or("");
                if lang == "rust" || lang == "python" {
                    for line in block.lines.iter().filter(|l| !l.trim().is_empty()) {
                        assert!(
                            line.trim().starts_with("{{#include "),
                            "book/{language}/src/{file}:{}: pasted code `{line}`: include it from a lesson file",
                            block.line
                        );
                    }
                }
            }
        }
    }
}

/// Every picture a chapter shows is one that scripts/book.sh draws.
#[test]
fn every_picture_is_drawn_by_the_book_script() {
    let script = std::fs::read_to_string(root().join("scripts/book.sh")).unwrap();
    for language in LANGUAGES {
        for (file, body) in chapters(language) {
            for (i, _) in body.match_indices("](img/") {
                let rest = &body[i + 2..];
                let path = &rest[..rest.find(')').unwrap()];
                assert!(
                    script.contains(path),
                    "book/{language}/src/{file}: {path} is not drawn by scripts/book.sh"
                );
            }
        }
    }
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x9fff | 0xf900..=0xfaff | 0x3000..=0x303f | 0xff00..=0xffef)
}

/// The Chinese book's prose: no ASCII `,` `;` `:` `?` `!` `(` `)` next to a Chinese character
/// (full-width `，；：？！（）` there), and no `。` in the English book.
#[test]
fn the_chinese_book_uses_full_width_punctuation() {
    let mut faults = Vec::new();
    for (file, body) in chapters("zh") {
        for (n, line) in prose(&body) {
            let chars: Vec<char> = line.chars().collect();
            for (i, &c) in chars.iter().enumerate() {
                if !",;:?!()".contains(c) {
                    continue;
                }
                let before = i.checked_sub(1).map(|j| chars[j]);
                let after = chars.get(i + 1).copied();
                let touches = match c {
                    '(' => after.is_some_and(is_cjk) || before.is_some_and(is_cjk),
                    ')' => before.is_some_and(is_cjk),
                    _ => before.is_some_and(is_cjk),
                };
                // A Markdown link `](...)` or `[...](` is syntax, not punctuation.
                let link = (c == '(' && before == Some(']')) || (c == ')' && line.contains("]("));
                if touches && !link {
                    faults.push(format!(
                        "book/zh/src/{file}:{n}: `{c}` in `{}`",
                        line.trim()
                    ));
                }
            }
        }
    }
    for (file, body) in chapters("en") {
        for (n, line) in prose(&body) {
            if line.contains('。') || line.contains('，') {
                faults.push(format!(
                    "book/en/src/{file}:{n}: full-width punctuation in English"
                ));
            }
        }
    }
    assert!(faults.is_empty(), "{}", faults.join("\n"));
}

/// One command of a `console` block and the lines the book says it prints.
#[derive(Debug)]
struct Shown {
    place: String,
    command: String,
    expected: Vec<String>,
}

fn shown_commands() -> Vec<Shown> {
    let mut out = Vec::new();
    for language in LANGUAGES {
        for (file, body) in chapters(language) {
            for block in blocks(&body).into_iter().filter(|b| b.info == "console") {
                for (k, line) in block.lines.iter().enumerate() {
                    if let Some(command) = line.strip_prefix("$ ") {
                        let expected = block.lines[k + 1..]
                            .iter()
                            .take_while(|l| !l.starts_with("$ "))
                            .cloned()
                            .collect();
                        out.push(Shown {
                            place: format!("book/{language}/src/{file}:{}", block.line + k + 1),
                            command: command.trim().to_string(),
                            expected,
                        });
                    } else if k == 0 {
                        panic!(
                            "book/{language}/src/{file}:{}: a console block starts with `$ `",
                            block.line
                        );
                    }
                }
            }
        }
    }
    out
}

fn program(name: &str) -> Option<&'static str> {
    Some(match name {
        "softmax" => env!("CARGO_BIN_EXE_softmax"),
        "autograd_demo" => env!("CARGO_BIN_EXE_autograd_demo"),
        "fc_demo" => env!("CARGO_BIN_EXE_fc_demo"),
        "activations" => env!("CARGO_BIN_EXE_activations"),
        "classify" => env!("CARGO_BIN_EXE_classify"),
        _ => return None,
    })
}

/// The process a shown command stands for: `cargo run -q --release --bin NAME [-- ARGS]` runs
/// the test's build of NAME, `.venv/bin/python scripts/reference.py ARGS` the Python twin.
fn command_for(shown: &str) -> Result<Command, String> {
    let words: Vec<&str> = shown.split(' ').filter(|w| !w.is_empty()).collect();
    let mut command = if let Some(rest) =
        words.strip_prefix(&["cargo", "run", "-q", "--release", "--bin"][..])
    {
        let (name, rest) = rest.split_first().ok_or("no program after --bin")?;
        let bin = program(name).ok_or(format!("no program `{name}`"))?;
        let args = match rest {
            [] => &[][..],
            ["--", args @ ..] => args,
            _ => return Err("the program's arguments come after `--`".into()),
        };
        let mut c = Command::new(bin);
        c.args(args);
        c
    } else if let Some(args) = words.strip_prefix(&[".venv/bin/python", "scripts/reference.py"][..])
    {
        let mut c = reference_command();
        c.args(args);
        c
    } else {
        return Err("a command is `cargo run -q --release --bin NAME [-- ARGS]` or `.venv/bin/python scripts/reference.py ARGS`".into());
    };
    if words.iter().any(|w| matches!(*w, "--plot" | "--save"))
        || words.windows(2).any(|p| p[0] == "--json" && p[1] != "-")
        || words.windows(2).any(|p| p[0] == "--graph" && p[1] != "-")
    {
        return Err("a command in the book writes no file".into());
    }
    command.current_dir(root()).stdin(Stdio::null());
    Ok(command)
}

/// `expected` matches `actual` line for line, a line `...` matching any number of lines.
fn matches(expected: &[String], actual: &[&str]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((e, rest)) if e == "..." => (0..=actual.len()).any(|k| matches(rest, &actual[k..])),
        Some((e, rest)) => actual.first() == Some(&e.as_str()) && matches(rest, &actual[1..]),
    }
}

#[test]
fn every_command_in_the_book_prints_what_the_book_shows() {
    let shown = shown_commands();
    assert!(
        shown.len() >= 14,
        "only {} commands in the books",
        shown.len()
    );
    let mut outputs: BTreeMap<String, String> = BTreeMap::new();
    let mut faults = Vec::new();
    for s in &shown {
        let actual = match outputs.get(&s.command) {
            Some(a) => a.clone(),
            None => {
                let mut command = match command_for(&s.command) {
                    Ok(c) => c,
                    Err(e) => {
                        faults.push(format!("{}: `{}`: {e}", s.place, s.command));
                        continue;
                    }
                };
                let out = output_within(&mut command);
                let mut all = text(&out.stdout) + &text(&out.stderr);
                if !out.status.success() {
                    let code = out
                        .status
                        .code()
                        .map_or("a signal".to_string(), |c| c.to_string());
                    all.push_str(&format!("[exit status: {code}]\n"));
                }
                outputs.insert(s.command.clone(), all.clone());
                all
            }
        };
        let lines: Vec<&str> = actual.lines().collect();
        let expected: Vec<String> = s
            .expected
            .iter()
            .map(|l| l.trim_end().to_string())
            .collect();
        let actual_trimmed: Vec<&str> = lines.iter().map(|l| l.trim_end()).collect();
        if !matches(&expected, &actual_trimmed) {
            faults.push(format!(
                "{}: `{}` prints\n{}\nbut the book shows\n{}",
                s.place,
                s.command,
                actual.trim_end(),
                s.expected.join("\n")
            ));
        }
    }
    assert!(faults.is_empty(), "{}", faults.join("\n\n"));
}

#[test]
fn the_matcher_takes_ellipses_for_any_lines() {
    let e = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(matches(&e(&["a", "...", "d"]), &["a", "b", "c", "d"]));
    assert!(matches(&e(&["a", "...", "d"]), &["a", "d"]));
    assert!(!matches(&e(&["a", "...", "d"]), &["a", "b", "c"]));
    assert!(!matches(&e(&["a", "b"]), &["a", "b", "c"]));
    assert!(matches(&e(&["..."]), &[]));
}
