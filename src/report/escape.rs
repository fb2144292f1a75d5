//! The one output-escaping rule for people-facing text. Every value that comes from outside the
//! program (DingTalk's user ids, business ids, instance ids, reasons, titles, unknown enum values,
//! error text quoting DingTalk; and, for uniformity, config and store strings) goes through one of
//! these functions before a renderer puts it in text, Markdown, HTML or CSV.
//!
//! # The rule
//!
//! A *hostile* character is one that can act on a terminal, a viewer or a reader instead of being
//! shown: the C0 controls U+0000–U+001F (ESC, BEL, BS, TAB, CR, LF…), DEL U+007F, the C1 controls
//! U+0080–U+009F (CSI U+009B among them), the bidi embeddings, overrides and isolates U+202A–U+202E
//! and U+2066–U+2069 and the marks U+200E, U+200F, U+061C (they reorder what a reader sees), and
//! the line and paragraph separators U+2028, U+2029 (some viewers break lines on them).
//!
//! [`shown`] writes each hostile character as a visible Rust-style escape, `\u{1b}`, and leaves
//! everything else as it is (Chinese text included). Escaping rather than removing: a person
//! comparing an id with DingTalk's console must see that it carried a control character, and two
//! ids that differ only by one must not look the same. `\u{…}` rather than a pictograph such as
//! `␛`: it is plain ASCII, so it survives any font, mail or chat, and names the exact code point.
//! The rule is not meant to be reversed (a backslash in a value is left alone, so a literal
//! `\u{1b}` in a value reads the same as an escaped ESC); it is meant to be harmless and visible.
//! A value shown this way never contains a line break, so it cannot forge a line of a
//! line-oriented report.
//!
//! Per format, on top of that:
//!
//! - text (`text`, `explain`, `status`, `plan`): [`shown`] alone.
//! - Markdown: [`markdown`], which also backslash-escapes every character that could make markup
//!   out of a value (`` \ ` * _ [ ] # | ~ ! $ ``) and writes `& < >` as entities, so a
//!   value cannot open a heading, a table cell, code, a link, an image, HTML or math. Values never
//!   start a line in our Markdown (they follow `- `, `| ` or text), so line-start markers such as
//!   `+`, `-`, `>` and `1.` need no escape. A bare URL in a value may still be auto-linked by some
//!   renderers; it then shows its real target, which is not a forgery.
//! - HTML: [`html`], which also escapes `& < > " '`, complete for element text and for quoted
//!   attribute values (the report puts no outside value in an attribute, an URL, a script or a
//!   style).
//! - CSV: [`csv_text`] for the columns that carry outside text: [`shown`], then OWASP's CSV
//!   injection guard: a cell starting with `=`, `+`, `-`, `@`, TAB or CR gets a leading `'` so a
//!   spreadsheet shows it as text instead of evaluating it. The id columns (user, plan,
//!   process instance and business ids) of ids made only of ASCII letters, digits and `-_.:`
//!   (at most 255) are written `="…"` so Excel keeps them as text (leading zeros, 20 digits):
//!   one string constant, nothing a formula could call. Columns the program formats itself
//!   from typed values (run id, dates, times, booleans, classes) are left alone. The JSON
//!   report is the lossless form.
//! - xlsx: outside text is a string cell (never a formula) of [`plain`], cut at Excel's 32,767
//!   UTF-16 units, with Excel's quote prefix set; ids are string cells.
//! - JSON: values stay intact (JSON is data). serde escapes C0, `"` and `\`; [`json`] re-encodes
//!   the other hostile characters serde writes raw (DEL, C1, bidi, separators) as `\uXXXX`
//!   escapes, which parse back to the very same string, so JSON printed on a terminal is as
//!   harmless as the text report.

use std::borrow::Cow;
use std::fmt;

/// True for a character that must not reach a reader raw (see the module doc).
pub(crate) fn is_hostile(c: char) -> bool {
    c.is_control() // C0, DEL and C1 (Unicode category Cc).
        || matches!(
            c,
            '\u{061C}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

/// A value as it may be shown in people-facing text: each hostile character written as
/// `\u{hex}`. Formats with `{}`; use [`shown`] to make one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shown<'a>(&'a str);

/// `raw`, safe to show in text: see the module doc.
pub(crate) fn shown(raw: &str) -> Shown<'_> {
    Shown(raw)
}

impl fmt::Display for Shown<'_> {
    /// Honours width and alignment (`{:<8}`), measured on the escaped text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&plain(self.0))
    }
}

/// [`shown`] as a string, borrowed when nothing needed escaping.
pub(crate) fn plain(raw: &str) -> Cow<'_, str> {
    if !raw.contains(is_hostile) {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len() + 8);
    for c in raw.chars() {
        if is_hostile(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The `Display` of `value` (an open enum DingTalk may extend, a slot key, a path…) as
/// [`shown`] text.
pub(crate) fn shown_display(value: impl fmt::Display) -> String {
    plain(&value.to_string()).into_owned()
}

/// `raw` reading literally in Markdown, inside a paragraph, a list item or a table cell.
pub(crate) fn markdown(raw: &str) -> String {
    let text = plain(raw);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '|' | '~' | '!' | '$' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// `raw` for an HTML element body or a quoted attribute value.
pub(crate) fn html(raw: &str) -> String {
    let text = plain(raw);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The first characters that make a spreadsheet evaluate a cell (OWASP, "CSV Injection").
pub(crate) const FORMULA_TRIGGERS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A CSV cell of outside text: [`shown`], then a leading `'` when it would start with a formula
/// trigger. Quoting as RFC 4180 requires is the CSV writer's job.
pub(crate) fn csv_text(raw: &str) -> Cow<'_, str> {
    let text = plain(raw);
    if text.starts_with(FORMULA_TRIGGERS) {
        Cow::Owned(format!("'{text}"))
    } else {
        text
    }
}

/// `json` (serde_json's output) with every hostile character left raw written as a `\uXXXX`
/// escape. Valid because serde writes such characters only inside strings (JSON's own syntax is
/// ASCII); every hostile character is in the Basic Multilingual Plane, so one escape each.
pub(crate) fn json(json: String) -> String {
    if !json.contains(is_hostile_in_json) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if is_hostile_in_json(c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Hostile and not a newline: in JSON, serde escapes the C0 controls inside strings, so the
/// newlines left are the pretty-printer's; in a rendered text they are the renderer's own.
fn is_hostile_in_json(c: char) -> bool {
    c != '\n' && is_hostile(c)
}

/// The hostile characters of a rendered `text` other than its own newlines: what no renderer
/// may let through raw.
#[cfg(test)]
pub(crate) fn hostile_chars(text: &str) -> Vec<char> {
    text.chars().filter(|&c| is_hostile_in_json(c)).collect()
}

#[cfg(test)]
mod tests;
