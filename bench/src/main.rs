//! `fieldloop-bench`: issue 11's benchmarks, each beside its peer in the same run.
//! `cargo run --release -p fieldloop-bench -- all` (or `bash bench/run`) prints a table
//! and writes `bench/results/<date>.json`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use fieldloop_bench::city::{CityConfig, SyncFigures};
use fieldloop_bench::server::{server_binary, Backend, Server, Services};
use fieldloop_bench::stats::{median, ratio};
use fieldloop_bench::{city, load, peer, photo, procfs, scale, uploads, verdicts, Result};
use serde_json::{json, Value};

#[derive(Parser)]
#[command(
    name = "fieldloop-bench",
    about = "fieldloop's benchmarks beside their peers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Clone)]
struct Common {
    /// Where to write the JSON figures (default bench/results/<UTC date>.json).
    #[arg(long, global = true)]
    out: Option<PathBuf>,
    /// Runs per configuration; figures are medians.
    #[arg(long, global = true, default_value_t = 3)]
    runs: usize,
    /// `serve` flags of another storage backend, e.g. "--database postgres://… --blobs s3://b";
    /// the backend is named by --backend-name. Default: the embedded SQLite + files.
    #[arg(long, global = true, allow_hyphen_values = true)]
    backend_args: Option<String>,
    #[arg(long, global = true, default_value = "postgres")]
    backend_name: String,
    /// PostgreSQL + S3 started by the bench on loopback (scripts/install-services), a new
    /// database for each server started.
    #[arg(long, global = true)]
    pg_s3: bool,
    /// Record `perf record --call-graph dwarf` of our server into DIR: during the first run of each §1
    /// size, and during the timed syncs of each §2 count.
    #[arg(long, global = true)]
    perf: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Every section below with its defaults.
    All,
    /// §1 city-scale sync vs automerge-repo.
    Sync(SyncArgs),
    /// §3 latency and throughput under concurrent devices.
    Load(LoadArgs),
    /// §4 verdicts per second on one core.
    Verdicts,
    /// §4 photo pipeline vs vipsthumbnail.
    Photo(PhotoArgs),
    /// §2 one-document sync cost vs documents stored.
    Scale(ScaleArgs),
    /// §4 photo upload throughput: files on disk beside PostgreSQL + S3 in the same run.
    Uploads(UploadArgs),
    /// (internal) process one photo: the process half of `photo`.
    #[command(hide = true)]
    PhotoOnce { input: PathBuf, output: PathBuf },
}

#[derive(Args, Clone)]
struct SyncArgs {
    #[arg(long, value_delimiter = ',', default_values_t = [50usize, 200])]
    devices: Vec<usize>,
    #[arg(long, default_value_t = 20)]
    grids: usize,
    #[arg(long, default_value_t = 5)]
    cases: usize,
    /// Our devices' interval between syncs while waiting for their grid.
    #[arg(long, default_value_t = 200)]
    poll_ms: u64,
    #[arg(long, default_value_t = 600)]
    timeout_s: u64,
    /// Skip the automerge-repo peer.
    #[arg(long)]
    no_peer: bool,
}

#[derive(Args, Clone)]
struct LoadArgs {
    #[arg(long, value_delimiter = ',', default_values_t = [50usize, 200, 1000])]
    devices: Vec<usize>,
    /// Each device's interval between syncs (0: closed loop).
    #[arg(long, default_value_t = 1000)]
    pace_ms: u64,
    #[arg(long, default_value_t = 15)]
    seconds: u64,
    /// Also a closed-loop run per device count (the saturation rate); `--closed-loop
    /// false` runs the paced phase alone.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    closed_loop: bool,
    /// Server instances on the one deployment, devices spread over them (more than one
    /// needs a shared database: --pg-s3 or --backend-args).
    #[arg(long, default_value_t = 1)]
    instances: usize,
}

#[derive(Args, Clone)]
struct UploadArgs {
    /// Distinct processed photos uploaded per store.
    #[arg(long, default_value_t = 40)]
    photos: usize,
    /// Devices uploading at once.
    #[arg(long, default_value_t = 4)]
    devices: usize,
}

#[derive(Args, Clone)]
struct PhotoArgs {
    #[arg(long, default_value_t = 9)]
    iterations: usize,
}

#[derive(Args, Clone)]
struct ScaleArgs {
    #[arg(long, value_delimiter = ',', default_values_t = [1_000u64, 100_000, 1_000_000])]
    counts: Vec<u64>,
    #[arg(long, default_value_t = 30)]
    syncs: usize,
    /// Seconds of seeding allowed in total; the counts not reached are reported as such.
    #[arg(long, default_value_t = 420)]
    seed_budget_s: u64,
}

fn backend(common: &Common) -> Result<Backend> {
    if common.pg_s3 {
        return Ok(Backend::Services(Services::start()?));
    }
    Ok(match &common.backend_args {
        None => Backend::Embedded,
        Some(args) => Backend::External {
            name: common.backend_name.clone(),
            serve_args: args.split_whitespace().map(str::to_owned).collect(),
        },
    })
}

fn median_figures(runs: &[SyncFigures]) -> SyncFigures {
    let m = |f: &dyn Fn(&SyncFigures) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
    SyncFigures {
        converged_s: m(&|r| r.converged_s),
        bytes_up: m(&|r| r.bytes_up as f64) as u64,
        bytes_down: m(&|r| r.bytes_down as f64) as u64,
        round_trips: m(&|r| r.round_trips as f64) as u64,
        server_cpu_s: m(&|r| r.server_cpu_s),
        server_peak_rss_mb: m(&|r| r.server_peak_rss_mb),
        device_cpu_s: m(&|r| r.device_cpu_s),
        reconnections: m(&|r| r.reconnections as f64) as u64,
        // Each run's phases are in its own entry of the JSON.
        phases: None,
    }
}

fn sync_section(common: &Common, args: &SyncArgs, table: &mut Vec<String>) -> Result<Value> {
    let binary = server_binary()?;
    let backend = backend(common)?;
    let mut sections = Vec::new();
    for &devices in &args.devices {
        let config = CityConfig {
            devices,
            grids: args.grids,
            cases_per_device: args.cases,
            poll_ms: args.poll_ms,
            timeout_s: args.timeout_s,
        };
        let (mut ours, mut theirs, mut peer_failures) =
            (Vec::new(), Vec::new(), Vec::<String>::new());
        for run in 0..common.runs {
            // Logins first, then a restart on the same port: the server whose memory is
            // measured has not hashed 20 passwords (the peer's server has no logins).
            let server = Server::start(&binary, &backend)?;
            let fleet = city::prepare(&server, &config)?;
            // The same deployment again: a Services backend resolved to its own database.
            let (port, data, deployment) =
                (server.port, server.data.clone(), server.backend.clone());
            let dir = server.stop();
            let server = Server::serve_at(&binary, &deployment, dir, data, port)?;
            let perf = match (&common.perf, run) {
                (Some(dir), 0) => {
                    std::fs::create_dir_all(dir)?;
                    Some(dir.join(format!("sync-{devices}.data")))
                }
                _ => None,
            };
            let figures =
                city::measure(&server, fleet, &config, perf.as_deref()).inspect_err(|_| {
                    eprintln!("server log:\n{}", server.log_tail());
                })?;
            eprintln!("sync {devices} devices run {run}: fieldloop {figures:?}");
            ours.push(figures);
            drop(server);
            if !args.no_peer {
                // The peer failing (its server dies under a burst on this machine) is a
                // figure of the run, not the end of the section.
                match peer::run(&config) {
                    Ok(figures) => {
                        eprintln!("sync {devices} devices run {run}: automerge-repo {figures:?}");
                        theirs.push(figures);
                    }
                    Err(e) => {
                        eprintln!("sync {devices} devices run {run}: automerge-repo failed: {e}");
                        peer_failures.push(e.to_string());
                    }
                }
            }
        }
        let o = median_figures(&ours);
        let mut entry = json!({
            "devices": devices, "grids": args.grids, "cases_per_device": args.cases,
            "backend": backend.name(), "poll_ms": args.poll_ms, "runs": common.runs,
            "fieldloop": o, "fieldloop_runs": ours,
        });
        let row = |name: &str, f: &SyncFigures| {
            format!(
                "| §1 sync {devices} dev | {name} | {:.2} s | {:.0} KB ({:.0} up / {:.0} down) | {} | {:.2} s | {:.0} MB | {:.2} s |",
                f.converged_s, f.bytes() as f64 / 1e3, f.bytes_up as f64 / 1e3,
                f.bytes_down as f64 / 1e3, f.round_trips, f.server_cpu_s,
                f.server_peak_rss_mb, f.device_cpu_s
            )
        };
        table.push(row(&format!("fieldloop ({})", backend.name()), &o));
        if !peer_failures.is_empty() {
            table.push(format!(
                "| §1 sync {devices} dev | automerge-repo 2.5 | failed in {} of {} runs: {} |",
                peer_failures.len(),
                common.runs,
                peer_failures[0]
            ));
            entry["automerge_repo_failures"] = json!(peer_failures);
        }
        if !theirs.is_empty() {
            let t = median_figures(&theirs);
            table.push(row("automerge-repo 2.5", &t));
            let ratios = json!({
                "converged_speedup": ratio(t.converged_s, o.converged_s),
                "bytes": ratio(o.bytes() as f64, t.bytes() as f64),
                "server_cpu": ratio(o.server_cpu_s, t.server_cpu_s),
                "server_peak_rss": ratio(o.server_peak_rss_mb, t.server_peak_rss_mb),
                "device_cpu": ratio(o.device_cpu_s, t.device_cpu_s),
            });
            table.push(format!(
                "| §1 sync {devices} dev | ratio | {}× faster | {}× | | {}× | {}× | {}× |",
                ratios["converged_speedup"],
                ratios["bytes"],
                ratios["server_cpu"],
                ratios["server_peak_rss"],
                ratios["device_cpu"]
            ));
            entry["automerge_repo"] = json!(t);
            entry["automerge_repo_runs"] = json!(theirs);
            entry["ratios"] = ratios;
        }
        sections.push(entry);
    }
    Ok(json!(sections))
}

fn load_section(common: &Common, args: &LoadArgs, table: &mut Vec<String>) -> Result<Value> {
    let binary = server_binary()?;
    let backend = backend(common)?;
    let mut out = Vec::new();
    let mut paces = vec![args.pace_ms];
    if args.closed_loop && args.pace_ms != 0 {
        paces.push(0);
    }
    for &devices in &args.devices {
        // Each run on a fresh server (and a fresh database on PostgreSQL): one pace's
        // figures per run, then their medians.
        let mut runs: Vec<Vec<load::LoadFigures>> = Vec::new();
        let mut failure = None;
        for _ in 0..common.runs.max(1) {
            let mut servers = vec![Server::start(&binary, &backend)?];
            for _ in 1..args.instances {
                let another = servers[0].another_instance(&binary)?;
                servers.push(another);
            }
            // A sync failing under the load (a client timeout) is the figure of that
            // count; the other counts are still measured.
            match load::run(&servers, devices, &paces, Duration::from_secs(args.seconds)) {
                Ok(figures) => runs.push(figures),
                Err(e) => {
                    failure = Some(e.to_string());
                    break;
                }
            }
        }
        if let Some(e) = failure {
            eprintln!("load {devices} devices: failed: {e}");
            table.push(format!(
                "| §3 load {devices} dev | {} | failed (run {} of {}): {e} |",
                backend.name(),
                runs.len() + 1,
                common.runs
            ));
            out.push(json!({"backend": backend.name(), "instances": args.instances, "devices": devices, "failed": e, "runs_before": runs}));
            continue;
        }
        for (i, &pace_ms) in paces.iter().enumerate() {
            let of_pace: Vec<load::LoadFigures> = runs.iter().map(|r| r[i].clone()).collect();
            let f = load::median_figures(&of_pace);
            eprintln!("load: {f:?}");
            table.push(format!(
                "| §3 load {devices} dev, {} | {} | p50 {:.1} ms, p99 {:.1} ms (max {:.0}) | {:.0} req/s | server CPU {:.1} s of {:.0} s, RSS {:.0} MB | devices' CPU {:.1} s | median of {} |",
                if pace_ms == 0 { "closed loop".to_owned() } else { format!("1 sync / {pace_ms} ms each") },
                if args.instances > 1 { format!("{} × {}", backend.name(), args.instances) } else { backend.name().to_owned() },
                f.p50_ms, f.p99_ms, f.max_ms, f.requests_per_s,
                f.server_cpu_s, f.seconds, f.server_peak_rss_mb, f.devices_cpu_s, of_pace.len()
            ));
            out.push(json!({"backend": backend.name(), "instances": args.instances, "figures": f, "runs": of_pace}));
        }
    }
    Ok(json!(out))
}

fn upload_section(args: &UploadArgs, table: &mut Vec<String>) -> Result<Value> {
    let binary = server_binary()?;
    let photos = uploads::photos(args.photos)?;
    let stores = [Backend::Embedded, Backend::Services(Services::start()?)];
    let mut measured = Vec::new();
    for backend in &stores {
        let server = Server::start(&binary, backend)?;
        let f = uploads::run(&server, &photos, args.devices)?;
        eprintln!("uploads {}: {f:?}", backend.name());
        table.push(format!(
            "| §4 photo uploads | {} | {:.1} MB/s, {:.0} photos/s | {} photos of {:.0} KB mean, {} devices | p50 {:.0} ms, p99 {:.0} ms per photo | server CPU {:.2} s |",
            backend.name(), f.megabytes_per_s, f.photos_per_s, f.photos,
            f.mean_photo_kb, f.devices, f.p50_ms, f.p99_ms, f.server_cpu_s
        ));
        measured.push((backend.name().to_owned(), f));
    }
    if let [(_, files), (_, s3)] = &measured[..] {
        let r = ratio(s3.megabytes_per_s, files.megabytes_per_s);
        table.push(format!(
            "| §4 photo uploads | ratio S3 / files | {r}× throughput | | | |"
        ));
    }
    Ok(json!(measured
        .iter()
        .map(|(backend, f)| json!({"backend": backend, "figures": f}))
        .collect::<Vec<_>>()))
}

fn verdict_section(table: &mut Vec<String>) -> Result<Value> {
    let runs: Vec<_> = (0..3).map(|_| verdicts::run(2.0)).collect::<Result<_>>()?;
    let prepared = median(&runs.iter().map(|r| r.verdicts_per_s).collect::<Vec<_>>());
    let from_doc = median(
        &runs
            .iter()
            .map(|r| r.verdicts_per_s_from_doc)
            .collect::<Vec<_>>(),
    );
    table.push(format!(
        "| §4 verdicts, 1 core | fieldloop verify_case | {prepared:.0}/s on a prepared snapshot; {from_doc:.0}/s reading the snapshot from the document | target ≥ 5,000/s | {} checks, passed: {} |",
        runs[0].checks_per_verdict, runs[0].passed
    ));
    Ok(json!({"verdicts_per_s": prepared, "verdicts_per_s_from_doc": from_doc, "runs": runs}))
}

fn photo_section(args: &PhotoArgs, table: &mut Vec<String>) -> Result<Value> {
    let f = photo::run(args.iterations)?;
    table.push(format!(
        "| §4 photo 12 MP → 1600 px | process vs process | ours {:.0} ms (in-process {:.0} ms), vipsthumbnail {} | ratio {} | target ≤ 1.0× |",
        f.ours_process_ms, f.ours_in_process_ms,
        f.vipsthumbnail_ms.map(|v| format!("{v:.0} ms")).unwrap_or_else(|| "not installed".into()),
        f.ratio_process.map(|r| format!("{r}×")).unwrap_or_else(|| "—".into()),
    ));
    Ok(json!(f))
}

fn scale_section(common: &Common, args: &ScaleArgs, table: &mut Vec<String>) -> Result<Value> {
    let binary = server_binary()?;
    let backend = backend(common)?;
    let points = scale::run(
        &binary,
        &backend,
        &args.counts,
        args.syncs,
        Duration::from_secs(args.seed_budget_s),
        common.perf.as_deref(),
    )?;
    for p in &points {
        table.push(format!(
            "| §2 one-doc sync, {} docs stored | {} | median {:.2} ms (p90 {:.2}) | {} B | server peak RSS {:.0} MB, db {:.0} MB, seeded in {:.0} s |",
            p.documents_stored, backend.name(), p.sync_median_ms, p.sync_p90_ms, p.bytes_per_sync,
            p.server_peak_rss_mb, p.database_mb, p.seed_seconds
        ));
        table.push(format!(
            "| city-server §5, {} docs ({} open) | {} | tick {:.0} ms (again {:.0} ms) | evaluation {:.0} ms cold ({} docs read, {} from kept snapshots), {:.1} ms warm; loading every document whole {:.0} ms ({}× slower) | bench process peak RSS {:.0} MB | target tick ≤ 1 s, evaluation ≤ 2 s |",
            p.documents_stored, p.open_cases, backend.name(), p.tick_first_ms, p.tick_second_ms,
            p.evaluation_cold_ms, p.evaluation_docs_read, p.evaluation_snapshots_read,
            p.evaluation_warm_ms, p.evaluation_cold_whole_ms,
            ratio(p.evaluation_cold_whole_ms, p.evaluation_cold_ms), p.bench_peak_rss_mb
        ));
    }
    let growth = match (points.first(), points.last()) {
        (Some(a), Some(b)) if points.len() > 1 => {
            let r = ratio(b.sync_median_ms, a.sync_median_ms);
            table.push(format!(
                "| §2 ratio {} vs {} docs | | {r}× | | target ≤ 1.5× |",
                b.documents_stored, a.documents_stored
            ));
            Some(r)
        }
        _ => None,
    };
    let reached = points.last().map(|p| p.documents_stored).unwrap_or(0);
    let wanted = args.counts.last().copied().unwrap_or(0);
    Ok(json!({
        "points": points, "ratio_largest_vs_smallest": growth,
        "counts_wanted": args.counts, "seed_budget_s": args.seed_budget_s,
        "bounded_by_seed_budget": reached < wanted,
    }))
}

fn run(cli: Cli) -> Result<()> {
    let common = cli.common.clone();
    if let Command::PhotoOnce { input, output } = &cli.command {
        return photo::once(input, output);
    }
    let load_start = procfs::load_average();
    let mut table = Vec::new();
    let mut results = json!({
        "date": chrono::Utc::now().to_rfc3339(),
        "machine": procfs::machine(),
        "commit": git_commit(),
    });
    let all = matches!(cli.command, Command::All);
    let sync_args = match &cli.command {
        Command::Sync(a) => Some(a.clone()),
        Command::All => Some(SyncArgs::parse_default()),
        _ => None,
    };
    let mut load_averages = vec![json!({"at": "start", "load_1min": load_start})];
    let mut note_load = |section: &str| {
        load_averages.push(json!({"after": section, "load_1min": procfs::load_average()}));
    };
    if all || matches!(cli.command, Command::Verdicts) {
        results["verdicts"] = verdict_section(&mut table)?;
        note_load("verdicts");
    }
    if let Some(args) = match &cli.command {
        Command::Photo(a) => Some(a.clone()),
        Command::All => Some(PhotoArgs { iterations: 9 }),
        _ => None,
    } {
        results["photo"] = photo_section(&args, &mut table)?;
        note_load("photo");
    }
    if let Some(args) = sync_args {
        results["sync"] = sync_section(&common, &args, &mut table)?;
        note_load("sync");
    }
    if let Some(args) = match &cli.command {
        Command::Load(a) => Some(a.clone()),
        Command::All => Some(LoadArgs {
            devices: vec![50, 200, 1000],
            pace_ms: 1000,
            seconds: 15,
            closed_loop: true,
            instances: 1,
        }),
        _ => None,
    } {
        results["load"] = load_section(&common, &args, &mut table)?;
        note_load("load");
    }
    if let Some(args) = match &cli.command {
        Command::Scale(a) => Some(a.clone()),
        Command::All => Some(ScaleArgs {
            counts: vec![1_000, 100_000, 1_000_000],
            syncs: 30,
            seed_budget_s: 420,
        }),
        _ => None,
    } {
        results["scale"] = scale_section(&common, &args, &mut table)?;
        note_load("scale");
    }
    if let Command::Uploads(args) = &cli.command {
        results["uploads"] = upload_section(args, &mut table)?;
        note_load("uploads");
    }
    results["load_average"] = json!(load_averages);
    println!("\n| section | side | figure | | | | | |\n|---|---|---|---|---|---|---|---|");
    for row in &table {
        println!("{row}");
    }
    println!(
        "load average (1 min): {}",
        load_averages
            .iter()
            .map(|l| l["load_1min"].to_string())
            .collect::<Vec<_>>()
            .join(" → ")
    );
    let out = common.out.unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("results")
            .join(format!(
                "{}.json",
                chrono::Utc::now().format("%Y-%m-%d-%H%M")
            ))
    });
    results["table"] = json!(table);
    std::fs::create_dir_all(out.parent().unwrap_or(&PathBuf::from(".")))?;
    std::fs::write(&out, serde_json::to_string_pretty(&results)? + "\n")?;
    println!("figures written to {}", out.display());
    Ok(())
}

impl SyncArgs {
    fn parse_default() -> SyncArgs {
        SyncArgs {
            devices: vec![50, 200],
            grids: 20,
            cases: 5,
            poll_ms: 200,
            timeout_s: 600,
            no_peer: false,
        }
    }
}

fn git_commit() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fieldloop-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn closed_loop(args: &[&str]) -> bool {
        let cli = Cli::try_parse_from(["fieldloop-bench", "load"].iter().chain(args)).unwrap();
        match cli.command {
            Command::Load(load) => load.closed_loop,
            _ => unreachable!("parsed a load command"),
        }
    }

    #[test]
    fn the_closed_loop_phase_is_on_by_default_and_can_be_turned_off() {
        assert!(closed_loop(&[]));
        assert!(!closed_loop(&["--closed-loop", "false"]));
        assert!(closed_loop(&["--closed-loop", "true"]));
    }
}
