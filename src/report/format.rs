//! The report formats, their parsing from the command line, and the dispatch to each renderer.
//!
//! Parsing accepts the names the CLI documents (`text`, `json`, `csv`, `markdown`, `html`,
//! `xlsx`) and nothing else; the `report` command, not this module, reads a format from `--output`'s
//! extension when `--format` is absent.

use std::fmt;
use std::str::FromStr;

use chrono_tz::Tz;

use super::{Lang, RunReport};

/// One way to present a [`RunReport`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub(crate) enum ReportFormat {
    /// What a person reads at 9am: headline first, then the details.
    Text,
    /// The versioned machine contract (`"schema": 1`).
    Json,
    /// One row per correction, RFC 4180.
    Csv,
    /// Headline and tables, for a wiki page or a chat message.
    Markdown,
    /// One self-contained page (inline style, no scripts, no external resources).
    Html,
    /// A workbook for Excel (sheets 汇总, 更正, 待处理); binary, written to a file only.
    Xlsx,
}

impl ReportFormat {
    pub(crate) const ALL: [ReportFormat; 6] = [
        ReportFormat::Text,
        ReportFormat::Json,
        ReportFormat::Csv,
        ReportFormat::Markdown,
        ReportFormat::Html,
        ReportFormat::Xlsx,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ReportFormat::Text => "text",
            ReportFormat::Json => "json",
            ReportFormat::Csv => "csv",
            ReportFormat::Markdown => "markdown",
            ReportFormat::Html => "html",
            ReportFormat::Xlsx => "xlsx",
        }
    }

    /// Whether the format can be printed on stdout; xlsx, a binary file, cannot: it
    /// is [`NeedsFile`].
    pub(crate) fn printable(self) -> Result<(), NeedsFile> {
        match self {
            ReportFormat::Xlsx => Err(NeedsFile(self)),
            _ => Ok(()),
        }
    }
}

/// A binary format asked for where only text can go (stdout, `run --report`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0} needs a file: use `report --format {0} --output FILE`")]
pub(crate) struct NeedsFile(pub(crate) ReportFormat);

impl fmt::Display for ReportFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A report format name that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("report format {0:?} is not known: expected one of text, json, csv, markdown, html, xlsx")]
pub(crate) struct ParseFormatError(pub(crate) String);

impl FromStr for ReportFormat {
    type Err = ParseFormatError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let wanted = raw.trim().to_ascii_lowercase();
        ReportFormat::ALL
            .into_iter()
            .find(|format| format.as_str() == wanted)
            .ok_or_else(|| ParseFormatError(raw.to_owned()))
    }
}

/// What the renderers need besides the report itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RenderOptions {
    /// The business time zone: wall-clock times in text, Markdown, HTML and CSV are shown in it.
    /// JSON always carries RFC 3339 UTC.
    pub(crate) tz: Tz,
    /// The language of the people-facing formats (text, Markdown, HTML, xlsx).
    pub(crate) lang: Lang,
    /// Markdown: every line, instead of the summary that fits a chat message.
    pub(crate) full: bool,
}

impl RenderOptions {
    /// Chinese, Markdown summarised.
    pub(crate) fn new(tz: Tz) -> RenderOptions {
        RenderOptions {
            tz,
            lang: Lang::default(),
            full: false,
        }
    }
}

/// Renders `report` in `format`, a text format. Pure: no IO, no clock. Xlsx is not text:
/// [`NeedsFile`] (see [`render_file`]).
pub(crate) fn render(
    report: &RunReport,
    format: ReportFormat,
    options: &RenderOptions,
) -> Result<String, NeedsFile> {
    Ok(match format {
        ReportFormat::Text => super::text::render(report, options),
        ReportFormat::Json => super::json::render(report),
        ReportFormat::Csv => super::csv::render(report, options),
        ReportFormat::Markdown => super::markdown::render(report, options),
        ReportFormat::Html => super::html::render(report, options),
        ReportFormat::Xlsx => return Err(NeedsFile(format)),
    })
}

/// Renders `report` in `format` as the bytes of a file: a text format's UTF-8, or the xlsx
/// workbook. Pure: no IO, no clock.
pub(crate) fn render_file(
    report: &RunReport,
    format: ReportFormat,
    options: &RenderOptions,
) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    match render(report, format, options) {
        Ok(text) => Ok(text.into_bytes()),
        Err(NeedsFile(_)) => super::xlsx::render(report, options),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_parses_from_its_own_name_in_any_case() {
        for format in ReportFormat::ALL {
            assert_eq!(format.as_str().parse::<ReportFormat>(), Ok(format));
            assert_eq!(
                format.as_str().to_uppercase().parse::<ReportFormat>(),
                Ok(format)
            );
        }
    }

    #[test]
    fn an_unknown_format_names_the_value_and_the_expected_ones() {
        let err = "pdf".parse::<ReportFormat>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "report format \"pdf\" is not known: expected one of text, json, csv, markdown, html, \
             xlsx"
        );
    }

    #[test]
    fn clap_value_names_match_the_documented_names() {
        use clap::ValueEnum;
        for format in ReportFormat::ALL {
            let value = format.to_possible_value().unwrap();
            assert_eq!(value.get_name(), format.as_str());
        }
    }
}
