//! Roles, jurisdictions and the one permission table that the device applies before it
//! writes and the server applies when it validates.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Role {
    Inspector,
    Dispatcher,
    Handler,
    Supervisor,
    Contractor,
    RiverChief,
    Admin,
    /// The sync server itself: the only writer of verdicts, closures, warnings, plans.
    Server,
}

impl Role {
    /// The role as the API, the errors and the docs spell it: `river_chief`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Inspector => "inspector",
            Role::Dispatcher => "dispatcher",
            Role::Handler => "handler",
            Role::Supervisor => "supervisor",
            Role::Contractor => "contractor",
            Role::RiverChief => "river_chief",
            Role::Admin => "admin",
            Role::Server => "server",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a person may act. Grid cells match by prefix, so a dispatcher holding a
/// 9-digit street prefix covers every cell of that street.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Jurisdiction {
    #[serde(default)]
    pub grid_prefixes: Vec<String>,
    #[serde(default)]
    pub units: Vec<String>,
    #[serde(default)]
    pub projects: Vec<String>,
    #[serde(default)]
    pub segments: Vec<String>,
    /// Citywide (admins, the server).
    #[serde(default)]
    pub everywhere: bool,
}

/// Who is acting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Principal {
    pub user_id: String,
    pub role: Role,
    pub jurisdiction: Jurisdiction,
}

use crate::doc::DocScope;

/// Which part of a document's scope must lie in the actor's jurisdiction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeCheck {
    /// No place check (the server; reports anyone may file).
    Anywhere,
    /// The document's grid cell is under one of the actor's grid prefixes.
    GridCell,
    /// The document's responsible unit is one of the actor's units.
    Unit,
    /// The document's project is one of the actor's projects.
    Project,
    /// The document's river segment is one of the actor's segments.
    Segment,
}

/// One row of the permission table: who may append `event` and where.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub event: &'static str,
    pub roles: &'static [Role],
    pub scope: ScopeCheck,
}

/// Events that only the server writes: verdicts, closures, deadline warnings, escalations,
/// plan updates. A device change adding one of these is rejected whatever its role claims.
pub fn server_only(rule: &Rule) -> bool {
    rule.roles == [Role::Server]
}

impl Jurisdiction {
    pub fn covers(&self, check: ScopeCheck, scope: &DocScope) -> bool {
        if self.everywhere {
            return true;
        }
        fn any_eq(list: &[String], value: &Option<String>) -> bool {
            value.as_ref().is_some_and(|v| list.iter().any(|x| x == v))
        }
        match check {
            ScopeCheck::Anywhere => true,
            ScopeCheck::GridCell => scope.grid_cell.as_ref().is_some_and(|cell| {
                self.grid_prefixes
                    .iter()
                    .any(|p| cell.starts_with(p.as_str()))
            }),
            ScopeCheck::Unit => any_eq(&self.units, &scope.unit),
            ScopeCheck::Project => any_eq(&self.projects, &scope.project),
            ScopeCheck::Segment => any_eq(&self.segments, &scope.segment),
        }
    }
}

/// The answer of the permission table, with a reason a person can read when it is no.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    Denied(String),
}

/// Looks `event` up in `rules` and checks role and jurisdiction.
pub fn decide_in(rules: &[Rule], principal: &Principal, event: &str, scope: &DocScope) -> Decision {
    // An event may have several rows (a patrol event: inspectors by grid cell, river chiefs
    // by segment); it is allowed when any row for the principal's role covers the scope.
    let rows: Vec<&Rule> = rules.iter().filter(|r| r.event == event).collect();
    if rows.is_empty() {
        return Decision::Denied(format!("unknown event type {event}"));
    }
    if principal.role == Role::Server {
        return Decision::Allowed;
    }
    if rows.iter().all(|r| server_only(r)) {
        return Decision::Denied(format!("{event} is written by the server only"));
    }
    let for_role: Vec<&&Rule> = rows
        .iter()
        .filter(|r| r.roles.contains(&principal.role))
        .collect();
    let Some(first) = for_role.first() else {
        return Decision::Denied(format!("a {} may not write {event}", principal.role));
    };
    if for_role
        .iter()
        .any(|r| principal.jurisdiction.covers(r.scope, scope))
    {
        return Decision::Allowed;
    }
    Decision::Denied(format!(
        "{event}: outside {}'s jurisdiction ({:?})",
        principal.user_id, first.scope
    ))
}

/// Every permission row of every document kind, for the server's validator and the
/// device's pre-check. Event types are prefixed by kind, so the tables never overlap.
/// Built once: every push and every action on a phone consults it.
pub fn all_rules() -> &'static [Rule] {
    static ALL: std::sync::OnceLock<Vec<Rule>> = std::sync::OnceLock::new();
    ALL.get_or_init(|| {
        [
            crate::case::PERMISSIONS,
            crate::notice::PERMISSIONS,
            crate::patrol::PERMISSIONS,
            crate::plan::PERMISSIONS,
        ]
        .concat()
    })
}
