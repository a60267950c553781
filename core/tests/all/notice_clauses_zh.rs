//! The clause library speaks Chinese: every clause, checklist item and notice item a
//! supervisor or contractor reads is zh-CN, with the English kept beside it; and the data
//! files name their sources by paths relative to the repository.

use std::path::{Path, PathBuf};

use fieldloop_core::doc::DocKind;
use fieldloop_core::notice::{draft_notice, fold_inspection, fold_notice, ClauseLibrary};
use fieldloop_core::sla::Deadline;
use fieldloop_core::time::HOUR;
use serde_json::json;

use crate::notice_flow::{new_doc, Log, T0};

/// An independent check (not the library's own): at least one CJK ideograph.
fn is_chinese(text: &str) -> bool {
    text.chars().any(|c| ('\u{4E00}'..='\u{9FFF}').contains(&c))
}

/// The numbers a text states (`≥3 m`, `19.5 %`, `1/100`, `9.3.5` …), in order.
fn figures(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() || (c == '.' && !current.is_empty()) {
            current.push(c);
        } else if !current.is_empty() {
            out.push(current.trim_end_matches('.').to_string());
            current.clear();
        }
    }
    if !current.is_empty() {
        out.push(current.trim_end_matches('.').to_string());
    }
    out
}

#[test]
fn every_clause_reads_in_chinese_with_the_english_kept_and_the_same_figures() {
    let lib = ClauseLibrary::bundled().unwrap();
    assert_eq!(lib.clauses().len(), 78);
    for clause in lib.clauses() {
        assert!(
            is_chinese(&clause.text),
            "{} has no Chinese text: {:?}",
            clause.id,
            clause.text
        );
        assert!(
            clause.text_en.chars().any(|c| c.is_ascii_alphabetic()),
            "{} lost its English: {:?}",
            clause.id,
            clause.text_en
        );
        assert_ne!(clause.text, clause.text_en, "{}", clause.id);
        // The Chinese wording is ours; the figures are the reference's facts.
        let mut zh = figures(&clause.text);
        let mut en = figures(&clause.text_en);
        zh.sort();
        en.sort();
        assert_eq!(
            zh, en,
            "{}: {:?} / {:?}",
            clause.id, clause.text, clause.text_en
        );
    }
    let ww57 = lib.clause("WW-57").unwrap();
    assert!(is_chinese(ww57.severity_note.as_deref().unwrap()));
    assert!(!ww57.severity_note.as_deref().unwrap().contains("pollutes"));
    assert!(ww57
        .severity_note_en
        .as_deref()
        .unwrap()
        .contains("pollutes a river"));
    // Spot checks against ../shared/reference/waterworks-clauses.md.
    assert!(lib.clause("WW-09").unwrap().text.contains("2 m"));
    assert!(lib.clause("WW-40").unwrap().text.contains("10 m"));
    assert!(lib.clause("WW-75").unwrap().text.contains("19.5%～23.5%"));
}

#[test]
fn a_checklist_item_carries_the_chinese_text_first_and_the_english() {
    let lib = ClauseLibrary::bundled().unwrap();
    for stage in lib.stages() {
        for item in lib.checklist(&stage.key).unwrap().items {
            let clause = lib.clause(&item.clause_id).unwrap();
            assert!(is_chinese(&item.text), "{}", item.clause_id);
            assert_eq!(item.text, clause.text);
            assert_eq!(item.text_en, clause.text_en);
        }
    }
}

#[test]
fn a_library_without_chinese_text_is_refused() {
    let english_only = r#"{"source":"x","stages":[{"key":"s","name":"阶段","name_en":"s"}],
        "clauses":[{"id":"A","stage":"s","stage_name":"阶段","no":1,
        "text":"Trench without edge protection","text_en":"Trench without edge protection",
        "source_grade":"","severity":"general","source":""}]}"#;
    let err = ClauseLibrary::from_json(english_only).unwrap_err();
    assert!(err.to_string().contains("A has no Chinese text"), "{err}");
    let chinese = english_only.replacen(
        r#""text":"Trench without edge protection""#,
        r#""text":"沟槽未设临边防护""#,
        1,
    );
    let lib = ClauseLibrary::from_json(&chinese).unwrap();
    assert_eq!(lib.clause("A").unwrap().text, "沟槽未设临边防护");
}

#[test]
fn a_notice_issued_from_failed_items_shows_the_chinese_clause_text() {
    let lib = ClauseLibrary::bundled().unwrap();
    let mut inspection = Log {
        doc: new_doc(DocKind::SiteInspection, Some("confined_space")),
        clock: T0,
    };
    let failing = ["WW-74", "WW-75"];
    for clause in lib.for_stage("confined_space").unwrap() {
        let answer = if failing.contains(&clause.id.as_str()) {
            "fail"
        } else {
            "pass"
        };
        inspection.sup(
            "inspection.answered",
            json!({"clause": clause.id, "answer": answer}),
        );
    }
    inspection.sup("inspection.submitted", json!({}));
    let state = fold_inspection(&inspection.doc.snapshot().unwrap(), &lib).unwrap();
    let due = Deadline {
        due: T0 + 72 * HOUR,
        provisional: false,
    };
    let issued = draft_notice(&state, &lib, None, "广州某建设有限公司", due).unwrap();

    // The drafted data goes into a real notice document and is read back by the fold,
    // as the contractor's phone does.
    let mut notice = Log {
        doc: new_doc(DocKind::Notice, None),
        clock: T0,
    };
    notice.sup("notice.issued", serde_json::to_value(&issued).unwrap());
    let folded = fold_notice(&notice.doc.snapshot().unwrap()).unwrap();
    assert!(folded.ignored.is_empty(), "{:?}", folded.ignored);
    let shown: Vec<&str> = folded.items.iter().map(|i| i.item.id.as_str()).collect();
    assert_eq!(shown, failing);
    for item in &folded.items {
        let clause = lib.clause(&item.item.clause).unwrap();
        assert_eq!(item.item.finding, clause.text);
        assert!(is_chinese(&item.item.finding));
        assert!(is_chinese(&item.item.required_action));
        assert!(
            !item.item.required_action.contains(&clause.text_en),
            "the action a contractor reads is not English"
        );
        assert_eq!(
            item.item.finding_en.as_deref(),
            Some(clause.text_en.as_str())
        );
    }
    assert_eq!(folded.items[0].item.finding, "作业时出入口未设专人监护");
    assert!(folded.items[1].item.finding.contains("19.5%～23.5%"));
}

#[test]
fn a_notice_issued_before_the_english_field_still_folds() {
    let mut notice = Log {
        doc: new_doc(DocKind::Notice, None),
        clock: T0,
    };
    notice.sup(
        "notice.issued",
        json!({
            "contractor": "广州某建设有限公司",
            "due": {"due": T0 + 72 * HOUR, "provisional": false},
            "items": [{"id": "WW-09", "clause": "WW-09", "finding": "深度超过 2 m 的沟槽未设临边防护",
                       "required_action": "设置临边防护", "severity": "serious"}]
        }),
    );
    let folded = fold_notice(&notice.doc.snapshot().unwrap()).unwrap();
    assert!(folded.ignored.is_empty(), "{:?}", folded.ignored);
    assert_eq!(folded.items[0].item.finding_en, None);
}

/// Every file under `dir`, depth first.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Absolute file paths in `text` (`/work/…`, `/home/…`, `C:\…`): a token that starts with
/// a slash after a quote, backtick, bracket or blank and names at least two directories.
/// URLs (`https://…`) and ratios (`1/100`, `km/h`) are not paths.
fn absolute_paths(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let boundary = |c: char| c.is_whitespace() || "\"'`(<[".contains(c);
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let at_start = i == 0 || boundary(chars[i - 1]);
        let unix = c == '/' && chars.get(i + 1).is_some_and(|n| n.is_ascii_alphanumeric());
        let windows = c.is_ascii_alphabetic()
            && chars.get(i + 1) == Some(&':')
            && chars.get(i + 2) == Some(&'\\');
        if at_start && (unix || windows) {
            let token: String = chars[i..]
                .iter()
                .take_while(|&&t| !boundary(t) && !"\"')>]".contains(t))
                .collect();
            if windows || token.matches('/').count() >= 2 {
                found.push(token);
            }
        }
    }
    found
}

#[test]
fn no_data_file_names_an_absolute_path() {
    // The detector itself must see what the old files said.
    assert_eq!(
        absolute_paths(r#""source": "/work/shared/reference/waterworks-clauses.md (x)""#),
        ["/work/shared/reference/waterworks-clauses.md"]
    );
    assert_eq!(
        absolute_paths("facts from `/work/shared/reference/holidays-cn.md`."),
        ["/work/shared/reference/holidays-cn.md"]
    );
    assert_eq!(
        absolute_paths("../shared/reference/x.md, https://slt.ln.gov.cn/a/b, 1/100, km/h, 3 / 5"),
        Vec::<String>::new()
    );
    assert_eq!(absolute_paths(r"at C:\data\x.json"), [r"C:\data\x.json"]);

    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    let files = files_under(&data);
    assert!(
        files.len() >= 8,
        "clauses, categories, responsibility, patrol frequency, holidays: {files:?}"
    );
    let mut offenders = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for path in absolute_paths(&text) {
            offenders.push(format!("{}: {path}", file.display()));
        }
    }
    assert!(
        offenders.is_empty(),
        "absolute paths in core/data: {offenders:#?}"
    );

    let clauses = std::fs::read_to_string(data.join("clauses.json")).unwrap();
    let source = serde_json::from_str::<serde_json::Value>(&clauses).unwrap()["source"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        source.starts_with("../shared/reference/waterworks-clauses.md"),
        "{source}"
    );
}
