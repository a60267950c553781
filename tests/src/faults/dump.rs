//! A readable dump of what a server stores, to compare before and after something that
//! must not change it. Embedded backend: every row of the record tables of the SQLite file
//! and every stored photo's name and size. PostgreSQL + S3: every row of every table of
//! the server's database (as PostgreSQL's text form of the row) and every object file
//! s3s-fs holds, with its size (s3s-fs keeps one file per object).

use std::fmt::Write as _;
use std::path::Path;

use rusqlite::types::ValueRef;

use crate::TestServer;

/// Tables whose rows may change on a refused request, by design: `audit` records
/// rejections, `device_heads` is the sync bookkeeping of what a device was sent, and
/// `login_failures` counts refused logins.
pub const CHANGES_ON_REFUSAL: &[&str] =
    &["audit", "device_heads", "login_failures", "sqlite_sequence"];

/// Every stored row and photo; `CHANGES_ON_REFUSAL` tables left out.
pub fn dump(server: &TestServer) -> String {
    match &server.backing {
        Some(backing) => dump_postgres_and_s3(server, backing),
        None => dump_dir(server._dir.path()),
    }
}

fn postgres_client(server: &TestServer, url: &str) -> tokio_postgres::Client {
    let (client, connection) = server
        .runtime()
        .block_on(tokio_postgres::connect(url, tokio_postgres::NoTls))
        .expect("connect to the server's database");
    server.runtime().spawn(connection);
    client
}

fn dump_postgres_and_s3(server: &TestServer, backing: &crate::Backing) -> String {
    let client = postgres_client(server, &backing.database);
    let rt = server.runtime();
    let tables: Vec<String> = rt
        .block_on(client.query(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
            &[],
        ))
        .expect("list tables")
        .iter()
        .map(|row| row.get(0))
        .collect();
    let mut out = String::new();
    for table in tables {
        if CHANGES_ON_REFUSAL.contains(&table.as_str()) {
            continue;
        }
        let _ = writeln!(out, "## {table}");
        let rows = rt
            .block_on(client.query(
                &format!("SELECT t::text FROM \"{table}\" t ORDER BY 1"),
                &[],
            ))
            .expect("select rows");
        for row in rows {
            let _ = writeln!(out, "{}", row.get::<_, String>(0));
        }
    }
    let _ = writeln!(out, "## s3 objects");
    let mut files = Vec::new();
    collect_files(backing.s3.root(), &mut files);
    // s3s-fs's own bookkeeping (`.bucket-…` files) outlives deleted objects, such as the
    // pieces of a refused upload the server discarded; the objects are the other files.
    files.retain(|(name, _)| {
        !Path::new(name)
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(".bucket-"))
    });
    files.sort();
    for (name, size) in files {
        let _ = writeln!(out, "{name} {size}");
    }
    out
}

/// The dump of a data directory (SQLite file `fieldloop.sqlite3` + `blobs/`).
pub fn dump_dir(data: &Path) -> String {
    let conn = rusqlite::Connection::open_with_flags(
        data.join("fieldloop.sqlite3"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open the server's database read-only");
    let mut out = String::new();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .and_then(|mut s| {
            s.query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<_, _>>()
        })
        .expect("list tables");
    for table in tables {
        if CHANGES_ON_REFUSAL.contains(&table.as_str()) {
            continue;
        }
        let _ = writeln!(out, "## {table}");
        let mut stmt = conn
            .prepare(&format!("SELECT * FROM \"{table}\" ORDER BY 1, 2"))
            .or_else(|_| conn.prepare(&format!("SELECT * FROM \"{table}\" ORDER BY 1")))
            .expect("select rows");
        let columns = stmt.column_count();
        let mut rows = stmt.query([]).expect("rows");
        while let Some(row) = rows.next().expect("row") {
            let mut line = Vec::with_capacity(columns);
            for c in 0..columns {
                line.push(match row.get_ref(c).expect("value") {
                    ValueRef::Null => "NULL".to_owned(),
                    ValueRef::Integer(i) => i.to_string(),
                    ValueRef::Real(f) => f.to_string(),
                    ValueRef::Text(t) => format!("{:?}", String::from_utf8_lossy(t)),
                    ValueRef::Blob(b) => format!("blob:{}", fieldloop_core::store::sha256_hex(b)),
                });
            }
            let _ = writeln!(out, "{}", line.join(" | "));
        }
    }
    let _ = writeln!(out, "## photo files");
    let mut files = Vec::new();
    collect_files(&data.join("blobs").join("sha256"), &mut files);
    files.sort();
    for (name, size) in files {
        let _ = writeln!(out, "{name} {size}");
    }
    out
}

fn collect_files(dir: &Path, out: &mut Vec<(String, u64)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_files(&path, out);
        } else if let Ok(meta) = entry.metadata() {
            out.push((path.display().to_string(), meta.len()));
        }
    }
}

/// Documents the server stores (a duplicated case would be a second document).
pub fn document_count(server: &TestServer) -> u64 {
    if let Some(backing) = &server.backing {
        let client = postgres_client(server, &backing.database);
        let n: i64 = server
            .runtime()
            .block_on(client.query_one("SELECT COUNT(*) FROM documents", &[]))
            .expect("count documents")
            .get(0);
        return n as u64;
    }
    let conn = rusqlite::Connection::open_with_flags(
        server._dir.path().join("fieldloop.sqlite3"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open the server's database read-only");
    let n: i64 = conn
        .query_row("SELECT COUNT(*) FROM documents", [], |r| r.get(0))
        .expect("count documents");
    n as u64
}
