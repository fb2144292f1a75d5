use super::*;
use crate::domain::{Department, Person};
use crate::store::test_support::{at, day, store, user};

fn person(id: &str, name: &str, departments: &[i64]) -> Person {
    Person {
        user_id: user(id),
        name: name.into(),
        departments: departments.to_vec(),
    }
}

fn directory(people: Vec<Person>) -> Directory {
    let dept = |id: i64, name: &str| Department {
        id,
        name: name.into(),
        parent: (id != 1).then_some(1),
    };
    Directory {
        people,
        departments: vec![
            dept(1, "杭州云栖数智科技有限公司"),
            dept(10, "研发中心"),
            dept(20, "销售部"),
            dept(30, "华东大区"),
        ],
    }
}

#[track_caller]
/// The directory of `people` stored by a refresh on day `on`, at hour `hour`.
fn refresh(store: &mut Store, people: Vec<Person>, on: u32, hour: u32) -> DirectoryChanges {
    store
        .upsert_directory(&directory(people), day(on), at(hour))
        .unwrap()
}

fn check(store: &Store, id: &str, on: u32, expected: Option<(&str, Option<&str>)>) {
    let got = store.person_on(&user(id), day(on)).expect("reads");
    let got = got
        .as_ref()
        .map(|p| (p.name.as_str(), p.department.as_deref()));
    assert_eq!(got, expected, "{id} on day {on}");
}

#[test]
fn a_person_first_seen_is_in_their_department_on_every_date_before() {
    let mut store = store();
    assert_eq!(store.people_refreshed_on().unwrap(), None);
    let changes = refresh(
        &mut store,
        vec![person("0126000024", "王伟", &[10, 20])],
        10,
        2,
    );
    assert_eq!(
        changes,
        DirectoryChanges {
            joined: 1,
            moved: 0,
            left: 0
        }
    );
    check(&store, "0126000024", 1, Some(("王伟", Some("研发中心"))));
    check(&store, "0126000024", 10, Some(("王伟", Some("研发中心"))));
    check(&store, "0126000024", 30, Some(("王伟", Some("研发中心"))));
    check(&store, "126000024", 10, None);
    assert_eq!(store.people_refreshed_on().unwrap(), Some(day(10)));
}

#[test]
fn a_move_keeps_the_old_department_before_the_refresh_that_saw_it() {
    let mut store = store();
    refresh(&mut store, vec![person("u1", "李娜", &[10])], 10, 2);
    let changes = refresh(&mut store, vec![person("u1", "李娜", &[30])], 14, 3);
    assert_eq!(
        changes,
        DirectoryChanges {
            joined: 0,
            moved: 1,
            left: 0
        }
    );
    check(&store, "u1", 2, Some(("李娜", Some("研发中心"))));
    check(&store, "u1", 13, Some(("李娜", Some("研发中心"))));
    check(&store, "u1", 14, Some(("李娜", Some("华东大区"))));
    check(&store, "u1", 20, Some(("李娜", Some("华东大区"))));
    // The same directory again changes nothing.
    let again = refresh(&mut store, vec![person("u1", "李娜", &[30])], 15, 3);
    assert_eq!(again, DirectoryChanges::default());
    check(&store, "u1", 13, Some(("李娜", Some("研发中心"))));
}

#[test]
fn a_joiner_after_the_first_refresh_and_a_leaver_keep_their_names() {
    let mut store = store();
    refresh(&mut store, vec![person("u1", "张敏", &[10])], 10, 2);
    let changes = refresh(&mut store, vec![person("u2", "刘洋", &[20])], 12, 2);
    assert_eq!(
        changes,
        DirectoryChanges {
            joined: 1,
            moved: 0,
            left: 1
        }
    );
    check(&store, "u1", 11, Some(("张敏", Some("研发中心"))));
    check(&store, "u1", 12, Some(("张敏", None)));
    check(&store, "u2", 12, Some(("刘洋", Some("销售部"))));
    // Back again: in their new department from that refresh on, nowhere in between.
    refresh(
        &mut store,
        vec![person("u1", "张敏", &[30]), person("u2", "刘洋", &[20])],
        20,
        2,
    );
    check(&store, "u1", 11, Some(("张敏", Some("研发中心"))));
    check(&store, "u1", 15, Some(("张敏", None)));
    check(&store, "u1", 20, Some(("张敏", Some("华东大区"))));
}

#[test]
fn a_second_refresh_the_same_day_leaves_no_empty_membership_and_order_picks_the_department() {
    let mut store = store();
    refresh(&mut store, vec![person("u1", "陈静", &[10])], 10, 2);
    refresh(&mut store, vec![person("u1", "陈静", &[20, 10])], 11, 2);
    check(&store, "u1", 11, Some(("陈静", Some("销售部"))));
    check(&store, "u1", 10, Some(("陈静", Some("研发中心"))));
    refresh(&mut store, vec![person("u1", "陈静", &[10])], 11, 3);
    check(&store, "u1", 11, Some(("陈静", Some("研发中心"))));
    let rows: i64 = store
        .conn
        .query_row("SELECT COUNT(*) FROM memberships", [], |row| row.get(0))
        .unwrap();
    assert_eq!(rows, 1, "the one-day membership to 20 never held");
}

#[test]
fn hostile_names_are_stored_as_sent_and_looked_up_in_bulk() {
    let mut store = store();
    let hostile = "=HYPERLINK(\"x\")\u{1b}]0;pwned\u{7}";
    refresh(
        &mut store,
        vec![person("=u1", hostile, &[10]), person("u2", "", &[99])],
        10,
        2,
    );
    let wanted: BTreeSet<(UserId, NaiveDate)> = [
        (user("=u1"), day(3)),
        (user("u2"), day(3)),
        (user("nobody"), day(3)),
    ]
    .into_iter()
    .collect();
    let found = store.people_on(&wanted).unwrap();
    assert_eq!(found.len(), 2);
    assert_eq!(found[&(user("=u1"), day(3))].name, hostile);
    assert_eq!(
        found[&(user("u2"), day(3))],
        KnownPerson {
            name: String::new(),
            department: None
        },
        "a department never named is unknown"
    );
}
