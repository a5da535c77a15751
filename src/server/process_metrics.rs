//! The standard `process_*` metrics (the names Prometheus client libraries export, so existing
//! dashboards and alerts work): resident and virtual memory, CPU seconds, open and maximum file
//! descriptors, start time. Read from `/proc/self` at each scrape; on a system without `/proc`
//! the families are left out rather than reported as zero.

use std::fmt::Write as _;

/// What `/proc/self` says about this process.
#[derive(Debug, Default, PartialEq)]
pub struct Sample {
    pub cpu_seconds: f64,
    pub resident_bytes: u64,
    pub virtual_bytes: u64,
    pub open_fds: u64,
    pub max_fds: Option<u64>,
    pub start_time_seconds: f64,
}

/// Fields of `/proc/PID/stat` after the command name (which may hold spaces and parentheses,
/// so the split is at its last `)`): utime, stime (ticks), starttime (ticks after boot), vsize.
fn parse_stat(stat: &str) -> Option<(u64, u64, u64, u64)> {
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): field n is f[n - 3].
    let n = |i: usize| f.get(i - 3)?.parse::<u64>().ok();
    Some((n(14)?, n(15)?, n(22)?, n(23)?))
}

/// `VmRSS:   1234 kB` from `/proc/PID/status`, in bytes.
fn status_kb(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kb: u64 = line[key.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// The soft limit on open files from `/proc/PID/limits`.
fn max_open_files(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `btime` (boot time, Unix seconds) from `/proc/stat`.
fn boot_time(stat: &str) -> Option<u64> {
    stat.lines()
        .find_map(|l| l.strip_prefix("btime ")?.trim().parse().ok())
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions; it returns -1 for an unknown name.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// Reads this process's sample, or `None` where `/proc` is not there.
pub fn sample() -> Option<Sample> {
    let read = |p: &str| std::fs::read_to_string(p).ok();
    let (utime, stime, start, vsize) = parse_stat(&read("/proc/self/stat")?)?;
    let status = read("/proc/self/status")?;
    let ticks = clock_ticks();
    Some(Sample {
        cpu_seconds: (utime + stime) as f64 / ticks,
        resident_bytes: status_kb(&status, "VmRSS:")?,
        virtual_bytes: vsize,
        open_fds: std::fs::read_dir("/proc/self/fd").ok()?.count() as u64,
        max_fds: read("/proc/self/limits").as_deref().and_then(max_open_files),
        start_time_seconds: boot_time(&read("/proc/stat")?)? as f64 + start as f64 / ticks,
    })
}

/// The families in the text exposition format.
pub fn render(out: &mut String) {
    let Some(s) = sample() else { return };
    let mut family = |name: &str, kind: &str, help: &str, value: String| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
    };
    family(
        "process_cpu_seconds_total",
        "counter",
        "Total user and system CPU time spent in seconds.",
        format!("{}", s.cpu_seconds),
    );
    family(
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size in bytes.",
        s.resident_bytes.to_string(),
    );
    family(
        "process_virtual_memory_bytes",
        "gauge",
        "Virtual memory size in bytes.",
        s.virtual_bytes.to_string(),
    );
    family(
        "process_open_fds",
        "gauge",
        "Number of open file descriptors.",
        s.open_fds.to_string(),
    );
    if let Some(m) = s.max_fds {
        family(
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors.",
            m.to_string(),
        );
    }
    family(
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
        format!("{:.2}", s.start_time_seconds),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_last_parenthesis() {
        // A command name with a space and a `)` must not shift the fields.
        let stat = "4242 (quench (x) y) S 1 4242 4242 0 -1 4194304 100 0 0 0 \
                    250 50 0 0 20 0 9 0 123456 987654321 2000 18446744073709551615";
        assert_eq!(parse_stat(stat), Some((250, 50, 123456, 987654321)));
    }

    #[test]
    fn status_limits_and_btime() {
        assert_eq!(
            status_kb("Name:\tq\nVmRSS:\t    2048 kB\n", "VmRSS:"),
            Some(2048 * 1024)
        );
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 524288               files\n";
        assert_eq!(max_open_files(limits), Some(1024));
        assert_eq!(boot_time("cpu  1 2 3\nbtime 1700000000\n"), Some(1700000000));
    }

    #[test]
    fn this_process_has_a_sample() {
        let s = sample().expect("/proc on Linux");
        assert!(s.resident_bytes > 0 && s.open_fds >= 3, "{s:?}");
    }
}
