//! The directory cache: people's names and the departments they were in, by business date
//! (migration `people.sql`), filled from DingTalk's contacts calls by `reconcile::people`.
//!
//! A refresh writes the whole directory of the scope in one transaction, dated with the business
//! date it ran on: a membership no longer listed ends that date (its `valid_to`, exclusive), a
//! new one starts that date, and a person no longer listed is marked as left then, keeping their
//! name for the reports of earlier dates. A person seen for the first time has memberships valid
//! since before that date (`valid_from` NULL): what they were in earlier is not known, and the
//! department they are in is the best guess for the corrections a backfill finds. Department
//! names are the current ones; a renamed department shows its new name on every date. This
//! module does not call DingTalk nor decide when to refresh (see `reconcile::people`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};

use super::Store;
use super::codec::{date_text, ms};
use super::error::{Error, SqlResultExt};
use crate::domain::{Directory, Person, UserId};

/// The `meta` key holding the business date of the last directory refresh.
const REFRESHED_ON_KEY: &str = "people_refreshed_on";

/// What the store knows of a person on one business date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KnownPerson {
    /// As DingTalk last listed it; may be empty, and is text from outside.
    pub name: String,
    /// The person's department on that date (the first DingTalk listed), when known.
    pub department: Option<String>,
}

/// What one refresh changed, for the log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct DirectoryChanges {
    /// People listed for the first time, or again after leaving.
    pub joined: u64,
    /// People whose departments changed.
    pub moved: u64,
    /// People no longer listed.
    pub left: u64,
}

/// One open membership: row id, department, rank.
type OpenMembership = (i64, i64, i64);

impl Store {
    /// The business date of the last directory refresh; `None` before the first.
    pub(crate) fn people_refreshed_on(&self) -> Result<Option<NaiveDate>, Error> {
        let text: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key = ?1",
                [REFRESHED_ON_KEY],
                |row| row.get(0),
            )
            .optional()
            .at(&self.location)?;
        // Only this module writes it; an unreadable date just means "refresh again".
        Ok(text.and_then(|text| NaiveDate::parse_from_str(&text, "%Y-%m-%d").ok()))
    }

    /// Replaces the directory with `directory` as listed on business date `on` (at `at`), in
    /// one transaction, and records `on` as the last refresh. See the module documentation.
    pub(crate) fn upsert_directory(
        &mut self,
        directory: &Directory,
        on: NaiveDate,
        at: DateTime<Utc>,
    ) -> Result<DirectoryChanges, Error> {
        let location = self.location.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .at(&location)?;
        let changes = Refresher::load(&tx, on, at)
            .and_then(|mut refresher| refresher.write(directory))
            .at(&location)?;
        tx.commit().at(&location)?;
        Ok(changes)
    }

    /// A person's name and department on business date `on`; `None` for a person never listed.
    pub(crate) fn person_on(
        &self,
        user: &UserId,
        on: NaiveDate,
    ) -> Result<Option<KnownPerson>, Error> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT p.name, d.name FROM people p
                 LEFT JOIN memberships m ON m.id = (
                     SELECT id FROM memberships
                     WHERE user_id = p.user_id
                       AND (valid_from IS NULL OR valid_from <= ?2)
                       AND (valid_to IS NULL OR valid_to > ?2)
                     ORDER BY rank, id LIMIT 1)
                 LEFT JOIN departments d ON d.dept_id = m.dept_id
                 WHERE p.user_id = ?1",
            )
            .at(&self.location)?;
        statement
            .query_row(params![user.as_str(), date_text(on)], |row| {
                Ok(KnownPerson {
                    name: row.get(0)?,
                    department: row.get(1)?,
                })
            })
            .optional()
            .at(&self.location)
    }

    /// [`Store::person_on`] for each (person, business date) of a report; the unknown are absent.
    /// Each person's current department (id and name: the lowest-ranked membership still
    /// valid), for everyone the directory lists.
    pub(crate) fn current_departments(&self) -> Result<BTreeMap<String, (i64, String)>, Error> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT m.user_id, m.dept_id, COALESCE(d.name, '') FROM memberships m
                 LEFT JOIN departments d ON d.dept_id = m.dept_id
                 WHERE m.valid_to IS NULL
                 ORDER BY m.user_id, m.rank DESC, m.id DESC",
            )
            .at(&self.location)?;
        let rows = statement
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, String>(2)?,
                ))
            })
            .at(&self.location)?;
        let mut found = BTreeMap::new();
        for row in rows {
            let (user, dept, name) = row.at(&self.location)?;
            // Ordered by rank descending: the lowest rank is written last and stays.
            found.insert(user, (dept, name));
        }
        Ok(found)
    }

    pub(crate) fn people_on(
        &self,
        wanted: &BTreeSet<(UserId, NaiveDate)>,
    ) -> Result<BTreeMap<(UserId, NaiveDate), KnownPerson>, Error> {
        let mut found = BTreeMap::new();
        for (user, on) in wanted {
            if let Some(person) = self.person_on(user, *on)? {
                found.insert((user.clone(), *on), person);
            }
        }
        Ok(found)
    }
}

/// One refresh's writes, bound to its transaction: who was known (and whether gone), which
/// memberships were open, the refresh's date and instant.
struct Refresher<'t> {
    tx: &'t Transaction<'t>,
    /// Every person ever listed, with the date they were last found gone (`None`: listed).
    known: HashMap<String, Option<String>>,
    /// Open memberships per person.
    open: HashMap<String, Vec<OpenMembership>>,
    on: String,
    at_ms: i64,
}

impl<'t> Refresher<'t> {
    fn load(tx: &'t Transaction<'t>, on: NaiveDate, at: DateTime<Utc>) -> rusqlite::Result<Self> {
        let mut known = HashMap::new();
        let mut statement = tx.prepare("SELECT user_id, left_on FROM people")?;
        for row in statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))? {
            let (user, left_on): (String, Option<String>) = row?;
            known.insert(user, left_on);
        }
        let mut open: HashMap<String, Vec<OpenMembership>> = HashMap::new();
        let mut statement = tx
            .prepare("SELECT user_id, id, dept_id, rank FROM memberships WHERE valid_to IS NULL")?;
        let rows = statement.query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                (row.get(1)?, row.get(2)?, row.get(3)?),
            ))
        })?;
        for row in rows {
            let (user, membership) = row?;
            open.entry(user).or_default().push(membership);
        }
        Ok(Refresher {
            tx,
            known,
            open,
            on: date_text(on),
            at_ms: ms(at),
        })
    }

    fn write(&mut self, directory: &Directory) -> rusqlite::Result<DirectoryChanges> {
        for dept in &directory.departments {
            self.tx.execute(
                "INSERT INTO departments (dept_id, name, parent_id, updated_at_ms)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (dept_id) DO UPDATE SET name = excluded.name,
                     parent_id = excluded.parent_id, updated_at_ms = excluded.updated_at_ms",
                params![dept.id, dept.name, dept.parent, self.at_ms],
            )?;
        }
        let mut changes = DirectoryChanges::default();
        let mut listed: BTreeSet<&str> = BTreeSet::new();
        for person in &directory.people {
            listed.insert(person.user_id.as_str());
            let was_listed = self.known.get(person.user_id.as_str()).cloned();
            let moved = self.person(person, was_listed.as_ref())?;
            match was_listed {
                Some(None) if moved => changes.moved += 1,
                Some(None) => {}
                None | Some(Some(_)) => changes.joined += 1,
            }
        }
        let gone: Vec<String> = self
            .known
            .iter()
            .filter(|(user, left_on)| left_on.is_none() && !listed.contains(user.as_str()))
            .map(|(user, _)| user.clone())
            .collect();
        for user in gone {
            self.leave(&user)?;
            changes.left += 1;
        }
        self.tx.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![REFRESHED_ON_KEY, self.on],
        )?;
        Ok(changes)
    }

    /// Writes one listed person: name, memberships ended, reordered and begun. `was_listed` is
    /// `None` for a person never seen, `Some(left_on)` otherwise. Whether a membership changed.
    fn person(
        &mut self,
        person: &Person,
        was_listed: Option<&Option<String>>,
    ) -> rusqlite::Result<bool> {
        let user = person.user_id.as_str();
        self.tx.execute(
            "INSERT INTO people (user_id, name, updated_at_ms, left_on) VALUES (?1, ?2, ?3, NULL)
             ON CONFLICT (user_id) DO UPDATE SET name = excluded.name,
                 updated_at_ms = excluded.updated_at_ms, left_on = NULL",
            params![user, person.name, self.at_ms],
        )?;
        let mut wanted: Vec<i64> = Vec::new();
        for dept in &person.departments {
            if !wanted.contains(dept) {
                wanted.push(*dept);
            }
        }
        let current = self.open.remove(user).unwrap_or_default();
        let mut changed = false;
        for &(id, dept, rank) in &current {
            match wanted.iter().position(|&w| w == dept) {
                None => {
                    self.close(id)?;
                    changed = true;
                }
                Some(position) if position as i64 != rank => {
                    self.tx.execute(
                        "UPDATE memberships SET rank = ?2 WHERE id = ?1",
                        params![id, position as i64],
                    )?;
                }
                Some(_) => {}
            }
        }
        // A person seen for the first time has been where they are since before it.
        let valid_from = was_listed.map(|_| self.on.as_str());
        for (position, dept) in wanted.iter().enumerate() {
            if current.iter().any(|&(_, open_dept, _)| open_dept == *dept) {
                continue;
            }
            self.tx.execute(
                "INSERT INTO memberships (user_id, dept_id, rank, valid_from, valid_to)
                 VALUES (?1, ?2, ?3, ?4, NULL)",
                params![user, dept, position as i64, valid_from],
            )?;
            changed = true;
        }
        Ok(changed)
    }

    /// A person no longer listed: memberships ended, marked gone, name kept.
    fn leave(&mut self, user: &str) -> rusqlite::Result<()> {
        for (id, _, _) in self.open.remove(user).unwrap_or_default() {
            self.close(id)?;
        }
        self.tx.execute(
            "UPDATE people SET left_on = ?2, updated_at_ms = ?3 WHERE user_id = ?1",
            params![user, self.on, self.at_ms],
        )?;
        Ok(())
    }

    /// Ends a membership on the refresh's date (exclusive); one that began that same date never
    /// held and goes.
    fn close(&self, id: i64) -> rusqlite::Result<()> {
        self.tx.execute(
            "UPDATE memberships SET valid_to = ?2 WHERE id = ?1",
            params![id, self.on],
        )?;
        self.tx.execute(
            "DELETE FROM memberships WHERE id = ?1 AND valid_from = valid_to",
            [id],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
