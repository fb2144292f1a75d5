//! The company around the attendance: user ids, names, the department tree and the approval
//! templates, all derived from the seed. It does not generate attendance (see `generate`).

use chrono::NaiveDate;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::generate::rng_for;
use super::world::{DAY_MS, Department, Template, local_ms};

pub(super) const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高", "林",
    "何", "郭", "马", "罗",
];
pub(super) const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
    "超", "秀英", "霞", "平",
];
const MEMBERS_PER_DEPARTMENT: usize = 40;
/// A user id of one of four shapes, unique by construction (the index is embedded).
pub(super) fn user_id(index: usize) -> String {
    match index % 4 {
        0 => format!("0126{index:06}"),
        1 => format!("0225372668292{index:07}"),
        2 => format!("manager{:x}", 0x7000 + index),
        _ => format!("{}", 16_000_000 + index * 37),
    }
}

/// [`user_id`] as a hostile DingTalk might send it (`SimConfig::hostile_text`): still a valid
/// id for the job (no control character, no `|`), but starting with a spreadsheet formula trigger
/// or carrying a bidi override. Employee 0, the OA admin, keeps a plain id.
pub(super) fn hostile_user_id(index: usize) -> String {
    let plain = user_id(index);
    match index % 4 {
        0 => plain,
        1 => format!("={plain}"),
        2 => format!("@{plain}\u{202e}"),
        _ => format!("-{plain}+1"),
    }
}

/// A terminal title sequence (OSC 0 … BEL) appended to a name under `SimConfig::hostile_text`.
pub(super) const HOSTILE_NAME_SUFFIX: &str = "\u{1b}]0;pwned\u{7}";

pub(super) fn templates(seed: u64) -> Vec<Template> {
    let mut rng = rng_for(seed, 2, 0, 0);
    let code = |rng: &mut ChaCha8Rng| {
        format!(
            "PROC-{:08X}-{:04X}-{:04X}-{:04X}-{:012X}",
            rng.random::<u32>(),
            rng.random::<u16>(),
            rng.random::<u16>(),
            rng.random::<u16>(),
            rng.random::<u64>() & 0xFFFF_FFFF_FFFF
        )
    };
    let modified = local_ms(
        NaiveDate::from_ymd_opt(2025, 3, 1).unwrap_or_default(),
        10,
        0,
    );
    vec![
        Template {
            process_code: code(&mut rng),
            flow_title: "补卡申请".into(),
            attendance_type: 1,
            reason_label: "补卡理由",
            reason_component: "TextareaField",
            photo: false,
            gmt_modified_ms: modified,
            icon_name: "attendance",
        },
        Template {
            process_code: code(&mut rng),
            flow_title: "补卡申请（门店）".into(),
            attendance_type: 1,
            reason_label: "补卡原因",
            reason_component: "TextField",
            photo: true,
            gmt_modified_ms: modified + DAY_MS,
            icon_name: "attendance",
        },
        Template {
            process_code: code(&mut rng),
            flow_title: "请假".into(),
            attendance_type: 2,
            reason_label: "请假事由",
            reason_component: "TextareaField",
            photo: false,
            gmt_modified_ms: modified + 2 * DAY_MS,
            icon_name: "leave",
        },
        Template {
            process_code: code(&mut rng),
            flow_title: "通用审批".into(),
            attendance_type: 0,
            reason_label: "申请内容",
            reason_component: "TextareaField",
            photo: false,
            gmt_modified_ms: modified + 3 * DAY_MS,
            icon_name: "general",
        },
    ]
}

/// Root 1 → divisions (one per 200 people) → teams of 40; every third team hangs under the team
/// before it, so the tree has four levels. Some people are in a second team; the admin is also a
/// direct member of the root. Returns the departments and each employee's primary department.
pub(super) fn departments(n: usize) -> (Vec<Department>, Vec<i64>) {
    let teams = n.div_ceil(MEMBERS_PER_DEPARTMENT);
    let divisions = n.div_ceil(200);
    let mut depts = vec![Department {
        id: 1,
        name: "总公司".into(),
        children: Vec::new(),
        members: vec![0],
    }];
    for k in 0..divisions {
        depts.push(Department {
            id: 100 + k as i64,
            name: format!("事业部{}", k + 1),
            children: Vec::new(),
            members: Vec::new(),
        });
        depts[0].children.push(100 + k as i64);
    }
    let team_id = |j: usize| 10_000 + j as i64;
    for j in 0..teams {
        depts.push(Department {
            id: team_id(j),
            name: format!("第{}组", j + 1),
            children: Vec::new(),
            members: Vec::new(),
        });
        let parent_pos = if j % 3 == 2 {
            1 + divisions + j - 1
        } else {
            1 + (j / 5) % divisions
        };
        depts[parent_pos].children.push(team_id(j));
    }
    let mut primary = vec![0; n];
    for (i, p) in primary.iter_mut().enumerate() {
        let j = i / MEMBERS_PER_DEPARTMENT;
        depts[1 + divisions + j].members.push(i);
        *p = team_id(j);
        if i % 17 == 5 && teams > 1 {
            depts[1 + divisions + (j + 1) % teams].members.push(i);
        }
    }
    for d in &mut depts {
        d.members.sort_unstable();
        d.members.dedup();
    }
    (depts, primary)
}
