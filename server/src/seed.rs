//! The demo's seed: one user per role, with fixed passwords, so a person can log in
//! and try every endpoint. Seeding twice leaves the first users in place.
//!
//! | username      | password            | role         | jurisdiction                   |
//! |---------------|---------------------|--------------|--------------------------------|
//! | `admin`       | `admin-demo-pass`   | admin        | everywhere                     |
//! | `dispatcher`  | `dispatch-demo-pass`| dispatcher   | street `330106001`             |
//! | `inspector`   | `inspect-demo-pass` | inspector    | community `330106001001`       |
//! | `handler`     | `handler-demo-pass` | handler      | unit `sanitation-xihu`         |
//! | `supervisor`  | `supervise-demo-pass`| supervisor  | project `canal-2026`           |
//! | `contractor`  | `contract-demo-pass`| contractor   | project `canal-2026`           |
//! | `chief`       | `chief-demo-pass`   | river_chief  | segment `xixi-01`              |

use fieldloop_core::roles::{Jurisdiction, Role};

use crate::auth::{create_user, NewUser};
use crate::error::Result;
use crate::state::AppState;

pub struct SeedUser {
    pub username: &'static str,
    pub password: &'static str,
    pub role: Role,
    pub jurisdiction: Jurisdiction,
}

pub fn demo_users() -> Vec<SeedUser> {
    let list = |s: &str| vec![s.to_owned()];
    vec![
        SeedUser {
            username: "admin",
            password: "admin-demo-pass",
            role: Role::Admin,
            jurisdiction: Jurisdiction {
                everywhere: true,
                ..Jurisdiction::default()
            },
        },
        SeedUser {
            username: "dispatcher",
            password: "dispatch-demo-pass",
            role: Role::Dispatcher,
            jurisdiction: Jurisdiction {
                grid_prefixes: list("330106001"),
                ..Jurisdiction::default()
            },
        },
        SeedUser {
            username: "inspector",
            password: "inspect-demo-pass",
            role: Role::Inspector,
            jurisdiction: Jurisdiction {
                grid_prefixes: list("330106001001"),
                ..Jurisdiction::default()
            },
        },
        SeedUser {
            username: "handler",
            password: "handler-demo-pass",
            role: Role::Handler,
            jurisdiction: Jurisdiction {
                units: list("sanitation-xihu"),
                ..Jurisdiction::default()
            },
        },
        SeedUser {
            username: "supervisor",
            password: "supervise-demo-pass",
            role: Role::Supervisor,
            jurisdiction: Jurisdiction {
                projects: list("canal-2026"),
                ..Jurisdiction::default()
            },
        },
        SeedUser {
            username: "contractor",
            password: "contract-demo-pass",
            role: Role::Contractor,
            jurisdiction: Jurisdiction {
                projects: list("canal-2026"),
                ..Jurisdiction::default()
            },
        },
        SeedUser {
            username: "chief",
            password: "chief-demo-pass",
            role: Role::RiverChief,
            jurisdiction: Jurisdiction {
                segments: list("xixi-01"),
                ..Jurisdiction::default()
            },
        },
    ]
}

/// Creates the demo users that do not exist yet; returns how many were created.
pub async fn seed_demo(state: &AppState) -> Result<usize> {
    let mut created = 0;
    for user in demo_users() {
        if state.users.user_by_name(user.username).await?.is_some() {
            continue;
        }
        create_user(
            state,
            NewUser {
                username: user.username.into(),
                password: user.password.into(),
                role: user.role,
                jurisdiction: user.jurisdiction,
            },
        )
        .await?;
        created += 1;
    }
    Ok(created)
}
