//! `doctor [--probe]`: a checklist against the configured organisation (PRODUCT.md section 6).
//!
//! Checks, in order: the config; the store (its schema, or where it will be created — doctor never
//! creates one, except for `--probe`, which must record its calls and facts); the time zone;
//! DingTalk reachable and the credentials accepted (a token and the free contacts calls); each
//! permission point the job needs, recognised from DingTalk's own refusal (`60011`,
//! `Forbidden.AccessDenied.AccessTokenPermissionDenied`, `dingtalk::Error::Permission`); the 补卡
//! templates found and matching the config; the scope's size; the budget against the scope's
//! expected monthly cost.
//!
//! Cost: the templates, one approval listing page and one punch read are metered endpoints
//! (`domain::is_metered_endpoint`), and a refusal is counted like any business error; so the
//! checks spend at most [`CHECKS_COST`] metered calls, said before they are made. Every call goes
//! through the store's call ledger when there is a store, so `status` counts them.
//!
//! `--probe` then spends at most [`PROBE_CAP`] more (the client's metered cap enforces it) to
//! settle the ⚠ facts on one recently approved 补卡 (see [`probe`]), and stores what it saw in the
//! planner state.

use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde_json::Value;

use crate::cli::{DoctorArgs, GlobalArgs, StatusFormat};
use crate::commands::job::{build_client, load_config};
use crate::commands::{SharedClock, print_stdout};
use crate::config::Config;
use crate::dingtalk::{
    self, CallRecorder, Client, MemoryRecorder, ProcessInstanceIdsQuery, Scope, Template,
};
use crate::domain::{Approval, ApprovalStatus, Clock, SourceType, UserId};
use crate::exit::{ExitKind, Outcome};
use crate::quota::{self, YearMonth};
use crate::reconcile::StoreRecorder;
use crate::reconcile::state::{Fact, PlannerState, Probed};
use crate::report::doctor::{self as render, Check, Doctor, Probe, Reading};
use crate::store::{LockHolder, Store};

/// The most the checks spend: the templates, one approval listing page, one punch read.
const CHECKS_COST: u64 = 3;
/// The most `--probe` spends.
pub(crate) const PROBE_CAP: u64 = 6;
/// Approvals decided at least this long ago have corrected their slot (the apply lag is hours).
const SETTLED: i64 = 1;
/// How far back the probe looks for an approved 补卡.
const LOOKBACK_DAYS: i64 = 14;
/// Approval details the probe reads at most to find one that was agreed.
const DETAILS: usize = 2;

/// `doctor [--probe] [--format text|json]`.
pub(crate) async fn doctor(global: &GlobalArgs, args: DoctorArgs) -> anyhow::Result<Outcome> {
    let clock = SharedClock::new(global.as_of);
    let config_name = global.config.display().to_string();
    let config = match load_config(global) {
        Ok(config) => config,
        Err(error) => {
            let doctor = Doctor {
                config: config_name,
                checks_cost: 0,
                left: None,
                checks: vec![Check::fail(
                    "config",
                    format!("{error:#}"),
                    "fix the key named above (dingtalk-reconcile.example.toml shows every key), \
                     then run doctor again",
                )],
                probe: None,
                metered: 0,
                recorded: false,
            };
            print(&doctor, args.format)?;
            return Err(error.context("doctor: the configuration is not valid"));
        }
    };
    let mut checks = vec![Check::pass(
        "config",
        format!(
            "valid ({} {})",
            scope_words(&config.scope),
            match &config.dingtalk.supply_process_codes {
                Some(codes) if !codes.is_empty() => format!("{} 补卡 template(s)", codes.len()),
                _ => "补卡 templates discovered".to_owned(),
            }
        ),
    )];
    let (store_check, mut store) = check_store(&config, args.probe);
    checks.push(store_check);
    let now = clock.now();
    checks.push(Check::pass(
        "time zone",
        format!(
            "{} (now {} local); work dates and the month follow it",
            config.timezone,
            now.with_timezone(&config.timezone).format("%Y-%m-%d %H:%M")
        ),
    ));
    let month = YearMonth::of(now, config.timezone).to_string();
    let used_before = store
        .as_ref()
        .and_then(|store| store.month_usage(&month).ok())
        .map(|usage| usage.metered);
    let budget = config.quota.monthly_budget;
    let left = used_before.map(|used| budget.saturating_sub(used));
    let recorder: Arc<dyn CallRecorder> = match &store {
        Some(store) => Arc::new(StoreRecorder::new(
            store.call_log().context("cannot open the call ledger")?,
            config.timezone,
        )),
        None => Arc::new(MemoryRecorder::default()),
    };
    let client = build_client(&config, &clock, recorder)?;
    client.set_metered_cap(Some(CHECKS_COST));
    let online = check_dingtalk(&config, &client, now, &mut checks).await;
    let metered_checks = client.metered_calls();
    let mut doctor = Doctor {
        config: config_name,
        checks_cost: CHECKS_COST,
        left: left.or(Some(budget)),
        checks,
        probe: None,
        metered: metered_checks,
        recorded: store.is_some(),
    };
    let mut locked = false;
    if args.probe {
        let probe_left = left
            .or(Some(budget))
            .map(|l| l.saturating_sub(metered_checks));
        doctor.probe = Some(match (&online, store.as_mut()) {
            (Some(online), Some(store)) if doctor.healthy() => {
                // Under the run lock: a run saving the planner state meanwhile would drop the
                // facts learnt.
                match store.lock_run(LockHolder::current(None, Utc::now()), || {}) {
                    Ok(lock) => {
                        client.set_metered_cap(Some(metered_checks + PROBE_CAP));
                        let mut probe = probe(&client, online, config.timezone, now).await;
                        probe.left = probe_left;
                        probe.metered = client.metered_calls() - metered_checks;
                        store_facts(store, &mut probe, now);
                        super::job::unlock(lock);
                        probe
                    }
                    Err(error) => {
                        locked = matches!(error, crate::store::Error::Locked { .. });
                        not_run(probe_left, format!("{error}: try again once it is done"))
                    }
                }
            }
            _ => not_run(probe_left, "fix the failed checks first".to_owned()),
        });
        doctor.metered = client.metered_calls();
    }
    print(&doctor, args.format)?;
    if doctor.healthy() {
        return Ok(Outcome::Done);
    }
    let unreachable = doctor.checks.iter().any(|check| {
        matches!(check.name, "dingtalk" | "credentials") && check.mark == render::Mark::Fail
    });
    let kind = if unreachable {
        ExitKind::Unreachable
    } else if locked {
        ExitKind::Locked
    } else {
        ExitKind::Failed
    };
    Err(anyhow::Error::new(kind).context("doctor: not every check passed (see the ✗ lines)"))
}

/// A probe that did not start, and why.
fn not_run(left: Option<u64>, why: String) -> Probe {
    Probe {
        cap: PROBE_CAP,
        left,
        instance: None,
        readings: Vec::new(),
        metered: 0,
        notes: vec![format!("not run: {why}")],
        stored: false,
        failed: true,
    }
}

fn print(doctor: &Doctor, format: StatusFormat) -> anyhow::Result<()> {
    print_stdout(&match format {
        StatusFormat::Text => render::render_text(doctor),
        StatusFormat::Json => render::render_json(doctor),
    })
}

fn scope_words(scope: &Scope) -> String {
    match scope {
        Scope::Departments(departments) => format!("scope: {} department(s);", departments.len()),
        Scope::Users(users) => format!("scope: {} user id(s);", users.len()),
    }
}

/// The store check. An existing store is opened (its schema checked, migrated as a run would);
/// where there is none, the directory is checked writable and nothing is created, unless
/// `create` (the probe records its calls and facts in it).
fn check_store(config: &Config, create: bool) -> (Check, Option<Store>) {
    let path = &config.store.path;
    let shown = path.display().to_string();
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    if !path.exists() {
        if !dir.is_dir() {
            return (
                Check::fail(
                    "store",
                    format!("directory {} does not exist", dir.display()),
                    format!(
                        "create {} or point store.path at a directory this user can write",
                        dir.display()
                    ),
                ),
                None,
            );
        }
        if let Err(error) = directory_writable(&dir) {
            return (
                Check::fail(
                    "store",
                    format!("directory {} is not writable: {error}", dir.display()),
                    "let this user write there (owner or mode) or point store.path elsewhere",
                ),
                None,
            );
        }
        if !create {
            return (
                Check::pass(
                    "store",
                    format!(
                        "no store yet: created by the first run at {shown}; directory writable ✓"
                    ),
                ),
                None,
            );
        }
    }
    let existed = path.exists();
    match super::open_store(path) {
        Ok(store) => {
            let read_only = std::fs::metadata(path)
                .map(|meta| meta.permissions().readonly())
                .unwrap_or(false);
            if read_only {
                return (
                    Check::fail(
                        "store",
                        format!("{shown} is read-only"),
                        "make the file writable by the user running the job",
                    ),
                    None,
                );
            }
            let detail = if existed {
                format!("{shown}: writable, schema checked (this version's, migrated if older)")
            } else {
                format!("{shown}: created now, for the probe's calls and facts")
            };
            (Check::pass("store", detail), Some(store))
        }
        Err(error) => (
            Check::fail(
                "store",
                format!("{shown}: {error:#}"),
                "point store.path at this job's store file, or move the file named aside",
            ),
            None,
        ),
    }
}

/// Creates and removes a file of a name no store uses, to see that `dir` takes new files.
fn directory_writable(dir: &std::path::Path) -> std::io::Result<()> {
    let probe = dir.join(format!(
        ".dingtalk-reconcile-doctor-{}.tmp",
        std::process::id()
    ));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)?;
    std::fs::remove_file(&probe)
}

/// What the DingTalk checks found that the probe needs.
struct Online {
    process_code: String,
}

/// The DingTalk checks; `Some` when credentials, permissions and a process code are all fine.
async fn check_dingtalk(
    config: &Config,
    client: &Client,
    now: DateTime<Utc>,
    checks: &mut Vec<Check>,
) -> Option<Online> {
    // Token and both contacts points, for free.
    match client.root_department().await {
        Ok(_) => {
            checks.push(Check::pass(
                "dingtalk",
                if config.dingtalk.oapi_base_url == config.dingtalk.api_base_url {
                    format!("reachable at {}", config.dingtalk.oapi_base_url)
                } else {
                    format!(
                        "reachable at {} and {}",
                        config.dingtalk.oapi_base_url, config.dingtalk.api_base_url
                    )
                },
            ));
            checks.push(Check::pass(
                "credentials",
                "app key and secret accepted (token issued)",
            ));
            checks.push(Check::pass(
                "permission contacts",
                "qyapi_get_department_list and qyapi_get_member granted",
            ));
        }
        Err(error) => {
            connection_failure(&error, checks);
            return None;
        }
    }
    let users = match client.users_in_scope(&config.scope).await {
        Ok(users) if users.is_empty() => {
            checks.push(Check::fail(
                "scope",
                "resolves to no employee",
                "check [scope]: departments (DingTalk dept ids, root = 1) or user_ids",
            ));
            Vec::new()
        }
        Ok(users) => {
            checks.push(Check::pass(
                "scope",
                format!("resolves to {} employee(s)", users.len()),
            ));
            users
        }
        Err(error) => {
            checks.push(dingtalk_failure("scope", &error));
            Vec::new()
        }
    };
    // Names and departments for the reports: one free page of the root department's people.
    match client.directory_probe().await {
        Ok(_) => checks.push(Check::pass(
            "permission directory",
            "qyapi_get_department_member granted (names and departments for the reports)",
        )),
        Err(error) => checks.push(dingtalk_failure("permission directory", &error)),
    }
    let (templates_ok, process_code) = check_templates(config, client, checks).await;
    let workflow_ok = match &process_code {
        Some(code) => check_workflow(client, code, now, checks).await,
        None => {
            checks.push(Check::skipped(
                "permission workflow instances",
                "no 补卡 process code to list with",
            ));
            false
        }
    };
    let attendance_ok = match users.first() {
        Some(user) => check_attendance(client, user, config.timezone, now, checks).await,
        None => {
            checks.push(Check::skipped(
                "permission attendance",
                "no employee in scope to read punches of",
            ));
            false
        }
    };
    checks.push(check_budget(config, users.len() as u64));
    match process_code {
        Some(process_code) if templates_ok && workflow_ok && attendance_ok => {
            Some(Online { process_code })
        }
        _ => None,
    }
}

/// The first DingTalk call failed: unreachable, credentials, or the contacts permissions.
fn connection_failure(error: &dingtalk::Error, checks: &mut Vec<Check>) {
    use dingtalk::Error as E;
    match error {
        E::Credentials { .. } | E::Token { .. } => {
            checks.push(Check::pass("dingtalk", "reachable"));
            checks.push(Check::fail(
                "credentials",
                error.to_string(),
                "copy the app's Client ID and Client Secret from the developer console \
                 (应用开发 → 凭证与基础信息) into dingtalk.app_key and dingtalk.app_secret \
                 (or DINGTALK_APP_KEY / DINGTALK_APP_SECRET)",
            ));
        }
        E::IpNotWhitelisted { .. } => {
            checks.push(Check::pass("dingtalk", "reachable"));
            checks.push(Check::fail(
                "credentials",
                error.to_string(),
                "add this server's outbound IP to the app's whitelist in the developer console",
            ));
        }
        E::Permission { permission, .. } => {
            checks.push(Check::pass("dingtalk", "reachable"));
            checks.push(Check::pass("credentials", "app key and secret accepted"));
            checks.push(Check::fail(
                "permission contacts",
                format!("refused: {error}"),
                enable(permission),
            ));
        }
        _ => checks.push(Check::fail(
            "dingtalk",
            error.to_string(),
            "check dingtalk.oapi_base_url and dingtalk.api_base_url, DNS, the firewall or \
             proxy between this server and DingTalk",
        )),
    }
}

/// A failed check named `name` from a DingTalk error; a permission refusal names the point.
fn dingtalk_failure(name: &'static str, error: &dingtalk::Error) -> Check {
    match error {
        dingtalk::Error::Permission { permission, .. } => {
            Check::fail(name, format!("refused: {error}"), enable(permission))
        }
        _ => Check::fail(
            name,
            error.to_string(),
            "see the error; run doctor again once it is fixed",
        ),
    }
}

fn enable(permission: &str) -> String {
    format!(
        "enable the permission {permission} for this app in the developer console \
         (open.dingtalk.com → 应用开发 → the app → 权限管理), then run doctor again"
    )
}

/// The 补卡 templates: listed (names and codes) when an OA admin is configured, and compared with
/// `supply_process_codes`. Returns whether the check passed and the code to list with.
async fn check_templates(
    config: &Config,
    client: &Client,
    checks: &mut Vec<Check>,
) -> (bool, Option<String>) {
    let configured: Vec<String> = config
        .dingtalk
        .supply_process_codes
        .clone()
        .unwrap_or_default();
    let Some(admin) = &config.dingtalk.admin_user_id else {
        checks.push(Check::skipped(
            "templates",
            "not listed (no dingtalk.admin_user_id); the approval listing below checks the \
             configured process code",
        ));
        return (true, configured.first().cloned());
    };
    let templates = match client.templates(admin).await {
        Ok(templates) => templates,
        Err(dingtalk::Error::Permission { permission, .. }) => {
            checks.push(Check::fail(
                "permission workflow forms",
                format!("refused listing the templates ({permission})"),
                enable(permission),
            ));
            return (false, configured.first().cloned());
        }
        Err(error @ dingtalk::Error::BadRequest { .. }) => {
            checks.push(Check::fail(
                "templates",
                format!("cannot list the forms of {admin}: {error}"),
                "set dingtalk.admin_user_id to a user with OA admin rights (审批管理员), or \
                 list the 补卡 process codes in dingtalk.supply_process_codes",
            ));
            return (false, configured.first().cloned());
        }
        Err(error) => {
            checks.push(dingtalk_failure("templates", &error));
            return (false, configured.first().cloned());
        }
    };
    checks.push(Check::pass(
        "permission workflow forms",
        "Workflow.Form.Read granted",
    ));
    let (verdict, items) = templates_verdict(&templates, &configured);
    let supply: Vec<&Template> = templates
        .iter()
        .filter(|template| template.attendance_type == Some(1))
        .collect();
    let code = configured
        .iter()
        .find(|code| supply.iter().any(|t| &t.process_code == *code))
        .cloned()
        .or_else(|| supply.first().map(|t| t.process_code.clone()));
    let ok = verdict.is_ok();
    checks.push(
        match verdict {
            Ok(detail) => Check::pass("templates", detail),
            Err((detail, remedy)) => Check::fail("templates", detail, remedy),
        }
        .with_items(items),
    );
    (ok, code)
}

/// Pure: the templates found against the configured codes. `Ok(detail)` or `Err((detail,
/// remedy))`, and one line per 补卡 template (name, code, whether configured).
fn templates_verdict(
    templates: &[Template],
    configured: &[String],
) -> (Result<String, (String, String)>, Vec<String>) {
    let supply: Vec<&Template> = templates
        .iter()
        .filter(|template| template.attendance_type == Some(1))
        .collect();
    let items: Vec<String> = supply
        .iter()
        .map(|template| {
            let mark = if configured.contains(&template.process_code) {
                " (configured)"
            } else if configured.is_empty() {
                " (used: discovered)"
            } else {
                ""
            };
            format!(
                "{} {}{mark}",
                if template.name.is_empty() {
                    "(no name)"
                } else {
                    &template.name
                },
                template.process_code
            )
        })
        .collect();
    let listing = supply
        .iter()
        .map(|template| format!("{} ({})", template.name, template.process_code))
        .collect::<Vec<_>>()
        .join(", ");
    if supply.is_empty() {
        return (
            Err((
                format!(
                    "no 补卡 template (attendanceType 1) among the {} form(s) found",
                    templates.len()
                ),
                "enable the 补卡 suite in 审批 (考勤 group), or check that \
                 dingtalk.admin_user_id manages it"
                    .to_owned(),
            )),
            items,
        );
    }
    let unknown: Vec<&String> = configured
        .iter()
        .filter(|code| !supply.iter().any(|t| &t.process_code == *code))
        .collect();
    if !unknown.is_empty() {
        let unknown = unknown
            .iter()
            .map(|code| code.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        return (
            Err((
                format!("configured {unknown} not among the 补卡 templates found: {listing}"),
                "set dingtalk.supply_process_codes to the codes listed below (or leave it out to \
                 discover them)"
                    .to_owned(),
            )),
            items,
        );
    }
    let missing = supply
        .iter()
        .filter(|t| !configured.is_empty() && !configured.contains(&t.process_code))
        .count();
    let detail = if configured.is_empty() {
        format!("{} 补卡 template(s) found and used", supply.len())
    } else if missing > 0 {
        format!(
            "{} 补卡 template(s) found, {} configured ({missing} not configured: its 补卡 are not seen)",
            supply.len(),
            configured.len()
        )
    } else {
        format!("{} 补卡 template(s) found, all configured", supply.len())
    };
    (Ok(detail), items)
}

/// `Workflow.Instance.Read` (and the process code): one listing page of the last day.
async fn check_workflow(
    client: &Client,
    code: &str,
    now: DateTime<Utc>,
    checks: &mut Vec<Check>,
) -> bool {
    let query = ProcessInstanceIdsQuery {
        process_code: code.to_owned(),
        created_from: now - Duration::days(1),
        created_to: now,
        statuses: Vec::new(),
        user_ids: Vec::new(),
    };
    match client.process_instance_ids_first_page(&query).await {
        Ok(ids) => {
            checks.push(Check::pass(
                "permission workflow instances",
                format!(
                    "Workflow.Instance.Read granted ({} 补卡 of {code} filed in the last day on the first page)",
                    ids.len()
                ),
            ));
            true
        }
        Err(error @ dingtalk::Error::BadRequest { .. }) => {
            checks.push(Check::skipped(
                "permission workflow instances",
                "not settled: the listing was refused for its process code",
            ));
            checks.push(Check::fail(
                "process code",
                format!("listing {code} refused: {error}"),
                "set dingtalk.supply_process_codes to the 补卡 templates' codes (PROC-…), \
                 or set dingtalk.admin_user_id to discover them",
            ));
            false
        }
        Err(error) => {
            checks.push(dingtalk_failure("permission workflow instances", &error));
            false
        }
    }
}

/// `qyapi_get_attendance_data`: one `listRecord` call for one user and yesterday. (It also grants
/// `attendance/list`, which accepts it or `qyapi_attendance_isv_query_result`.)
async fn check_attendance(
    client: &Client,
    user: &UserId,
    tz: Tz,
    now: DateTime<Utc>,
    checks: &mut Vec<Check>,
) -> bool {
    let day = quota::local_date(now, tz) - Duration::days(1);
    let pull = client
        .raw_punches(std::slice::from_ref(user), day, day)
        .await;
    match pull.errors.first() {
        None => {
            checks.push(Check::pass(
                "permission attendance",
                "qyapi_get_attendance_data granted (punches read; it also serves attendance/list)",
            ));
            true
        }
        Some(failed) => {
            checks.push(dingtalk_failure("permission attendance", &failed.error));
            false
        }
    }
}

/// Pure: the expected metered calls of a month for `employees` (PRODUCT.md section 8): the
/// results sync (2 check points × 22 work days per employee at 50 rows a page), punch scans
/// (one call per 50 users × 7 days, every `scan_every` nights over 30 nights) and approval
/// listings (3% missed punches, 90% filed, 20 ids a page), rounded up.
pub(crate) fn expected_monthly_cost(employees: u64, scan_every: u32) -> u64 {
    if employees == 0 {
        return 0;
    }
    let results = (employees * 44).div_ceil(50);
    let scans = employees.div_ceil(50) * 30u64.div_ceil(u64::from(scan_every.max(1)));
    let approvals = (employees * 44 * 3 * 9).div_ceil(100 * 10 * 20);
    results + scans + approvals
}

fn check_budget(config: &Config, employees: u64) -> Check {
    let budget = config.quota.monthly_budget;
    let expected = expected_monthly_cost(employees, config.reconcile.scan_every_nights);
    if employees == 0 {
        return Check::skipped("budget", format!("{budget} a month; no employee in scope"));
    }
    let detail = format!(
        "{budget} metered calls a month against about {expected} expected for {employees} \
         employee(s)"
    );
    if budget >= expected {
        Check::pass("budget", detail)
    } else {
        Check::fail(
            "budget",
            detail,
            format!(
                "raise quota.monthly_budget to at least {expected} (the organisation's 5,000 a \
                 month are shared by all its apps) or narrow [scope]; below it the job covers \
                 the most urgent work first and reports what it left"
            ),
        )
    }
}

/// The probe: one recently approved 补卡 (a listing page of the last [`LOOKBACK_DAYS`] days but
/// the last [`SETTLED`], then at most [`DETAILS`] details), that user-day's results and raw
/// punches, and one listing of the originator around the 补卡's `createTime` read as UTC:
/// at most 6 metered calls.
async fn probe(client: &Client, online: &Online, tz: Tz, now: DateTime<Utc>) -> Probe {
    let mut probe = Probe {
        cap: PROBE_CAP,
        left: None,
        instance: None,
        readings: Vec::new(),
        metered: 0,
        notes: Vec::new(),
        stored: false,
        failed: false,
    };
    let query = ProcessInstanceIdsQuery {
        process_code: online.process_code.clone(),
        created_from: now - Duration::days(LOOKBACK_DAYS),
        created_to: now - Duration::days(SETTLED),
        statuses: vec![ApprovalStatus::Completed],
        user_ids: Vec::new(),
    };
    let ids = match client.process_instance_ids_first_page(&query).await {
        Ok(ids) => ids,
        Err(error) => {
            probe.failed = true;
            probe.notes.push(format!("listing failed: {error}"));
            return unknown_readings(probe);
        }
    };
    let mut approval = None;
    // DingTalk's order is not documented; the page's last ids are tried first.
    for id in ids.iter().rev().take(DETAILS) {
        match client.approval_detail(id).await {
            Ok(found) if found.is_approved() => {
                approval = Some(found);
                break;
            }
            Ok(found) => probe.notes.push(format!(
                "{id} was not agreed ({}{})",
                found.status,
                found
                    .result
                    .as_ref()
                    .map(|result| format!(", {result}"))
                    .unwrap_or_default()
            )),
            Err(error) => probe.notes.push(format!("detail of {id} failed: {error}")),
        }
    }
    let Some(approval) = approval else {
        // Details that failed (rather than were refused) leave the question open: not a pass.
        probe.failed = probe.notes.iter().any(|note| note.starts_with("detail of"));
        probe.notes.push(format!(
            "no approved 补卡 of {} created between {} and {} days ago among {} read: facts \
             left unknown; try again once one has been approved",
            online.process_code,
            SETTLED,
            LOOKBACK_DAYS,
            ids.len().min(DETAILS)
        ));
        return unknown_readings(probe);
    };
    probe.instance = Some(format!(
        "{} of {} ({})",
        approval.process_instance_id,
        approval.originator,
        approval
            .corrected_time
            .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default()
    ));
    let Some(corrected) = approval.corrected_time else {
        probe
            .notes
            .push("the 补卡 has no corrected time".to_owned());
        return unknown_readings(probe);
    };
    let punch_day = quota::local_date(corrected, tz);
    let work_date = approval
        .ext
        .as_ref()
        .and_then(|ext| ext.work_date)
        .unwrap_or(punch_day);
    let user = std::slice::from_ref(&approval.originator);
    let results = client
        .attendance_results(user, work_date.min(punch_day), work_date.max(punch_day))
        .await;
    let punches = client.raw_punches(user, punch_day, punch_day).await;
    for failed in results.errors.iter().chain(&punches.errors) {
        probe.failed = true;
        probe.notes.push(format!("read failed: {}", failed.error));
    }
    let listed_at_utc = match approval.create_time {
        Some(created) if offset_seconds(created, tz) != 0 => {
            let query = ProcessInstanceIdsQuery {
                process_code: online.process_code.clone(),
                created_from: created - Duration::minutes(2),
                created_to: created + Duration::minutes(2),
                statuses: Vec::new(),
                user_ids: vec![approval.originator.clone()],
            };
            match client.process_instance_ids_first_page(&query).await {
                Ok(ids) => Some(ids.contains(&approval.process_instance_id)),
                Err(error) => {
                    probe.failed = true;
                    probe
                        .notes
                        .push(format!("time zone listing failed: {error}"));
                    None
                }
            }
        }
        _ => None,
    };
    let seen = Seen {
        approval: &approval,
        slots: results.errors.is_empty().then_some(&results.slots),
        punches: punches.errors.is_empty().then_some(&punches.punches),
        listed_at_utc,
        tz,
    };
    probe.readings = readings(&seen);
    probe
}

fn offset_seconds(at: DateTime<Utc>, tz: Tz) -> i32 {
    use chrono::Offset;
    at.with_timezone(&tz).offset().fix().local_minus_utc()
}

fn unknown_readings(mut probe: Probe) -> Probe {
    probe.readings = QUESTIONS
        .iter()
        .map(|(fact, question)| Reading {
            fact,
            question,
            reading: Fact::Unknown,
            evidence: "not observed".to_owned(),
        })
        .collect();
    probe
}

const QUESTIONS: [(&str, &str); 5] = [
    (
        "slot_names_supply",
        "procInstId on the slot the 补卡 corrected (attendance/list)",
    ),
    ("punch_shows_supply", "the 补卡's punch in listRecord"),
    ("plan_id_in_ext_value", "planId in the form's extValue"),
    (
        "approval_times_utc",
        "createTime is UTC (not local time labelled Z)",
    ),
    (
        "repair_check_time_entry",
        "repairCheckTime entry in the form",
    ),
];

/// What the probe saw, for [`readings`]. `None` where the read failed.
struct Seen<'a> {
    approval: &'a Approval,
    slots: Option<&'a Vec<crate::domain::Slot>>,
    punches: Option<&'a Vec<dingtalk::Punch>>,
    /// Whether the originator's listing around `createTime` read as UTC holds the instance.
    listed_at_utc: Option<bool>,
    tz: Tz,
}

/// Pure: each ⚠ fact's reading from what the probe saw.
fn readings(seen: &Seen<'_>) -> Vec<Reading> {
    let approval = seen.approval;
    let id = approval.process_instance_id.as_str();
    let corrected = approval.corrected_time;
    let plan_id = approval.ext.as_ref().and_then(|ext| ext.plan_id);
    let near = |time: Option<DateTime<Utc>>| match (time, corrected) {
        (Some(time), Some(corrected)) => (time - corrected).num_seconds().abs() < 60,
        _ => false,
    };
    // The slot the 补卡 repaired: naming it, or by plan id, or by an APPROVE punch at its time.
    let slot = seen.slots.and_then(|slots| {
        slots
            .iter()
            .find(|slot| slot.process_instance_id.as_deref() == Some(id))
            .or_else(|| {
                slots
                    .iter()
                    .find(|slot| plan_id.is_some() && slot.plan_id == plan_id)
            })
            .or_else(|| {
                slots.iter().find(|slot| {
                    slot.source_type == SourceType::Approve && near(slot.user_check_time)
                })
            })
    });
    let applied = slot.is_some_and(|slot| {
        slot.process_instance_id.as_deref() == Some(id)
            || (slot.source_type == SourceType::Approve && near(slot.user_check_time))
    });
    let (slot_reading, slot_evidence) = match (seen.slots, slot) {
        (None, _) => (Fact::Unknown, "attendance/list read failed".to_owned()),
        (Some(_), Some(slot)) if slot.process_instance_id.as_deref() == Some(id) => (
            Fact::Holds,
            format!(
                "the {} slot of {} names it",
                slot.check_type, slot.work_date
            ),
        ),
        (Some(_), Some(slot)) if applied => (
            Fact::Fails,
            format!(
                "the {} slot of {} shows the correction (sourceType APPROVE) without procInstId",
                slot.check_type, slot.work_date
            ),
        ),
        (Some(_), _) => (
            Fact::Unknown,
            "no slot shows the correction yet (not applied, or reverted)".to_owned(),
        ),
    };
    let supply_punch = seen.punches.and_then(|punches| {
        punches.iter().find(|punch| {
            punch.process_instance_id.as_deref() == Some(id)
                || (punch.source_type == SourceType::Approve && near(Some(punch.check_time)))
        })
    });
    let (punch_reading, punch_evidence) = match (seen.punches, supply_punch) {
        (None, _) => (Fact::Unknown, "listRecord read failed".to_owned()),
        (Some(_), Some(punch)) => (
            Fact::Holds,
            format!(
                "a punch with sourceType {} at {}{}",
                punch.source_type,
                punch.check_time.with_timezone(&seen.tz).format("%H:%M"),
                if punch.process_instance_id.as_deref() == Some(id) {
                    " naming the 补卡"
                } else {
                    ""
                }
            ),
        ),
        (Some(punches), None) if applied => (
            Fact::Fails,
            format!(
                "{} punch(es) that day, none from the 补卡 although its slot is corrected",
                punches.len()
            ),
        ),
        (Some(_), None) => (
            Fact::Unknown,
            "no punch of the 补卡, but its slot is not corrected either".to_owned(),
        ),
    };
    let (plan_reading, plan_evidence) = match (&approval.ext, plan_id) {
        (Some(_), Some(plan)) => (
            Fact::Holds,
            match seen.slots {
                Some(slots) if slots.iter().any(|slot| slot.plan_id == Some(plan)) => {
                    format!("planId {plan}, the plan of a slot that day")
                }
                _ => format!("planId {plan} (no slot of that plan seen)"),
            },
        ),
        (Some(_), None) => (
            Fact::Fails,
            "extValue has no planId (empty): the slot is found by time".to_owned(),
        ),
        (None, _) => (
            Fact::Fails,
            "the 补卡 time field has no extValue".to_owned(),
        ),
    };
    let created = approval
        .create_time
        .map(|t| t.format("%Y-%m-%dT%H:%MZ").to_string())
        .unwrap_or_default();
    let (time_reading, time_evidence) = match seen.listed_at_utc {
        Some(true) => (
            Fact::Holds,
            format!("listed by creation time at {created} read as UTC"),
        ),
        Some(false) => (
            Fact::Fails,
            format!(
                "not listed at {created} read as UTC: it is {} local time labelled Z; the job \
                 reads approval times as UTC, so approved-at times are off by that offset",
                seen.tz
            ),
        ),
        None => (
            Fact::Unknown,
            "not settled (no createTime, a zone at UTC, or the listing failed)".to_owned(),
        ),
    };
    let repair = repair_check_time(&approval.raw_json);
    let (repair_reading, repair_evidence) = match repair {
        Some(value) => (
            Fact::Holds,
            match (
                value.parse::<i64>().ok(),
                corrected.map(|t| t.timestamp_millis()),
            ) {
                (Some(ms), Some(corrected)) if (ms - corrected).abs() < 60_000 => {
                    "present, the 补卡 time in epoch ms".to_owned()
                }
                _ => format!("present: {value}"),
            },
        ),
        None => (
            Fact::Fails,
            "absent on read-back; the corrected time comes from 补卡时间".to_owned(),
        ),
    };
    let verdicts = [
        (slot_reading, slot_evidence),
        (punch_reading, punch_evidence),
        (plan_reading, plan_evidence),
        (time_reading, time_evidence),
        (repair_reading, repair_evidence),
    ];
    QUESTIONS
        .iter()
        .zip(verdicts)
        .map(|((fact, question), (reading, evidence))| Reading {
            fact,
            question,
            reading,
            evidence,
        })
        .collect()
}

/// The value of the `repairCheckTime` form entry of a detail answer, when it has one.
fn repair_check_time(raw_json: &str) -> Option<String> {
    let value: Value = serde_json::from_str(raw_json).ok()?;
    let entries = value
        .get("result")
        .and_then(|result| result.get("formComponentValues"))
        .and_then(Value::as_array)?;
    entries.iter().find_map(|entry| {
        let named = entry.get("name").and_then(Value::as_str) == Some("repairCheckTime")
            || entry.get("bizAlias").and_then(Value::as_str) == Some("repairCheckTime");
        named.then(|| match entry.get("value") {
            Some(Value::String(text)) => text.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        })
    })
}

/// Saves what the probe observed into the planner state, so the planner starts from facts.
fn store_facts(store: &mut Store, probe: &mut Probe, now: DateTime<Utc>) {
    let fact = |name: &str| {
        probe
            .readings
            .iter()
            .find(|reading| reading.fact == name)
            .map_or(Fact::Unknown, |reading| reading.reading)
    };
    let probed = Probed {
        slot_names_supply: fact("slot_names_supply"),
        punch_shows_supply: fact("punch_shows_supply"),
        plan_id_in_ext_value: fact("plan_id_in_ext_value"),
        approval_times_utc: fact("approval_times_utc"),
        repair_check_time_entry: fact("repair_check_time_entry"),
    };
    let saved = store.planner_state().map(|text| {
        let mut state = PlannerState::from_stored(text.as_deref());
        let disagree = state.learn(&probed, now);
        (state, disagree)
    });
    match saved {
        Ok((state, disagree)) => {
            for name in disagree {
                probe.notes.push(format!(
                    "{name}: the store already saw it fail; that stands (the safe path)"
                ));
            }
            match store.save_planner_state(&state.to_text()) {
                Ok(()) => probe.stored = true,
                Err(error) => {
                    probe.failed = true;
                    probe
                        .notes
                        .push(format!("cannot save the planner state: {error}"));
                }
            }
        }
        Err(error) => {
            probe.failed = true;
            probe
                .notes
                .push(format!("cannot read the planner state: {error}"));
        }
    }
}

#[cfg(test)]
mod tests;
