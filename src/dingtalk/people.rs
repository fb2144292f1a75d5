//! The directory endpoints of [`Client`]: the people of a scope with their names and
//! departments, and the names of the departments (dingtalk-api.md section 6; all free, section 8).
//!
//! The tree is walked as [`Client::users_in_scope`] walks it (`listsubid`, level by level, each
//! department once); each department's members come from `topapi/v2/user/list`, paged by cursor,
//! and its name from `topapi/v2/department/get` (⚠ not in dingtalk-api.md: the shape read here is
//! `result.name`, `result.parent_id`, as DingTalk's page shows it). A user scope walks the whole
//! tree and keeps the listed users. Every row is checked: a user id as `UserId` takes it, listed
//! in the department asked for; an answer for another department is refused. Anything refused
//! fails the whole directory, never a part of it, so the caller never takes a partial listing for
//! people who left. This module does not store the directory (see `store::people`).

use std::collections::{BTreeMap, HashSet};

use serde_json::{Value, json};
use tokio::task::JoinSet;

use super::client::{decode_error, oapi_post};
use super::decode::{Fields, excerpt, lenient_i64};
use super::limits::{MAX_NAME_CHARS, PEOPLE_PAGE_BOUND, PEOPLE_PER_PAGE};
use super::model::Scope;
use super::{Client, Error};
use crate::domain::{Department, Directory, Person, UserId};

const USER_LIST: &str = "/topapi/v2/user/list";
const DEPARTMENT_GET: &str = "/topapi/v2/department/get";
/// Where the page bound of `user/list` comes from, for [`Error::Paging`].
const PEOPLE_BOUND_SOURCE: &str = "100,000 direct members at 100 a page, plus the last";

/// What one department's calls brought: its sub-departments, itself, its direct members.
type DepartmentListing = (Vec<i64>, Department, Vec<Person>);

impl Client {
    /// The people of `scope` with names and departments, and every department of the tree walked,
    /// named. Free calls only: about three per department and one more per 100 members.
    pub async fn directory(&self, scope: &Scope) -> Result<Directory, Error> {
        let (roots, only): (Vec<i64>, Option<HashSet<&UserId>>) = match scope {
            Scope::Departments(roots) => (roots.clone(), None),
            Scope::Users(users) => (vec![1], Some(users.iter().collect())),
        };
        let mut visited: HashSet<i64> = HashSet::new();
        let mut level: Vec<i64> = roots.into_iter().filter(|d| visited.insert(*d)).collect();
        let mut people: BTreeMap<UserId, Person> = BTreeMap::new();
        let mut departments = BTreeMap::new();
        while !level.is_empty() {
            let mut tasks = JoinSet::new();
            for dept_id in level.drain(..) {
                let client = self.clone();
                tasks.spawn(async move { client.department_listing(dept_id).await });
            }
            while let Some(joined) = tasks.join_next().await {
                let (children, department, members) = joined.map_err(|err| Error::Config {
                    detail: format!("department task failed: {err}"),
                })??;
                departments.insert(department.id, department);
                for person in members {
                    if only
                        .as_ref()
                        .is_none_or(|only| only.contains(&person.user_id))
                    {
                        people.entry(person.user_id.clone()).or_insert(person);
                    }
                }
                level.extend(children.into_iter().filter(|child| visited.insert(*child)));
            }
            level.sort_unstable();
        }
        Ok(Directory {
            people: people.into_values().collect(),
            departments: departments.into_values().collect(),
        })
    }

    async fn department_listing(&self, dept_id: i64) -> Result<DepartmentListing, Error> {
        let children = self.sub_departments(dept_id).await?;
        let body = json!({"dept_id": dept_id});
        let answer = self.execute(&oapi_post(DEPARTMENT_GET, body)).await?;
        let department = decode_department(dept_id, &answer.json)?;
        let members = self.department_people(dept_id).await?;
        Ok((children, department, members))
    }

    /// Every direct member of one department, page by page, each row checked.
    /// One page of the root department's people (free): whether the app may read names and
    /// departments at all (`qyapi_get_department_member`), for `doctor`. The number of people
    /// on the page.
    pub(crate) async fn directory_probe(&self) -> Result<usize, Error> {
        let body = json!({"dept_id": 1, "cursor": 0, "size": PEOPLE_PER_PAGE});
        let answer = self.execute(&oapi_post(USER_LIST, body)).await?;
        let (rows, _) = decode_people_page(1, &answer.json)?;
        Ok(rows.len())
    }

    async fn department_people(&self, dept_id: i64) -> Result<Vec<Person>, Error> {
        let mut people: Vec<Person> = Vec::new();
        let mut seen: HashSet<UserId> = HashSet::new();
        let mut cursor: i64 = 0;
        for _ in 0..PEOPLE_PAGE_BOUND {
            let body = json!({"dept_id": dept_id, "cursor": cursor, "size": PEOPLE_PER_PAGE});
            let answer = self.execute(&oapi_post(USER_LIST, body)).await?;
            let (rows, next) = decode_people_page(dept_id, &answer.json)?;
            let before = seen.len();
            for person in rows {
                if seen.insert(person.user_id.clone()) {
                    people.push(person);
                }
            }
            let Some(next) = next else {
                return Ok(people);
            };
            if seen.len() == before || next <= cursor {
                return Err(paging(
                    dept_id,
                    "a page with more to come brought no new person or went back",
                ));
            }
            cursor = next;
        }
        Err(paging(dept_id, "has_more still true at the bound"))
    }
}

fn paging(dept_id: i64, reason: &str) -> Error {
    Error::Paging {
        endpoint: USER_LIST.to_owned(),
        batch: format!("department {dept_id}"),
        bound: PEOPLE_PAGE_BOUND,
        bound_source: PEOPLE_BOUND_SOURCE,
        reason: reason.to_owned(),
    }
}

/// `result` of an oapi answer, as fields.
fn result_of<'a>(endpoint: &str, body: &'a Value) -> Result<Fields<'a>, Error> {
    let fields = Fields::of(body, "body").map_err(|err| decode_error(endpoint, err.to_string()))?;
    let result = fields
        .get("result")
        .ok_or_else(|| decode_error(endpoint, "result: missing: expected an object".into()))?;
    Fields::of(result, "result").map_err(|err| decode_error(endpoint, err.to_string()))
}

/// `department/get`'s answer for `dept_id`: its name (required) and parent.
pub(super) fn decode_department(dept_id: i64, body: &Value) -> Result<Department, Error> {
    let result = result_of(DEPARTMENT_GET, body)?;
    let read = || -> Result<Department, String> {
        let id = result.opt_i64("dept_id").map_err(|e| e.to_string())?;
        if id.is_some_and(|id| id != dept_id) {
            return Err(format!("dept_id {id:?}: asked for {dept_id}"));
        }
        let name = result.req_str("name").map_err(|e| e.to_string())?;
        let parent = result.opt_i64("parent_id").map_err(|e| e.to_string())?;
        Ok(Department {
            id: dept_id,
            name: cut(name),
            parent: parent.filter(|&parent| parent != dept_id),
        })
    };
    read().map_err(|detail| {
        decode_error(
            DEPARTMENT_GET,
            format!("department {dept_id}: {detail}; raw {}", excerpt(body)),
        )
    })
}

/// One `user/list` page for `dept_id`: its people, and the next cursor when `has_more`.
pub(super) fn decode_people_page(
    dept_id: i64,
    body: &Value,
) -> Result<(Vec<Person>, Option<i64>), Error> {
    let result = result_of(USER_LIST, body)?;
    let fail = |detail: String| decode_error(USER_LIST, format!("department {dept_id}: {detail}"));
    let has_more = result
        .opt_bool("has_more")
        .map_err(|e| fail(e.to_string()))?
        .unwrap_or(false);
    let next = if has_more {
        let next = result
            .opt_i64("next_cursor")
            .map_err(|e| fail(e.to_string()))?
            .ok_or_else(|| fail("has_more without next_cursor".into()))?;
        Some(next)
    } else {
        None
    };
    let rows = result.array("list").map_err(|e| fail(e.to_string()))?;
    let people = rows
        .iter()
        .enumerate()
        .map(|(index, row)| {
            decode_person(dept_id, row)
                .map_err(|detail| fail(format!("row {index}: {detail}; raw {}", excerpt(row))))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((people, next))
}

/// One row of `user/list`: `userid` (a string, leading zeros and all), `name`, `dept_id_list`
/// holding the department asked for. Other fields are not read.
fn decode_person(dept_id: i64, row: &Value) -> Result<Person, String> {
    let fields = Fields::of(row, "row").map_err(|e| e.to_string())?;
    let raw_id = fields.req_str("userid").map_err(|e| e.to_string())?;
    let user_id = UserId::new(raw_id).map_err(|e| format!("userid: {e}"))?;
    let name = fields
        .opt_str("name")
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    let departments = fields
        .array("dept_id_list")
        .map_err(|e| e.to_string())?
        .iter()
        .map(|value| {
            lenient_i64(value)
                .ok()
                .flatten()
                .ok_or_else(|| format!("dept_id_list: expected numbers, found {value}"))
        })
        .collect::<Result<Vec<i64>, _>>()?;
    if !departments.contains(&dept_id) {
        return Err(format!(
            "dept_id_list {departments:?} does not hold the department asked for"
        ));
    }
    Ok(Person {
        user_id,
        name: cut(name),
        departments,
    })
}

/// Text from the directory, cut at [`MAX_NAME_CHARS`] characters.
fn cut(text: String) -> String {
    if text.chars().count() <= MAX_NAME_CHARS {
        text
    } else {
        text.chars().take(MAX_NAME_CHARS).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a page should decode to: (user id, name, departments) per row and the next cursor,
    /// or a fragment of the error.
    type Expected<'a> = Result<(Vec<(&'a str, &'a str, Vec<i64>)>, Option<i64>), &'a str>;

    #[track_caller]
    fn check_page(body: Value, expected: Expected<'_>) {
        let got = decode_people_page(7, &body).map(|(people, next)| {
            let people: Vec<(String, String, Vec<i64>)> = people
                .into_iter()
                .map(|p| (p.user_id.as_str().to_owned(), p.name, p.departments))
                .collect();
            (people, next)
        });
        match (got, expected) {
            (Ok((people, next)), Ok((want, want_next))) => {
                let want: Vec<(String, String, Vec<i64>)> = want
                    .into_iter()
                    .map(|(id, name, depts)| (id.to_owned(), name.to_owned(), depts))
                    .collect();
                assert_eq!((people, next), (want, want_next));
            }
            (Err(err), Err(fragment)) => {
                let text = err.to_string();
                assert!(text.contains(fragment), "{text}");
            }
            (got, want) => panic!("got {got:?}, expected {want:?}"),
        }
    }

    #[test]
    fn a_people_page_keeps_leading_zeros_ignores_unknown_fields_and_allows_hostile_names() {
        check_page(
            json!({"errcode": 0, "result": {"has_more": true, "next_cursor": 100, "list": [
                {"userid": "0126000024", "name": "王伟", "dept_id_list": [7, 9], "mobile": "x",
                 "brand_new": {"a": 1}},
                {"userid": "manager7001", "name": "李\u{1b}]0;pwned\u{7}", "dept_id_list": ["7"]},
            ]}}),
            Ok((
                vec![
                    ("0126000024", "王伟", vec![7, 9]),
                    ("manager7001", "李\u{1b}]0;pwned\u{7}", vec![7]),
                ],
                Some(100),
            )),
        );
        check_page(
            json!({"result": {"has_more": false, "list": [{"userid": 16000037, "dept_id_list": [7]}]}}),
            Ok((vec![("16000037", "", vec![7])], None)),
        );
    }

    #[test]
    fn a_people_page_with_a_foreign_or_broken_row_is_refused() {
        check_page(
            json!({"result": {"has_more": false, "list": [{"userid": "a", "name": "x", "dept_id_list": [8]}]}}),
            Err("does not hold the department asked for"),
        );
        check_page(
            json!({"result": {"has_more": false, "list": [{"userid": "a|b", "dept_id_list": [7]}]}}),
            Err("userid"),
        );
        check_page(
            json!({"result": {"has_more": false, "list": [{"name": "x", "dept_id_list": [7]}]}}),
            Err("userid"),
        );
        check_page(
            json!({"result": {"has_more": true, "list": []}}),
            Err("has_more without next_cursor"),
        );
        check_page(json!({"errcode": 0}), Err("result"));
    }

    #[test]
    fn a_department_answer_names_the_department_asked_for_only() {
        let got = decode_department(
            7,
            &json!({"result": {"dept_id": 7, "name": "研发中心", "parent_id": 1, "x": 2}}),
        );
        assert_eq!(
            got.ok(),
            Some(Department {
                id: 7,
                name: "研发中心".into(),
                parent: Some(1)
            })
        );
        let root = decode_department(1, &json!({"result": {"name": "总公司"}})).ok();
        assert_eq!(root.and_then(|d| d.parent), None);
        assert!(decode_department(7, &json!({"result": {"dept_id": 8, "name": "x"}})).is_err());
        assert!(decode_department(7, &json!({"result": {"dept_id": 7}})).is_err());
    }

    #[test]
    fn long_names_are_cut() {
        assert_eq!(cut("名".repeat(100)).chars().count(), MAX_NAME_CHARS);
    }
}
