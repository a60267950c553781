//! The task list: open documents soonest deadline first, each with its band and a
//! countdown in working time on the city's calendar as synced, computed offline.

use fieldloop_core::doc::DocKind;
use fieldloop_core::sla::Band;
use fieldloop_core::store::ListedDoc;

use crate::error::Result;
use crate::phone::FieldPhone;

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum InboxFilter {
    All,
    Cases,
    Notices,
    SiteInspections,
    Patrols,
    Plans,
}

impl InboxFilter {
    fn admits(self, kind: DocKind) -> bool {
        match self {
            InboxFilter::All => true,
            InboxFilter::Cases => kind == DocKind::Case,
            InboxFilter::Notices => kind == DocKind::Notice,
            InboxFilter::SiteInspections => kind == DocKind::SiteInspection,
            InboxFilter::Patrols => kind == DocKind::Patrol,
            InboxFilter::Plans => kind == DocKind::PatrolPlan,
        }
    }
}

/// One row of the task list.
#[derive(Debug, Clone, uniffi::Record)]
pub struct Task {
    pub id: String,
    pub kind: DocKind,
    pub title: String,
    pub status: String,
    pub deadline: Option<i64>,
    /// The server's band (预警 / 超期 / 督办), raised to red here when the deadline has
    /// passed on the phone's clock; none without a deadline.
    pub band: Option<Band>,
    /// Working minutes left (negative: overdue), on the working calendar; none without
    /// a deadline.
    pub remaining_working_minutes: Option<i64>,
    /// The countdown touches a year whose holidays are not published yet.
    pub provisional: bool,
    pub updated_at: i64,
}

#[uniffi::export]
impl FieldPhone {
    /// My open tasks, soonest deadline first (those without one last), filtered by kind.
    pub fn inbox(&self, filter: InboxFilter) -> Result<Vec<Task>> {
        let reference = self.reference()?;
        let calendar = &reference.calendar;
        let now = self.now();
        let listed: Vec<ListedDoc> = self.read(|r| Ok(r.list_open_tasks(usize::MAX)?))?;
        let mut tasks = Vec::with_capacity(listed.len());
        for doc in listed.into_iter().filter(|d| filter.admits(d.kind)) {
            let listing = doc.listing;
            let span = match listing.deadline {
                Some(due) => Some(calendar.working_minutes_between(now, due, &[])?),
                None => None,
            };
            let server_band = listing.band.as_deref().and_then(Band::from_name);
            let band = match (server_band, &span) {
                (Some(b), Some(s)) if s.minutes < 0 => Some(b.max(Band::Red)),
                (None, Some(s)) if s.minutes < 0 => Some(Band::Red),
                (None, Some(_)) => Some(Band::Green),
                (b, _) => b,
            };
            tasks.push(Task {
                id: doc.id.to_string(),
                kind: doc.kind,
                title: listing.title,
                status: listing.status,
                deadline: listing.deadline,
                band,
                remaining_working_minutes: span.as_ref().map(|s| s.minutes),
                provisional: span.is_some_and(|s| s.provisional),
                updated_at: listing.updated_at,
            });
        }
        Ok(tasks)
    }
}
