//! Ground truth: the corrections a perfect job with the default policy would have applied by an
//! instant, derived from the world's own history (not from what was served).
//!
//! Policy assumed: `admin_edit = apply`; unexplained changes and vanished days are reported only,
//! so they are not in the truth; provisional results settling are not corrections. This module
//! does not compare the truth with a job's ledger; callers do.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::world::{Cause, World};

/// One correction a perfect job would have applied.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TruthCorrection {
    pub user_id: String,
    /// The shift's day, `YYYY-MM-DD`.
    pub work_date: NaiveDate,
    /// `OnDuty` / `OffDuty`.
    pub check_type: String,
    pub plan_id: Option<i64>,
    /// The 补卡 behind a `supply_applied` / `supply_reverted`; `None` for admin edits.
    pub process_instance_id: Option<String>,
    pub business_id: Option<String>,
    /// `supply_applied`, `admin_edit` or `supply_reverted`.
    pub class: String,
}

/// Every correction visible by `as_of`, sorted.
pub fn truth(world: &World, as_of: DateTime<Utc>) -> Vec<TruthCorrection> {
    let now = as_of.timestamp_millis();
    let mut out = Vec::new();
    for employee in &world.employees {
        for day in employee.days.iter().flatten() {
            for slot in &day.slots {
                for change in slot.timeline.iter().take_while(|c| c.at <= now) {
                    let (class, supply) = match change.cause {
                        Cause::Supply(i) => ("supply_applied", Some(i)),
                        Cause::Revert(i) => ("supply_reverted", Some(i)),
                        Cause::AdminEdit => ("admin_edit", None),
                        Cause::Initial | Cause::Settled | Cause::Unexplained => continue,
                    };
                    let inst = supply.map(|i| &world.instances[i as usize]);
                    out.push(TruthCorrection {
                        user_id: employee.id.clone(),
                        work_date: day.work_date,
                        check_type: slot.check.as_str().to_owned(),
                        plan_id: Some(slot.plan_id),
                        process_instance_id: inst.map(|i| i.id.clone()),
                        business_id: inst.map(|i| i.business_id.clone()),
                        class: class.to_owned(),
                    });
                }
            }
        }
    }
    out.sort();
    out
}
