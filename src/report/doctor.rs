//! The `doctor` checklist: plain data ([`Doctor`]) and its text and JSON forms.
//!
//! Every line may quote DingTalk (template names, error text) or the config (paths, ids): the text
//! form passes each through [`escape::plain`], so a value is one line and reaches the terminal
//! without control or bidi characters; the JSON form keeps values intact
//! ([`escape::json`](super::escape::json)). This module does no IO and decides no exit code.

use serde::Serialize;

use super::escape;
use crate::reconcile::state::Fact;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Mark {
    Pass,
    Fail,
    /// Not checked, because a check it depends on failed or nothing is configured for it.
    Skipped,
}

impl Mark {
    fn symbol(self) -> &'static str {
        match self {
            Mark::Pass => "✓",
            Mark::Fail => "✗",
            Mark::Skipped => "–",
        }
    }
}

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Check {
    /// What is checked: `config`, `store`, `time zone`, `dingtalk`, `credentials`,
    /// `permission contacts`, `permission attendance`, `permission workflow forms`, `process code`,
    /// `permission workflow instances`, `templates`, `scope`, `budget`.
    pub(crate) name: &'static str,
    pub(crate) mark: Mark,
    pub(crate) detail: String,
    /// What a person does about a failure, in words an IT person can act on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) remedy: Option<String>,
    /// Further lines under the check (the templates found, one per line).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) items: Vec<String>,
}

impl Check {
    pub(crate) fn pass(name: &'static str, detail: impl Into<String>) -> Check {
        Check {
            name,
            mark: Mark::Pass,
            detail: detail.into(),
            remedy: None,
            items: Vec::new(),
        }
    }

    pub(crate) fn fail(
        name: &'static str,
        detail: impl Into<String>,
        remedy: impl Into<String>,
    ) -> Check {
        Check {
            name,
            mark: Mark::Fail,
            detail: detail.into(),
            remedy: Some(remedy.into()),
            items: Vec::new(),
        }
    }

    pub(crate) fn skipped(name: &'static str, detail: impl Into<String>) -> Check {
        Check {
            name,
            mark: Mark::Skipped,
            detail: detail.into(),
            remedy: None,
            items: Vec::new(),
        }
    }

    pub(crate) fn with_items(mut self, items: Vec<String>) -> Check {
        self.items = items;
        self
    }
}

/// What the probe concluded about one ⚠ fact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Reading {
    /// The planner state's name of the fact (`slot_names_supply`, …).
    pub(crate) fact: &'static str,
    /// The question, in words.
    pub(crate) question: &'static str,
    pub(crate) reading: Fact,
    /// What the live data showed.
    pub(crate) evidence: String,
}

/// What `--probe` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Probe {
    /// The most it may spend, said before it spends anything.
    pub(crate) cap: u64,
    /// What is left of the month's budget before the probe, when known.
    pub(crate) left: Option<u64>,
    /// The 补卡 the readings come from, when one was found.
    pub(crate) instance: Option<String>,
    pub(crate) readings: Vec<Reading>,
    /// Metered calls the probe made.
    pub(crate) metered: u64,
    /// Remarks: nothing found, a call that failed, a stored fact that disagrees.
    pub(crate) notes: Vec<String>,
    /// Whether the facts were saved into the planner state.
    pub(crate) stored: bool,
    /// A failure of the probe itself (a call refused, the cap reached).
    pub(crate) failed: bool,
}

/// The whole `doctor` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Doctor {
    /// The configuration file checked.
    pub(crate) config: String,
    /// The most the checks themselves may spend (metered calls), said first.
    pub(crate) checks_cost: u64,
    /// What is left of the month's budget before doctor, when known.
    pub(crate) left: Option<u64>,
    pub(crate) checks: Vec<Check>,
    pub(crate) probe: Option<Probe>,
    /// Metered calls doctor made in all, and whether they are in the store's call ledger.
    pub(crate) metered: u64,
    pub(crate) recorded: bool,
}

impl Doctor {
    /// Every check passed and the probe, if any, did not fail.
    pub(crate) fn healthy(&self) -> bool {
        self.checks.iter().all(|check| check.mark != Mark::Fail)
            && self.probe.as_ref().is_none_or(|probe| !probe.failed)
    }
}

/// The checklist as text, one line per check (its remedy and items indented under it).
pub(crate) fn render_text(doctor: &Doctor) -> String {
    let mut out = String::new();
    let mut line = |text: &str| {
        out.push_str(&escape::plain(text));
        out.push('\n');
    };
    line(&format!("doctor: {}", doctor.config));
    line(&format!(
        "checks: up to {} metered call(s) (templates, one approval listing page, one punch read){}",
        doctor.checks_cost,
        left_text(doctor.left)
    ));
    let width = doctor
        .checks
        .iter()
        .map(|check| check.name.chars().count())
        .max()
        .unwrap_or(0);
    for check in &doctor.checks {
        line(&format!(
            "{} {:width$}  {}",
            check.mark.symbol(),
            check.name,
            check.detail
        ));
        for item in &check.items {
            line(&format!("    {item}"));
        }
        if let Some(remedy) = &check.remedy {
            line(&format!("    remedy: {remedy}"));
        }
    }
    if let Some(probe) = &doctor.probe {
        line(&format!(
            "probe: up to {} metered calls{}",
            probe.cap,
            left_text(probe.left)
        ));
        if let Some(instance) = &probe.instance {
            line(&format!("  补卡 {instance}"));
        }
        for reading in &probe.readings {
            line(&format!(
                "  {} {}: {} ({})",
                fact_symbol(reading.reading),
                reading.question,
                fact_word(reading.reading),
                reading.evidence
            ));
        }
        for note in &probe.notes {
            line(&format!("  note: {note}"));
        }
        line(&format!(
            "  {} metered call(s) made; {}",
            probe.metered,
            if probe.stored {
                "facts stored: the planner starts from them"
            } else {
                "nothing stored"
            }
        ));
    }
    let probe_failed = doctor.probe.as_ref().is_some_and(|probe| probe.failed);
    line(&format!(
        "{}: {} of {} checks passed{}; {} metered call(s) made{}",
        if doctor.healthy() {
            "all good"
        } else {
            "not ready"
        },
        doctor
            .checks
            .iter()
            .filter(|check| check.mark == Mark::Pass)
            .count(),
        doctor.checks.len(),
        if probe_failed {
            ", the probe did not complete"
        } else {
            ""
        },
        doctor.metered,
        match (doctor.recorded, doctor.metered) {
            (_, 0) => "",
            (true, _) => ", counted in the store's call ledger",
            (false, _) =>
                ", not in any call ledger (no store yet): DingTalk counts them, `status` will not",
        }
    ));
    out
}

/// The checklist as JSON (values intact, control characters escaped).
pub(crate) fn render_json(doctor: &Doctor) -> String {
    escape::json(serde_json::to_string_pretty(doctor).unwrap_or_else(|_| "{}".to_owned()))
}

fn left_text(left: Option<u64>) -> String {
    match left {
        Some(left) => format!(" of this month's {left} left"),
        None => String::new(),
    }
}

fn fact_symbol(fact: Fact) -> &'static str {
    match fact {
        Fact::Holds => "✓",
        Fact::Fails => "✗",
        Fact::Unknown => "?",
    }
}

/// The reading in words.
pub(crate) fn fact_word(fact: Fact) -> &'static str {
    match fact {
        Fact::Holds => "holds",
        Fact::Fails => "does not hold",
        Fact::Unknown => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doctor() -> Doctor {
        Doctor {
            config: "dingtalk-reconcile.toml".into(),
            checks_cost: 3,
            left: Some(3990),
            checks: vec![
                Check::pass("config", "valid"),
                Check::fail(
                    "templates",
                    "PROC-X is not a 补卡 template",
                    "set dingtalk.supply_process_codes",
                )
                .with_items(vec!["补卡申请\u{1b}[31m (PROC-1)".into()]),
                Check::skipped("budget", "no scope"),
            ],
            probe: Some(Probe {
                cap: 6,
                left: Some(3987),
                instance: Some("inst-1".into()),
                readings: vec![Reading {
                    fact: "plan_id_in_ext_value",
                    question: "planId in extValue",
                    reading: Fact::Fails,
                    evidence: "planId is \"\"".into(),
                }],
                metered: 5,
                notes: vec![],
                stored: true,
                failed: false,
            }),
            metered: 8,
            recorded: true,
        }
    }

    #[test]
    fn the_text_says_the_cost_first_marks_each_check_and_escapes_outside_values() {
        let text = render_text(&doctor());
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[1].starts_with("checks: up to 3 metered"), "{text}");
        assert!(text.contains("✓ config"), "{text}");
        assert!(text.contains("✗ templates"), "{text}");
        assert!(text.contains("    remedy: set dingtalk.supply_process_codes"));
        assert!(text.contains("– budget"), "{text}");
        assert!(
            text.contains("probe: up to 6 metered calls of this month's 3987 left"),
            "{text}"
        );
        assert!(
            text.contains("✗ planId in extValue: does not hold"),
            "{text}"
        );
        assert!(!text.contains('\u{1b}'), "{text}");
        assert!(text.contains("not ready: 1 of 3 checks passed"), "{text}");
        let probe = text.find("probe:").unwrap();
        let reading = text.find("planId in extValue").unwrap();
        assert!(probe < reading);
    }

    #[test]
    fn healthy_needs_every_check_and_the_probe() {
        let mut doctor = doctor();
        assert!(!doctor.healthy());
        doctor.checks.retain(|check| check.mark != Mark::Fail);
        assert!(doctor.healthy());
        doctor.probe.as_mut().unwrap().failed = true;
        assert!(!doctor.healthy());
    }

    #[test]
    fn the_json_form_keeps_names_and_marks() {
        let json: serde_json::Value = serde_json::from_str(&render_json(&doctor())).unwrap();
        assert_eq!(json["checks"][1]["mark"], "fail");
        assert_eq!(json["probe"]["readings"][0]["reading"], "fails");
        assert_eq!(json["checks"][1]["items"][0], "补卡申请\u{1b}[31m (PROC-1)");
    }
}
