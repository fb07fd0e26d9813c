//! The presets' documentation is generated from the data (`core::presets::PRESETS`), and
//! checked against it so it cannot drift: the markdown table between the markers
//! `<!-- presets:begin -->` / `<!-- presets:end -->` in README.md (which the package's README
//! includes), and the `PresetName` union between `// presets:begin` / `// presets:end` in
//! pkg-template/index.d.ts.
//!
//! Regenerate: `UPDATE_PRESETS=1 cargo test --test presets_doc` (rewrites the marked parts of
//! every file above that has the markers). Print the table: `cargo test --test presets_doc --
//! --nocapture print_the_table`.

use llm_pacer::core::presets::{self, OutputMetering, PRESETS, SOURCES};
use std::fmt::Write;

/// `n` with thousands separators, or empty for an absent limit.
fn num(n: Option<f64>) -> String {
    let Some(n) = n else { return String::new() };
    let digits = format!("{}", n as u64);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The markdown: one row per preset, then the sources, dated.
fn table() -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| `preset` | Models | RPM | ITPM | OTPM | TPM | OTPM metered | Source |\n|---|---|--:|--:|--:|--:|---|---|"
    );
    for p in PRESETS {
        let l = p.limits();
        let src = SOURCES.iter().position(|x| x == p.source()).unwrap() + 1;
        let metering = match p.metering() {
            Some(OutputMetering::RealTime) => "as generated",
            Some(OutputMetering::Reservation) => "`max_tokens` reserved",
            None => "",
        };
        let _ = writeln!(
            s,
            "| `{}` | {} | {} | {} | {} | {} | {} | ({}) |",
            p.name,
            p.models,
            num(l.rpm),
            num(l.itpm),
            num(l.otpm),
            num(l.tpm),
            metering,
            src
        );
    }
    let names: Vec<String> = tiers().iter().map(|t| format!("`{t}`")).collect();
    let _ = writeln!(
        s,
        "\nWhole tiers (each model class its own row): {}.",
        names.join(", ")
    );
    s.push_str("\nSources:\n\n");
    for (i, src) in SOURCES.iter().enumerate() {
        let _ = writeln!(
            s,
            "- ({}) <{}>, read {}: {}.",
            i + 1,
            src.url,
            src.read,
            src.note
        );
    }
    s
}

/// The TypeScript union of the names.
fn union() -> String {
    let mut s = String::from(
        "/** Every preset name (generated from the preset table by tests/presets_doc.rs). */\nexport type PresetName =\n",
    );
    for p in PRESETS {
        let _ = writeln!(s, "  | \"{}\"", p.name);
    }
    s.pop();
    s.push_str(";\n");
    s.push_str(
        "/** Every whole tier (`preset` only; each model class its own row). */\nexport type TierName =\n",
    );
    for t in tiers() {
        let _ = writeln!(s, "  | \"{t}\"");
    }
    s.pop();
    s.push_str(";\n");
    s
}

/// The whole tiers, in table order: each preset name less its class.
fn tiers() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for p in PRESETS {
        let t = p.name.rsplit_once(':').map_or(p.name, |(t, _)| t);
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

/// `text` with the part between `begin` and `end` (marker lines kept) replaced by `body`;
/// `None` when the markers are absent.
fn splice(text: &str, begin: &str, end: &str, body: &str) -> Option<String> {
    let b = text.find(begin)? + begin.len();
    let b = b + text[b..].find('\n')? + 1;
    let e = b + text[b..].find(end)?;
    let e = text[..e].rfind('\n').map_or(e, |i| i + 1);
    Some(format!("{}{}{}", &text[..b], body, &text[e..]))
}

fn check(path: &str, begin: &str, end: &str, body: &str, required: bool) {
    let full = format!("{}/{}", env!("CARGO_MANIFEST_DIR"), path);
    let text = std::fs::read_to_string(&full).unwrap();
    let Some(want) = splice(&text, begin, end, body) else {
        assert!(!required, "{path} lacks the markers {begin} / {end}");
        return;
    };
    if std::env::var_os("UPDATE_PRESETS").is_some() {
        std::fs::write(&full, &want).unwrap();
    } else {
        assert!(
            text == want,
            "{path}: the presets' documentation differs from the data; run \
             `UPDATE_PRESETS=1 cargo test --test presets_doc`"
        );
    }
}

#[test]
fn the_readmes_preset_tables_are_the_data() {
    let t = table();
    // Required once README.md has the markers (the lead adds the section; see the report).
    check(
        "README.md",
        "<!-- presets:begin -->",
        "<!-- presets:end -->",
        &t,
        false,
    );
}

#[test]
fn the_preset_name_union_is_the_data() {
    check(
        "pkg-template/index.d.ts",
        "// presets:begin",
        "// presets:end",
        &union(),
        true,
    );
}

#[test]
fn print_the_table() {
    println!("{}", table());
}

#[test]
fn the_table_lists_every_preset_once_with_its_numbers() {
    let t = table();
    for p in PRESETS {
        assert_eq!(
            t.matches(&format!("| `{}` |", p.name)).count(),
            1,
            "{}",
            p.name
        );
    }
    let row = t
        .lines()
        .find(|l| l.contains("`anthropic:tier-1:sonnet`"))
        .unwrap();
    assert!(row.contains("| 50 | 30,000 | 8,000 |"), "{row}");
    assert!(presets::find("anthropic:tier-1:sonnet").is_some());
}
