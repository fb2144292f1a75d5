//! The company around the attendance: user ids, names, the department tree and the approval
//! templates, all derived from the seed. It does not generate attendance (see `generate`).

use chrono::NaiveDate;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::generate::chance;
use super::generate::rng_for;
use super::world::{DAY_MS, Department, Employee, MINUTE_MS, Move, Template, local_ms};

pub(super) const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高", "林",
    "何", "郭", "马", "罗",
];
pub(super) const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
    "超", "秀英", "霞", "平",
];
const MEMBERS_PER_DEPARTMENT: usize = 40;
/// The id of the first team; teams are numbered from it, divisions from 100.
const FIRST_TEAM: i64 = 10_000;

/// The root department's name: in DingTalk, the organisation's.
const COMPANY: &str = "杭州云栖数智科技有限公司";
/// Division names, in order; past the list a division takes the name again with its rank
/// (`研发中心二部`…), so names stay unique.
const DIVISIONS: &[&str] = &[
    "研发中心",
    "销售部",
    "华东大区",
    "市场部",
    "运营中心",
    "客户服务部",
    "供应链管理部",
    "财务部",
    "人力资源部",
    "华南大区",
    "行政部",
    "法务部",
];
/// Team names, in order, with the same rule past the list.
const TEAMS: &[&str] = &[
    "前端开发组",
    "后端开发组",
    "测试组",
    "产品设计组",
    "大客户组",
    "渠道销售组",
    "上海办事处",
    "杭州办事处",
    "品牌推广组",
    "用户运营组",
    "售后服务组",
    "采购组",
    "仓储物流组",
    "结算组",
    "招聘组",
    "薪酬绩效组",
    "南京办事处",
    "苏州办事处",
    "数据平台组",
    "运维组",
    "深圳办事处",
    "广州办事处",
    "培训组",
    "质量管理组",
];
/// Chinese ordinals for repeated names (`二部`, `三部`…); past ten the rank in digits.
const RANKS: &[&str] = &["", "二", "三", "四", "五", "六", "七", "八", "九", "十"];

/// The `k`th name of `list`, unique for every `k`: the list's names, then again with a rank and
/// `suffix` (`研发中心二部`, `测试组二组`).
fn nth_name(list: &[&str], k: usize, suffix: &str) -> String {
    let (round, base) = (k / list.len(), list[k % list.len()]);
    match RANKS.get(round) {
        Some(&"") => base.to_owned(),
        Some(rank) => format!("{base}{rank}{suffix}"),
        None => format!("{base}{}{suffix}", round + 1),
    }
}

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
        name: COMPANY.into(),
        children: Vec::new(),
        members: vec![0],
    }];
    for k in 0..divisions {
        depts.push(Department {
            id: 100 + k as i64,
            name: nth_name(DIVISIONS, k, "部"),
            children: Vec::new(),
            members: Vec::new(),
        });
        depts[0].children.push(100 + k as i64);
    }
    let team_id = |j: usize| FIRST_TEAM + j as i64;
    for j in 0..teams {
        depts.push(Department {
            id: team_id(j),
            name: nth_name(TEAMS, j, "组"),
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

/// The department moves of the period: each employee but the admin, with probability `rate`,
/// leaves their primary team for another team they are not in, at a working hour of one day of
/// the period. Each employee draws from a stream of its own (tag 7) that nothing else reads, so
/// moves change no other part of the world.
pub(super) fn moves(
    seed: u64,
    rate: f64,
    (from, days): (NaiveDate, u32),
    departments: &[Department],
    employees: &[Employee],
) -> Vec<Move> {
    let teams: Vec<i64> = departments
        .iter()
        .map(|d| d.id)
        .filter(|&id| id >= FIRST_TEAM)
        .collect();
    let mut moves = Vec::new();
    for (user, employee) in employees.iter().enumerate().skip(1) {
        let mut rng = rng_for(seed, 7, user as u64, 0);
        if days == 0 || !chance(&mut rng, rate) {
            continue;
        }
        let Some(&primary) = employee.departments.first() else {
            continue;
        };
        let open: Vec<i64> = teams
            .iter()
            .copied()
            .filter(|team| !employee.departments.contains(team))
            .collect();
        if open.is_empty() {
            continue;
        }
        let to = open[rng.random_range(0..open.len())];
        let day = from + chrono::Days::new(u64::from(rng.random_range(0..days)));
        let at_ms = local_ms(day, 9, 0) + rng.random_range(0..9 * 60) * MINUTE_MS;
        moves.push(Move {
            user,
            at_ms,
            from: primary,
            to,
        });
    }
    moves
}
