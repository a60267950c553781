//! `GET /v1/reference`: the city's reference data for devices (grid cells with their
//! polygons, units, the responsibility matrix, river segments with warning levels and
//! chiefs, the construction project), read-only and versioned.

use axum::Json;

use super::city::City;
use crate::auth::Auth;

/// Any logged-in person may read it: the phone needs the cells offline to tell which
/// cell a capture is in.
pub async fn reference(_auth: Auth) -> Json<City> {
    Json(City::builtin())
}
