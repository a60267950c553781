//! The demo's seed: people for every role of the demo city (see [`crate::demo::city`]),
//! with fixed passwords, so a person can log in and try every endpoint. Seeding twice
//! leaves the first users in place. The first seven are the original one-per-role logins;
//! server/README.md ("Demo city") lists them all with their jurisdictions.

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

/// Password of every user added for the simulated day (the first seven keep theirs).
pub const DEMO_PASSWORD: &str = "xihu-demo-2026";

pub fn demo_users() -> Vec<SeedUser> {
    let list = |s: &str| vec![s.to_owned()];
    let mut users = vec![
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
    ];
    users.extend(day_users());
    users
}

/// The simulated day's cast: more inspectors, a district dispatcher, a handler per unit,
/// a second supervisor, river chiefs of three levels.
fn day_users() -> Vec<SeedUser> {
    let user = |username: &'static str, role: Role, jurisdiction: Jurisdiction| SeedUser {
        username,
        password: DEMO_PASSWORD,
        role,
        jurisdiction,
    };
    let grid = |prefixes: &[&str]| Jurisdiction {
        grid_prefixes: prefixes.iter().map(|p| p.to_string()).collect(),
        ..Jurisdiction::default()
    };
    let unit = |u: &str| Jurisdiction {
        units: vec![u.to_owned()],
        ..Jurisdiction::default()
    };
    let project = |p: &str| Jurisdiction {
        projects: vec![p.to_owned()],
        ..Jurisdiction::default()
    };
    let segments = |s: &[&str]| Jurisdiction {
        segments: s.iter().map(|x| x.to_string()).collect(),
        ..Jurisdiction::default()
    };
    vec![
        // 网格长 of street 001: verifies what the community inspector fixed himself.
        user("insp-wang", Role::Inspector, grid(&["330106001"])),
        user("insp-li", Role::Inspector, grid(&["330106002"])),
        user("insp-zhao", Role::Inspector, grid(&["330106003"])),
        user("dispatch-xihu", Role::Dispatcher, grid(&["330106"])),
        user("handler-clean", Role::Handler, unit("sanitation-xihu")),
        user("handler-roads", Role::Handler, unit("roads-xihu")),
        user("handler-lights", Role::Handler, unit("lighting-xihu")),
        user("handler-water", Role::Handler, unit("water-xihu")),
        user("handler-green", Role::Handler, unit("greening-xihu")),
        user("handler-enforce", Role::Handler, unit("enforcement-xihu")),
        user("supervisor-chen", Role::Supervisor, project("canal-2026")),
        user("chief-gudang", Role::RiverChief, segments(&["xixi-02"])),
        user(
            "chief-town",
            Role::RiverChief,
            segments(&["xixi-01", "xixi-02", "shajiang-01"]),
        ),
        user(
            "chief-district",
            Role::RiverChief,
            segments(&["xixi-01", "xixi-02", "shajiang-01", "jinsha-01"]),
        ),
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
