//! The `sim` command: serve a simulator on 127.0.0.1 until shutdown, after printing its base URL
//! and a ready-to-paste config snippet on stdout. Logs go to stderr through `tracing`.
//!
//! This module only maps flags to a [`SimConfig`]; it does not install a tracing subscriber
//! (the binary does).

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};

use super::config::{MissingInstanceCode, NextTokenEnd, Rates, SimConfig, Switches};
use super::snippet::config_snippet;
use super::state::SimState;
use super::world::World;

/// `INSTANT=CALLS` of `--other-apps`.
fn parse_other_apps(raw: &str) -> Result<(DateTime<Utc>, u64), String> {
    let (instant, calls) = raw
        .rsplit_once('=')
        .ok_or_else(|| format!("expected INSTANT=CALLS, got {raw:?}"))?;
    let calls = calls
        .trim()
        .parse()
        .map_err(|_| format!("expected a number of calls after '=', got {calls:?}"))?;
    Ok((parse_instant(instant.trim())?, calls))
}

fn parse_instant(raw: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            format!("{raw:?} is not an instant: expected RFC 3339, e.g. 2026-11-01T02:00:00+08:00")
        })
}

/// Which set of event rates to generate the world with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RatesChoice {
    /// Every class of change occurs (small revert/unexplained/vanish rates).
    Default,
    /// The standard benchmark month (no reverts, unexplained changes or vanished days).
    Benchmark,
}

/// Arguments of `dingtalk-reconcile sim`.
#[derive(clap::Args, Debug, Clone)]
pub struct SimArgs {
    /// Port on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Seed of the synthetic company.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Number of employees.
    #[arg(long, default_value_t = 200)]
    pub employees: usize,
    /// First work date generated (YYYY-MM-DD).
    #[arg(long, default_value = "2026-10-01")]
    pub from: NaiveDate,
    /// Number of calendar days generated.
    #[arg(long, default_value_t = 31)]
    pub days: u32,
    /// Per-app per-API QPS limit.
    #[arg(long, default_value_t = 20)]
    pub qps: u32,
    /// Metered calls per natural month before 90020 (default: unlimited).
    #[arg(long)]
    pub monthly_quota: Option<u64>,
    /// The organisation's other apps spending the same monthly quota: `INSTANT=CALLS` (RFC 3339
    /// instant, virtual clock), e.g. `2026-11-10T00:00:00+08:00=4990`; repeatable.
    #[arg(long = "other-apps", value_name = "INSTANT=CALLS", value_parser = parse_other_apps)]
    pub other_apps: Vec<(DateTime<Utc>, u64)>,
    /// Initial virtual time (RFC 3339; default: 02:00 local the day after the last work date).
    #[arg(long, value_parser = parse_instant)]
    pub clock: Option<DateTime<Utc>>,
    /// Event rates.
    #[arg(long, value_enum, default_value_t = RatesChoice::Default)]
    pub rates: RatesChoice,
    /// Start every ⚠ switch at its pessimistic reading (single switches below still override).
    #[arg(long)]
    pub pessimistic: bool,
    /// Corrected slots carry the 补卡 id in `procInstId`.
    #[arg(long)]
    pub proc_inst_id_on_corrected_slot: Option<bool>,
    /// `listRecord` shows the 补卡's synthetic punch.
    #[arg(long)]
    pub supply_punch_in_list_record: Option<bool>,
    /// The 补卡 form's `extValue` carries `planId`.
    #[arg(long)]
    pub plan_id_in_ext_value: Option<bool>,
    /// End-of-list shape of `instanceIds/query`.
    #[arg(long, value_enum)]
    pub next_token_end: Option<NextTokenEnd>,
    /// Approval times are real UTC (false: local time labelled Z).
    #[arg(long)]
    pub approval_times_utc: Option<bool>,
    /// The detail read-back holds the `repairCheckTime` entry.
    #[arg(long)]
    pub repair_check_time_entry: Option<bool>,
    /// Error code for an unknown process instance id.
    #[arg(long, value_enum)]
    pub missing_instance_code: Option<MissingInstanceCode>,
    /// `instanceIds/query` lists the instance attached to a revoked 补卡 (`bizAction REVOKE`).
    #[arg(long)]
    pub revoke_instance_listed: Option<bool>,
    /// Free-text fields (reasons, business ids, names, some user ids) carry terminal escapes,
    /// bidi overrides, forged lines, markup and spreadsheet formulas: a hostile organisation.
    #[arg(long)]
    pub hostile_text: bool,
    /// A permission point the simulated app lacks (repeatable), e.g. `qyapi_get_attendance_data`,
    /// `Workflow.Instance.Read`, `Workflow.Form.Read`, `qyapi_get_department_list`,
    /// `qyapi_get_member`: calls needing it answer 60011 / HTTP 403 as DingTalk does.
    #[arg(long = "deny-permission", value_name = "NAME")]
    pub deny_permissions: Vec<String>,
    /// App key the simulator accepts.
    #[arg(long, default_value = "sim-app-key")]
    pub app_key: String,
    /// App secret the simulator accepts.
    #[arg(long, default_value = "sim-app-secret", hide_default_value = true)]
    pub app_secret: String,
}

impl SimArgs {
    /// The configuration these flags describe.
    pub fn config(&self) -> SimConfig {
        let mut switches = if self.pessimistic {
            Switches::pessimistic()
        } else {
            Switches::default()
        };
        let set = |target: &mut bool, value: Option<bool>| {
            if let Some(v) = value {
                *target = v;
            }
        };
        set(
            &mut switches.proc_inst_id_on_corrected_slot,
            self.proc_inst_id_on_corrected_slot,
        );
        set(
            &mut switches.supply_punch_in_list_record,
            self.supply_punch_in_list_record,
        );
        set(
            &mut switches.plan_id_in_ext_value,
            self.plan_id_in_ext_value,
        );
        set(&mut switches.approval_times_utc, self.approval_times_utc);
        set(
            &mut switches.repair_check_time_entry,
            self.repair_check_time_entry,
        );
        set(
            &mut switches.revoke_instance_listed,
            self.revoke_instance_listed,
        );
        if let Some(end) = self.next_token_end {
            switches.next_token_end = end;
        }
        if let Some(code) = self.missing_instance_code {
            switches.missing_instance_code = code;
        }
        SimConfig {
            from: self.from,
            days: self.days,
            qps: self.qps,
            monthly_quota: self.monthly_quota,
            other_apps: self.other_apps.clone(),
            app_key: self.app_key.clone(),
            app_secret: self.app_secret.clone(),
            clock: self.clock,
            rates: match self.rates {
                RatesChoice::Default => Rates::default(),
                RatesChoice::Benchmark => Rates::benchmark(),
            },
            switches,
            hostile_text: self.hostile_text,
            denied_permissions: self.deny_permissions.iter().cloned().collect(),
            ..SimConfig::new(self.seed, self.employees)
        }
    }
}

/// What `sim` prints after its base URL: the `[dingtalk]` table and the scope (the whole company,
/// from its root department), ready to paste into a config file.
fn printed_config(base_url: &str, world: &World) -> String {
    format!(
        "{}\n[scope]\ndepartments = [1]\n",
        config_snippet(base_url, world)
    )
}

/// Runs `sim`: generates the world, binds 127.0.0.1:`port`, prints the base URL then the config
/// snippet on stdout, and serves until `shutdown` completes.
pub async fn run_cli(
    args: SimArgs,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let config = args.config();
    let started = std::time::Instant::now();
    let world = tokio::task::spawn_blocking(move || super::generate::generate(&config))
        .await
        .context("generating the simulated company")?;
    tracing::info!(
        employees = world.employees.len(),
        instances = world.instances.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "simulated company generated"
    );
    let state = Arc::new(SimState::new(Arc::new(world)));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
        .await
        .with_context(|| format!("binding 127.0.0.1:{}", args.port))?;
    let base_url = format!("http://{}", listener.local_addr()?);
    println!("{base_url}");
    println!();
    print!("{}", printed_config(&base_url, state.world()));
    tracing::info!(%base_url, clock = %state.now(), "simulator serving");
    super::serve(listener, state, shutdown)
        .await
        .context("serving the simulator")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        sim: SimArgs,
    }

    fn config(args: &[&str]) -> SimConfig {
        let argv = std::iter::once("sim").chain(args.iter().copied());
        Cli::try_parse_from(argv).expect("flags parse").sim.config()
    }

    #[test]
    fn flags_default_to_the_most_likely_reading_of_every_switch() {
        let config = config(&[]);
        assert_eq!(config.switches, Switches::default());
        assert_eq!(config.monthly_quota, None);
        assert_eq!((config.seed, config.employees, config.days), (1, 200, 31));
    }

    #[test]
    fn pessimistic_sets_every_switch_and_single_flags_still_override() {
        let config = config(&[
            "--pessimistic",
            "--plan-id-in-ext-value",
            "true",
            "--next-token-end",
            "empty",
            "--revoke-instance-listed",
            "true",
            "--monthly-quota",
            "5000",
            "--rates",
            "benchmark",
            "--clock",
            "2026-11-02T02:10:00+08:00",
        ]);
        let expected = Switches {
            plan_id_in_ext_value: true,
            next_token_end: NextTokenEnd::Empty,
            revoke_instance_listed: true,
            ..Switches::pessimistic()
        };
        assert_eq!(config.switches, expected);
        let unlisted = self::config(&["--revoke-instance-listed", "false"]);
        assert_eq!(
            unlisted.switches,
            Switches {
                revoke_instance_listed: false,
                ..Switches::default()
            }
        );
        assert!(Cli::try_parse_from(["sim", "--revoke-instance-listed", "maybe"]).is_err());
        assert_eq!(config.monthly_quota, Some(5000));
        assert!(config.other_apps.is_empty());
        assert_eq!(config.rates, Rates::benchmark());
        assert!(!config.hostile_text);
        assert!(config_of_hostile_text());
        assert_eq!(
            config.clock.unwrap().to_rfc3339(),
            "2026-11-01T18:10:00+00:00"
        );
    }

    #[test]
    fn other_apps_flags_say_when_the_organisations_other_apps_spend_how_much() {
        let config = config(&[
            "--monthly-quota",
            "5000",
            "--other-apps",
            "2026-11-10T00:00:00+08:00=4990",
            "--other-apps",
            "2026-12-01T09:00:00Z=10",
        ]);
        let at = |raw: &str| raw.parse::<DateTime<Utc>>().unwrap();
        assert_eq!(
            config.other_apps,
            vec![
                (at("2026-11-09T16:00:00Z"), 4990),
                (at("2026-12-01T09:00:00Z"), 10)
            ]
        );
        for bad in ["4990", "2026-11-10T00:00:00+08:00=many", "yesterday=3"] {
            assert!(
                Cli::try_parse_from(["sim", "--other-apps", bad]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn deny_permission_flags_collect_the_points_the_app_lacks() {
        let config = config(&[
            "--deny-permission",
            "qyapi_get_attendance_data",
            "--deny-permission",
            "Workflow.Form.Read",
        ]);
        let denied: Vec<&str> = config
            .denied_permissions
            .iter()
            .map(String::as_str)
            .collect();
        assert_eq!(denied, ["Workflow.Form.Read", "qyapi_get_attendance_data"]);
        assert!(self::config(&[]).denied_permissions.is_empty());
    }

    fn config_of_hostile_text() -> bool {
        config(&["--hostile-text"]).hostile_text
    }

    #[test]
    fn the_printed_config_points_at_the_simulator_and_scopes_the_whole_company() {
        let world = crate::generate::generate(&SimConfig::new(1, 10));
        let text = printed_config("http://127.0.0.1:4567", &world);
        let parsed: toml::Value = toml::from_str(&text).expect("the printed config is TOML");
        assert_eq!(
            parsed["dingtalk"]["oapi_base_url"].as_str(),
            Some("http://127.0.0.1:4567")
        );
        assert_eq!(
            parsed["dingtalk"]["api_base_url"].as_str(),
            Some("http://127.0.0.1:4567")
        );
        assert_eq!(
            parsed["dingtalk"]["supply_process_codes"]
                .as_array()
                .map(Vec::len),
            Some(2)
        );
        assert_eq!(parsed["scope"]["departments"][0].as_integer(), Some(1));
    }

    #[test]
    fn debug_output_hides_the_app_secret() {
        let mut config = SimConfig::new(1, 10);
        config.app_secret = "s3cr3t-value".into();
        assert!(!format!("{config:?}").contains("s3cr3t-value"));
    }
}
