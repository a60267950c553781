//! Patrol pauses. A pause is the person's choice on this phone (a break; fixes are refused
//! until resumed), not an event of the patrol document, so it lives in the store beside
//! the document and survives the app being killed.

use rusqlite::params;
use uuid::Uuid;

use super::Store;
use crate::error::Result;
use crate::time::Millis;

/// One pause of a patrol; `resumed_at` is empty while it lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatrolPause {
    pub paused_at: Millis,
    pub resumed_at: Option<Millis>,
}

impl PatrolPause {
    /// The part of this pause before `t` (a running pause counts up to `t`).
    pub fn overlap_before(&self, t: Millis) -> Millis {
        let end = self.resumed_at.unwrap_or(t).min(t);
        end.saturating_sub(self.paused_at).max(0)
    }
}

impl Store {
    /// Pauses `patrol` at `at`; false when it is paused already (the running pause stays).
    pub fn pause_patrol(&mut self, patrol: Uuid, at: Millis) -> Result<bool> {
        if self.patrol_paused(patrol)? {
            return Ok(false);
        }
        self.conn
            .prepare_cached(
                "INSERT INTO patrol_pauses (patrol_id, paused_at) VALUES (?1, ?2)
                 ON CONFLICT (patrol_id, paused_at) DO UPDATE SET resumed_at = NULL",
            )?
            .execute(params![patrol.as_bytes(), at])?;
        Ok(true)
    }

    /// Ends the running pause of `patrol` at `at` (never before it began); false when
    /// the patrol was not paused.
    pub fn resume_patrol(&mut self, patrol: Uuid, at: Millis) -> Result<bool> {
        let changed = self
            .conn
            .prepare_cached(
                "UPDATE patrol_pauses SET resumed_at = max(?2, paused_at)
                 WHERE patrol_id = ?1 AND resumed_at IS NULL",
            )?
            .execute(params![patrol.as_bytes(), at])?;
        Ok(changed > 0)
    }

    pub fn patrol_paused(&self, patrol: Uuid) -> Result<bool> {
        Ok(self
            .patrol_pauses(patrol)?
            .iter()
            .any(|p| p.resumed_at.is_none()))
    }

    /// Every pause of `patrol`, oldest first.
    pub fn patrol_pauses(&self, patrol: Uuid) -> Result<Vec<PatrolPause>> {
        let mut statement = self.conn.prepare_cached(
            "SELECT paused_at, resumed_at FROM patrol_pauses WHERE patrol_id = ?1
             ORDER BY paused_at",
        )?;
        let rows = statement.query_map([patrol.as_bytes()], |row| {
            Ok(PatrolPause {
                paused_at: row.get(0)?,
                resumed_at: row.get(1)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }
}
