//! Names a person reads instead of codes and ids: units, categories, people.
//!
//! Unit names, cell outlines and river names come from the city's reference data. Until
//! the reference module holds them, they are read from the built-in demo city here, and
//! only here: this is the one place to switch to the deployment's imported data.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use fieldloop_core::catalogue::Catalogue;

use crate::demo::city::City;
use crate::error::Result;
use crate::state::AppState;

/// The city's geography and names as the console shows them.
pub fn city() -> &'static City {
    static CITY: OnceLock<City> = OnceLock::new();
    CITY.get_or_init(City::builtin)
}

pub fn unit_name(unit: &str) -> String {
    city()
        .units
        .iter()
        .find(|u| u.id == unit)
        .map_or_else(|| unit.to_owned(), |u| u.name.to_owned())
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
pub async fn units_handler(_auth: crate::auth::Auth) -> axum::Json<Vec<UnitName>> {
    axum::Json(
        city()
            .units
            .iter()
            .map(|u| UnitName {
                id: u.id.to_owned(),
                name: u.name.to_owned(),
            })
            .collect(),
    )
}
