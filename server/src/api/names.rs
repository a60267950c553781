//! Names a person reads instead of codes and ids: units, categories, people.
//!
//! Unit names come from the deployment's reference data (what its admins imported), never
//! from the demo city.

use std::collections::BTreeMap;

use axum::extract::State;
use fieldloop_core::catalogue::Catalogue;

use crate::error::Result;
use crate::reference::Reference;
use crate::state::AppState;

/// The unit's name in the imported reference, or its id when the city has not named it.
pub fn unit_name(reference: &Reference, unit: &str) -> String {
    reference
        .city
        .units
        .iter()
        .find(|u| u.id == unit)
        .map_or_else(|| unit.to_owned(), |u| u.name.clone())
}

/// "大类 / 小类" for a category key ("20102"), or the key when the catalogue lacks it.
pub fn category_name(catalogue: &Catalogue, key: &str) -> String {
    catalogue
        .get_by_key(key)
        .map(|c| format!("{} / {}", c.major, c.name))
        .unwrap_or_else(|_| key.to_owned())
}

/// User id → username, read once per request for the ids it needs.
#[derive(Default)]
pub struct People {
    known: BTreeMap<String, String>,
}

impl People {
    pub async fn name(&mut self, state: &AppState, id: &str) -> Result<String> {
        if let Some(name) = self.known.get(id) {
            return Ok(name.clone());
        }
        let name = match id {
            crate::referee::SERVER_USER => "系统 (server)".to_owned(),
            _ => match state.users.user_by_id(id).await? {
                Some(user) => user.username,
                None => id.to_owned(),
            },
        };
        self.known.insert(id.to_owned(), name.clone());
        Ok(name)
    }
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct UnitName {
    pub id: String,
    pub name: String,
}

#[utoipa::path(get, path = "/v1/units", tag = "reference",
    responses((status = 200, description = "Responsible units by id and name", body = Vec<UnitName>)),
    security(("bearer" = [])))]
pub async fn units_handler(
    _auth: crate::auth::Auth,
    State(state): State<AppState>,
) -> axum::Json<Vec<UnitName>> {
    let reference = state.reference.current();
    axum::Json(
        reference
            .city
            .units
            .iter()
            .map(|u| UnitName {
                id: u.id.clone(),
                name: u.name.clone(),
            })
            .collect(),
    )
}
