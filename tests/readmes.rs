//! README.md and README.zh-CN.md state the same facts: every `--option`, every `scripts/...`
//! path and every `cargo ...` command of one appears in the other, and each links the other at
//! the top.
use std::collections::BTreeSet;
use std::path::Path;

fn read(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(name)).unwrap()
}

/// The tokens that make up the commands: `--option`s, `scripts/...` paths and `cargo <sub>`.
fn commands(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = text.as_bytes();
    let word = |i: usize, allowed: &dyn Fn(u8) -> bool| {
        let mut j = i;
        while j < bytes.len() && allowed(bytes[j]) {
            j += 1;
        }
        j
    };
    let mut i = 0;
    while i < bytes.len() {
        let rest = &text[i..];
        let boundary = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'-');
        if boundary
            && rest.starts_with("--")
            && rest[2..].starts_with(|c: char| c.is_ascii_lowercase())
        {
            let j = word(i + 2, &|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-'
            });
            out.insert(text[i..j].trim_end_matches('-').to_string());
            i = j;
        } else if boundary && rest.starts_with("scripts/") {
            let j = word(i + 8, &|c| {
                c.is_ascii_alphanumeric() || c == b'_' || c == b'.'
            });
            out.insert(text[i..j].trim_end_matches('.').to_string());
            i = j;
        } else if boundary && rest.starts_with("cargo ") {
            let j = word(i + 6, &|c| c.is_ascii_lowercase());
            if j > i + 6 {
                out.insert(text[i..j].to_string());
            }
            i = j.max(i + 1);
        } else {
            i += rest.chars().next().map_or(1, char::len_utf8);
        }
    }
    out
}

#[test]
fn both_readmes_name_the_same_commands_and_options() {
    let (en, zh) = (read("README.md"), read("README.zh-CN.md"));
    let (en_set, zh_set) = (commands(&en), commands(&zh));
    assert!(en_set.contains("--epochs") && en_set.contains("scripts/setup.sh"));
    assert!(en_set.contains("cargo run"), "{en_set:?}");
    let only_en: Vec<_> = en_set.difference(&zh_set).collect();
    let only_zh: Vec<_> = zh_set.difference(&en_set).collect();
    assert!(
        only_en.is_empty() && only_zh.is_empty(),
        "only in README.md: {only_en:?}; only in README.zh-CN.md: {only_zh:?}"
    );
    // The two quick-start commands, verbatim, in both.
    for command in [
        "scripts/setup.sh && cargo run --release --bin softmax",
        "\nscripts/test.sh\n",
    ] {
        assert!(en.contains(command) && zh.contains(command), "{command:?}");
    }
    // Each links the other near the top.
    let head = |s: &str| s.lines().take(5).collect::<Vec<_>>().join("\n");
    assert!(head(&en).contains("(README.zh-CN.md)"));
    assert!(head(&zh).contains("(README.md)"));
}
