//! CPU seconds and peak resident memory of a process, from /proc (Linux).

/// Clock ticks per second of /proc/<pid>/stat's times; 100 on every Linux this runs on.
const TICKS: f64 = 100.0;

/// User + system CPU seconds of `pid` (all its threads) so far.
pub fn cpu_seconds(pid: u32) -> f64 {
    stat_fields(&format!("/proc/{pid}/stat"))
        .map(|f| (f[13] + f[14]) as f64 / TICKS)
        .unwrap_or(0.0)
}

/// This process's own user + system CPU seconds.
pub fn own_cpu_seconds() -> f64 {
    cpu_seconds(std::process::id())
}

fn stat_fields(path: &str) -> Option<Vec<u64>> {
    let text = std::fs::read_to_string(path).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    // Field 3 (state) is a letter; keep positions aligned with proc(5) numbering - 1.
    let mut fields = vec![0, 0];
    fields.extend(
        rest.split_whitespace()
            .map(|f| f.parse::<u64>().unwrap_or(0)),
    );
    Some(fields)
}

/// The calling thread's CPU seconds so far (schedstat: nanoseconds on a CPU), fine-grained
/// where /proc's stat counts 10 ms ticks.
pub fn thread_cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0.0, |ns| ns as f64 / 1e9)
}

/// The whole machine's CPU time so far, in ticks: (busy, all). Busy leaves out idle and
/// I/O wait, so a share of it over a window says whether the cores were saturated.
pub fn machine_ticks() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<u64> = text
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let all: u64 = ticks.iter().sum();
    let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
    (all - idle, all)
}

/// The machine's busy share between two [`machine_ticks`] readings (0 when no tick passed).
pub fn busy_share(from: (u64, u64), to: (u64, u64)) -> f64 {
    let all = to.1.saturating_sub(from.1);
    if all == 0 {
        return 0.0;
    }
    to.0.saturating_sub(from.0) as f64 / all as f64
}

/// Peak resident set size (VmHWM) of `pid` in bytes.
pub fn peak_rss_bytes(pid: u32) -> u64 {
    status_kib(pid, "VmHWM:") * 1024
}

/// Resets `pid`'s peak RSS to its current RSS (clear_refs 5), so a peak measures a phase:
/// the setup's logins (argon2 with its memory cost, several at once) would otherwise set it.
pub fn reset_peak_rss(pid: u32) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

/// Current resident set size (VmRSS) of `pid` in bytes.
pub fn rss_bytes(pid: u32) -> u64 {
    status_kib(pid, "VmRSS:") * 1024
}

fn status_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// The 1-minute load average, to say how noisy a run was.
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or(0.0)
}

/// CPU model, core count and memory, for the results file.
pub fn machine() -> serde_json::Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: u64 = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    serde_json::json!({
        "cpu": model,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "memory_gib": (mem_kib as f64 / 1024.0 / 1024.0 * 10.0).round() / 10.0,
        "kernel": kernel.trim(),
    })
}

/// `perf record` (DWARF call graphs) attached to a process while a run is measured (`--perf DIR`).
/// With `FIELDLOOP_PERF_ALL=1` it records the whole machine instead, without call graphs:
/// each process's share of the CPU (devices, our server, PostgreSQL) in that phase, for
/// `perf report --sort comm`.
pub struct Perf(std::process::Child);

impl Perf {
    pub fn attach(pid: u32, output: &std::path::Path) -> Option<Perf> {
        let mut perf = std::process::Command::new("perf");
        if std::env::var_os("FIELDLOOP_PERF_ALL").is_some_and(|v| v == "1") {
            perf.args(["record", "-a", "-F", "999"]);
        } else {
            // DWARF unwinding: the release build keeps no frame pointers, so `-g` alone
            // gives every sample a broken one-frame stack.
            perf.args(["record", "--call-graph", "dwarf,16384", "-F", "499"])
                .args(["-p", &pid.to_string()]);
        }
        perf.arg("-o")
            .arg(output)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()
            .map(Perf)
    }

    /// Stops recording (SIGINT, so perf writes its file) and waits for it.
    pub fn finish(mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-INT", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_has_cpu_time_and_memory() {
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        assert!(x != 1);
        assert!(own_cpu_seconds() > 0.0);
        assert!(peak_rss_bytes(std::process::id()) > 1_000_000);
        assert!(rss_bytes(std::process::id()) <= peak_rss_bytes(std::process::id()));
    }
}
